import { nanoid } from 'nanoid'
import * as z from 'zod'
import type {
  AllSessionsListener,
  ListenerErrorHandler,
  SessionTaskEmitter,
  SessionTaskEventType,
  SessionTaskListener,
} from '../../events/emitter.js'
import { type RawEvent, type SequencedEvent, SessionEventHub } from '../../events/hub.js'
import { TaskConflictError, TaskNotFoundError } from '../../model/errors.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  FunctionSchema,
  type ListMessagesOptions,
  ListMessagesOptionsSchema,
  type ListStaleOptions,
  ListStaleOptionsSchema,
  type NewTaskMessage,
  type PruneOptions,
  PruneOptionsSchema,
  SessionIdSchema,
  type SessionTask,
  type SessionTaskFilter,
  SessionTaskFilterSchema,
  type SessionTaskUpdate,
  StreamOptionsSchema,
  type TaskMessage,
  type TaskOutput,
  TaskOutputSchema,
} from '../../model/schemas.js'
import { parseInput } from '../../model/validate.js'
import type { SessionTaskRegistry, TaskUpdateResult } from '../../registry/registry.js'
import { newSessionTask } from '../../rules/create.js'
import { applyTaskUpdateResult } from '../../rules/lifecycle.js'
import {
  answersInputRequest,
  newTaskMessage,
  parseNewTaskMessage,
  parseTaskRef,
  parseTaskUpdate,
  withCancelRequested,
} from '../../rules/operations.js'
import { toPublicTask } from '../../rules/projection.js'
import { cloneMessage, cloneTask } from '../../rules/snapshot.js'
import { wakeForMessage, wakeForUpdate } from '../../rules/wake.js'
import type { StreamItem, StreamOptions } from '../../stream/stream.js'
import { createSessionStream, type StreamStart } from '../../stream/stream.js'
import { DEFAULT_TABLE_PREFIX, type TableNames, tableNames } from './migrations.js'
import type { SqlClient, SqlTx } from './sql-client.js'

/** Options of {@link PostgresSessionTaskRegistry}. */
export type PostgresSessionTaskRegistryOptions = {
  /** The database, through `fromPgPool(pool)` or `fromPGlite(db)`; run `migrate` on it first. */
  client: SqlClient
  /**
   * The clock that stamps records, messages and wakes.
   * @default () => new Date()
   */
  now?: (() => Date) | undefined
  /**
   * Receives errors thrown by event listeners; the operation never fails.
   * @default logs with console.error
   */
  onListenerError?: ListenerErrorHandler | undefined
  /**
   * How many recent events of each session `stream({ since })` can replay.
   * @default 1000
   */
  replayBuffer?: number | undefined
  /**
   * The NOTIFY channel that tells other processes about new events.
   * @default 'session_tasks'
   */
  channel?: string | undefined
  /**
   * Table name prefix; must match the one given to `migrate`.
   * @default 'session_tasks_'
   */
  prefix?: string | undefined
  /**
   * Receives failures that have no caller to go to: a notification that
   * could not be processed, a LISTEN connection that dropped.
   * @default logs with console.error
   */
  onError?: ((error: unknown) => void) | undefined
}

const DEFAULT_SCAN_LIMIT = 100
const DEFAULT_REPLAY_BUFFER = 1000
// Events stay stored at least this long (per session) even with a smaller
// replay buffer: other processes read them from the table when notified.
const MIN_RETAINED_EVENTS = 1000
// Remembered deleted (session, epoch) pairs, so a late delivery of a deleted
// session's events does not bring it back.
const TOMBSTONES = 1024
const RETRIES = 5

const SqlClientSchema = z.custom<SqlClient>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as SqlClient).query === 'function' &&
    typeof (v as SqlClient).transaction === 'function' &&
    typeof (v as SqlClient).listen === 'function',
  'must be a SqlClient (use fromPgPool or fromPGlite)',
)

const OptionsSchema = z.strictObject({
  client: SqlClientSchema,
  now: FunctionSchema.optional(),
  onListenerError: FunctionSchema.optional(),
  replayBuffer: z.int('must be an integer').min(0, 'must not be negative').optional(),
  channel: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and _')
    .optional(),
  prefix: z
    .string()
    .regex(/^([a-z_][a-z0-9_]{0,39})?$/, 'must be up to 40 characters of a-z, 0-9 and _')
    .optional(),
  onError: FunctionSchema.optional(),
})

/** Where this process is in one session's event sequence. */
type Cursor = {
  /** Identifies one life of the session's counter (it restarts after deleteSession); '' = unknown. */
  epoch: string
  /** The last seq delivered to (or deliberately skipped by) the local hub. */
  seq: number
}

/** What one write transaction wants to store and announce. */
type Batch = {
  /** A new task to insert (ON CONFLICT DO NOTHING); events are stored only when it was inserted. */
  insert: SessionTask | undefined
  /** A changed task record to store. */
  task: SessionTask | undefined
  message: TaskMessage | undefined
  events: RawEvent[]
  /** Set once stored: the session's epoch and the first allocated seq. */
  epoch: string
  first: number
  flushed: boolean
}

type Notice = { o: string; s: string; e: string; f?: number; q?: number; d?: number }

const terminalStates = `('succeeded', 'failed', 'canceled')`

function taskIdOf(event: RawEvent): string {
  switch (event.type) {
    case 'task.created':
    case 'task.updated':
      return event.data.id
    default:
      return event.data.taskId
  }
}

function hasSecrets(task: SessionTask): boolean {
  const spec = task.spec
  return (
    typeof spec === 'object' &&
    spec !== null &&
    !Array.isArray(spec) &&
    Array.isArray((spec as { push_configs?: unknown }).push_configs)
  )
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  // serialization_failure, deadlock_detected
  return code === '40001' || code === '40P01'
}

const parseTask = (text: string): SessionTask => JSON.parse(text) as SessionTask
const parseMessage = (text: string): TaskMessage => JSON.parse(text) as TaskMessage

const defaultOnError = (error: unknown) => {
  console.error('session-tasks: PostgreSQL registry background failure', error)
}

/**
 * A {@link SessionTaskRegistry} stored in PostgreSQL (node-postgres or PGlite).
 * Every write is one transaction that locks the task row, applies the
 * lifecycle rules and numbers its events under the session's counter row, so
 * several processes can share one database. Events reach this process's
 * listeners right after the commit (before the method resolves) and other
 * processes' listeners through LISTEN/NOTIFY once they call `start()`.
 */
export class PostgresSessionTaskRegistry implements SessionTaskRegistry {
  private readonly client: SqlClient
  private readonly hub: SessionEventHub
  private readonly clock: () => Date
  private readonly t: TableNames
  private readonly channel: string
  private readonly replayBuffer: number
  private readonly retain: number
  private readonly reportError: (error: unknown) => void
  private readonly origin = nanoid(12)
  private epochCounter = 0
  private readonly cursors = new Map<string, Cursor>()
  private readonly watched = new Set<string>()
  private readonly tombstones = new Set<string>()
  private readonly pulls = new Map<string, { epoch: string; first: number; last: number }>()
  private globalListeners = 0
  private listening: Promise<() => Promise<void>> | undefined
  private readonly sql: ReturnType<typeof statements>

  constructor(options: PostgresSessionTaskRegistryOptions) {
    const o = parseInput(OptionsSchema, options, 'PostgreSQL registry options')
    this.client = o.client
    this.clock = (o.now as (() => Date) | undefined) ?? (() => new Date())
    this.replayBuffer = o.replayBuffer ?? DEFAULT_REPLAY_BUFFER
    this.retain = Math.max(this.replayBuffer, MIN_RETAINED_EVENTS)
    this.channel = o.channel ?? 'session_tasks'
    this.t = tableNames(o.prefix ?? DEFAULT_TABLE_PREFIX)
    this.sql = statements(this.t)
    this.reportError = (o.onError as ((error: unknown) => void) | undefined) ?? defaultOnError
    // Replays are served from the events table, so the hub buffers nothing.
    this.hub = new SessionEventHub({
      onListenerError: o.onListenerError as ListenerErrorHandler | undefined,
      replayBuffer: 0,
    })
  }

  /**
   * Starts listening for other processes' events (LISTEN). Until then only
   * this process's own writes reach its listeners. Idempotent.
   */
  async start(): Promise<void> {
    this.listening ??= this.client.listen(this.channel, (payload) => this.onNotify(payload), {
      onError: this.reportError,
      onReconnect: () => {
        this.resync().catch(this.reportError)
      },
    })
    try {
      await this.listening
    } catch (error) {
      this.listening = undefined
      throw error
    }
  }

  /** Stops listening (UNLISTEN). Stored data, listeners and the client stay as they are. */
  async close(): Promise<void> {
    const listening = this.listening
    this.listening = undefined
    if (listening === undefined) return
    const stop = await listening.catch(() => undefined)
    await stop?.()
  }

  /** The registry's clock. */
  now(): Date {
    return this.clock()
  }

  private ids(sessionId: unknown, taskId: unknown): [string, string] {
    return parseTaskRef(sessionId, taskId)
  }

  /** Counts of what this process tracks in memory, for leak checks and metrics. */
  stats(): { trackedSessions: number; watchedSessions: number; eventSessions: number } {
    return {
      trackedSessions: this.cursors.size,
      watchedSessions: this.watched.size,
      eventSessions: this.hub.sessionCount,
    }
  }

  // ------------------------------------------------------------------ writes

  /**
   * Runs one write transaction: `body` reads and decides, the batch it fills
   * is stored with its events in one more statement, and after COMMIT the
   * events are delivered to this process's listeners, in seq order.
   */
  private async write<R>(
    sessionId: string,
    body: (tx: SqlTx, batch: Batch) => Promise<R>,
  ): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      const batch: Batch = {
        insert: undefined,
        task: undefined,
        message: undefined,
        events: [],
        epoch: '',
        first: 0,
        flushed: false,
      }
      let result: R
      try {
        result = await this.client.transaction(async (tx) => {
          const value = await body(tx, batch)
          if (!batch.flushed && batch.events.length > 0) await this.flush(tx, sessionId, batch)
          return value
        })
      } catch (error) {
        if (attempt < RETRIES && isRetryable(error)) continue
        throw error
      }
      if (batch.flushed) {
        await this.deliver(sessionId, batch.epoch, batch.first, batch.events)
      }
      return result
    }
  }

  /** Stores the batch and its events in one statement; false when its insert found the id taken. */
  private async flush(tx: SqlTx, sessionId: string, batch: Batch): Promise<boolean> {
    const params: unknown[] = [sessionId, batch.events.length]
    const p = (value: unknown) => {
      params.push(value)
      return `$${params.length}`
    }
    const { tasks, messages, sessions, events } = this.t
    const ctes: string[] = []
    let from = ''
    if (batch.insert !== undefined) {
      const task = batch.insert
      ctes.push(
        `i AS (INSERT INTO ${tasks} (id, session_id, state, record, finished_at, created_at) VALUES (${p(task.id)}, $1, ${p(task.state)}, ${p(JSON.stringify(task))}::json, ${p(task.finishedAt ?? null)}, ${p(task.createdAt)}) ON CONFLICT (id) DO NOTHING RETURNING 1)`,
      )
      from = ' FROM i'
    }
    if (batch.task !== undefined) {
      const task = batch.task
      ctes.push(
        `u AS (UPDATE ${tasks} SET record = ${p(JSON.stringify(task))}::json, state = ${p(task.state)}, heartbeat_at = ${p(task.heartbeatAt ?? null)}, finished_at = ${p(task.finishedAt ?? null)} WHERE id = ${p(task.id)})`,
      )
    }
    if (batch.message !== undefined) {
      const m = batch.message
      ctes.push(
        `m AS (INSERT INTO ${messages} (id, task_id, record, created_at) VALUES (${p(m.id)}, ${p(m.taskId)}, ${p(JSON.stringify(m))}::json, ${p(m.createdAt)}))`,
      )
    }
    ctes.push(
      `s AS (INSERT INTO ${sessions} AS x (session_id, seq, epoch) SELECT $1, $2, ${p(`${this.origin}.${++this.epochCounter}`)}${from} ON CONFLICT (session_id) DO UPDATE SET seq = x.seq + EXCLUDED.seq RETURNING x.seq, x.epoch)`,
    )
    const rows = batch.events.map((event, i) => {
      const payload =
        event.type === 'task.created' || event.type === 'task.updated'
          ? JSON.stringify(hasSecrets(event.data) ? toPublicTask(event.data) : event.data)
          : JSON.stringify(event.data)
      return `(${i + 1}, ${p(taskIdOf(event))}, ${p(event.type)}, ${p(payload)}::json)`
    })
    ctes.push(
      `e AS (INSERT INTO ${events} (session_id, seq, task_id, type, payload) SELECT $1, s.seq - $2 + v.i, v.t, v.y, v.p FROM s, (VALUES ${rows.join(', ')}) AS v(i, t, y, p))`,
    )
    ctes.push(
      `d AS (DELETE FROM ${events} WHERE session_id = $1 AND seq <= (SELECT seq FROM s) - ${p(this.retain)})`,
    )
    const text = `WITH ${ctes.join(', ')} SELECT s.seq, s.epoch, pg_notify(${p(this.channel)}, json_build_object('o', ${p(this.origin)}::text, 's', $1::text, 'e', s.epoch, 'f', s.seq - $2 + 1, 'q', s.seq)::text) AS n FROM s`
    const { rows: result } = await tx.query<{ seq: unknown; epoch: string }>(text, params)
    const row = result[0]
    if (row === undefined) return false
    batch.flushed = true
    batch.epoch = row.epoch
    batch.first = Number(row.seq) - batch.events.length + 1
    // Still inside the transaction: the session row is locked, so allocations
    // reach this point in seq order. A session this process has not seen yet
    // starts here.
    this.noteAllocation(sessionId, batch.epoch, batch.first)
    return true
  }

  private async lock(
    tx: SqlTx,
    sessionId: string,
    taskId: string,
  ): Promise<SessionTask | undefined> {
    const { rows } = await tx.query<{ record: string }>(this.sql.lock, [taskId, sessionId])
    const row = rows[0]
    return row === undefined ? undefined : parseTask(row.record)
  }

  /** Inserts a task; a caller id already in this session returns the stored record unchanged. */
  async create(input: CreateSessionTask): Promise<SessionTask> {
    const parsed = parseInput(CreateSessionTaskSchema, input, 'CreateSessionTask')
    return this.write(parsed.sessionId, async (tx, batch) => {
      for (;;) {
        const task = newSessionTask(parsed, this.clock())
        // One statement inserts the row and, only if it was inserted, its event.
        batch.insert = task
        batch.events = [{ type: 'task.created', data: task }]
        if (await this.flush(tx, parsed.sessionId, batch)) return cloneTask(task)
        batch.insert = undefined
        batch.events = []
        // A generated id colliding is ~2^-126: draw another.
        if (parsed.id === undefined) continue
        const existing = await tx.query<{ session_id: string; record: string }>(
          this.sql.getAnySession,
          [parsed.id],
        )
        const row = existing.rows[0]
        // Deleted since the insert saw it: try again.
        if (row === undefined) continue
        if (row.session_id === parsed.sessionId) return parseTask(row.record)
        throw new TaskConflictError(`task id '${parsed.id}' is already used by another session`)
      }
    })
  }

  /** Applies an update under the lifecycle rules; emits only when the record changed. */
  async update(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<SessionTask | undefined> {
    return (await this.applyUpdate(sessionId, taskId, update))?.task
  }

  /** Like `update`, and also reports whether the update was applied and changed the record. */
  async updateWithOutcome(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<TaskUpdateResult | undefined> {
    return this.applyUpdate(sessionId, taskId, update)
  }

  private async applyUpdate(
    sessionId: unknown,
    taskId: unknown,
    update: unknown,
  ): Promise<TaskUpdateResult | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseTaskUpdate(update)
    return this.write(sid, async (tx, batch) => {
      const before = await this.lock(tx, sid, tid)
      if (before === undefined) return undefined
      const result = this.commit(batch, before, parsed)
      return result.changed ? { ...result, task: cloneTask(result.task) } : result
    })
  }

  // Compute and stage: the record event first, then any wake.
  private commit(batch: Batch, before: SessionTask, update: SessionTaskUpdate): TaskUpdateResult {
    const now = this.clock()
    const outcome = applyTaskUpdateResult(before, update, now)
    if (outcome.dropped !== undefined) return { task: before, applied: false, changed: false }
    if (!outcome.changed) return { task: before, applied: true, changed: false }
    const after = outcome.task
    batch.task = after
    batch.events.push({ type: 'task.updated', data: after })
    const wake = wakeForUpdate(before, after, update, now)
    if (wake !== undefined) batch.events.push({ type: 'task.wake', data: wake })
    return { task: after, applied: true, changed: true }
  }

  /** Reads one task of a session. */
  async get(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const { rows } = await this.client.query<{ record: string }>(this.sql.get, [tid, sid])
    const row = rows[0]
    return row === undefined ? undefined : parseTask(row.record)
  }

  /** Lists a session's tasks, oldest first (createdAt, then insertion order). */
  async list(sessionId: string, filter?: SessionTaskFilter): Promise<SessionTask[]> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const f =
      filter === undefined ? {} : parseInput(SessionTaskFilterSchema, filter, 'SessionTaskFilter')
    const { rows } =
      f.state === undefined
        ? await this.client.query<{ record: string }>(this.sql.list, [sid])
        : await this.client.query<{ record: string }>(this.sql.listByState, [sid, f.state])
    const tasks = rows.map((row) => parseTask(row.record))
    // Kinds may hold any character (NUL included), so they are compared here, not in SQL.
    return f.kind === undefined ? tasks : tasks.filter((task) => task.kind === f.kind)
  }

  /** Stamps `cancelRequestedAt` once; never changes the state. */
  async requestCancel(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    return this.write(sid, async (tx, batch) => {
      const before = await this.lock(tx, sid, tid)
      if (before === undefined) return undefined
      const after = withCancelRequested(before, this.clock())
      if (after === undefined) return before
      batch.task = after
      batch.events.push({ type: 'task.updated', data: after })
      return cloneTask(after)
    })
  }

  /** Stores a message; an inbound answer to the pending input request resumes the task. */
  async recordMessage(
    sessionId: string,
    taskId: string,
    message: NewTaskMessage,
  ): Promise<TaskMessage> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseNewTaskMessage(message)
    return this.write(sid, async (tx, batch) => {
      const task = await this.lock(tx, sid, tid)
      if (task === undefined)
        throw new TaskNotFoundError(`task '${tid}' not found in session '${sid}'`)
      const now = this.clock()
      const stored = newTaskMessage(task, parsed, now)
      batch.message = stored
      const inbound = stored.direction === 'inbound'
      batch.events.push({
        type: inbound ? 'task.message.sent' : 'task.message.received',
        data: stored,
      })
      if (answersInputRequest(task, stored)) {
        this.commit(batch, task, { state: 'running' })
      } else if (!inbound) {
        const wake = wakeForMessage(task, stored, now)
        if (wake !== undefined) batch.events.push({ type: 'task.wake', data: wake })
      }
      return cloneMessage(stored)
    })
  }

  /** Reads messages oldest first: the newest `limit`, or the first `limit` after `afterId`. */
  async listMessages(
    sessionId: string,
    taskId: string,
    options?: ListMessagesOptions,
  ): Promise<TaskMessage[]> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o =
      options === undefined
        ? {}
        : parseInput(ListMessagesOptionsSchema, options, 'ListMessagesOptions')
    const limit = o.limit ?? null
    if (o.afterId !== undefined) {
      const { rows } = await this.client.query<{ record: string }>(this.sql.messagesAfter, [
        tid,
        sid,
        o.afterId,
        limit,
      ])
      return rows.map((row) => parseMessage(row.record))
    }
    const { rows } = await this.client.query<{ record: string }>(this.sql.messagesNewest, [
      tid,
      sid,
      limit,
    ])
    return rows.map((row) => parseMessage(row.record)).reverse()
  }

  /** Emits a `task.output` chunk; false (and silent) for an unknown, foreign or stale task. */
  async publishOutput(sessionId: string, taskId: string, output: TaskOutput): Promise<boolean> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o = parseInput(TaskOutputSchema, output, 'TaskOutput')
    return this.write(sid, async (tx, batch) => {
      // FOR SHARE: a concurrent attempt bump waits, so a fenced chunk is never
      // numbered after the write that made it stale.
      const { rows } = await tx.query<{ record: string }>(this.sql.share, [tid, sid])
      const row = rows[0]
      if (row === undefined) return false
      const task = parseTask(row.record)
      if (o.expectedAttempt !== undefined && o.expectedAttempt !== task.attempt) return false
      batch.events.push({
        type: 'task.output',
        data: { taskId: tid, stream: o.stream, delta: o.delta },
      })
      return true
    })
  }

  // ------------------------------------------------------------------ listeners

  private watch(sessionId: string): void {
    this.watched.add(sessionId)
  }

  private interested(sessionId: string): boolean {
    return this.globalListeners > 0 || this.watched.has(sessionId)
  }

  /** The session's mitt emitter (created on first use). */
  events(sessionId: string): SessionTaskEmitter {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    this.watch(sid)
    return this.hub.emitter(sid)
  }

  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: SessionTaskListener): () => void {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    parseInput(FunctionSchema, listener, 'listener')
    this.watch(sid)
    return this.hub.subscribe(sid, listener)
  }

  /** Listens to every session's events; returns the unsubscribe function. */
  subscribeAll(listener: AllSessionsListener): () => void {
    parseInput(FunctionSchema, listener, 'listener')
    const off = this.hub.subscribeAll(listener)
    this.globalListeners++
    let active = true
    return () => {
      if (!active) return
      active = false
      this.globalListeners--
      off()
    }
  }

  /** Runs `hook` after a session is deleted (here or, once started, in another process). */
  onSessionDeleted(hook: (sessionId: string) => void): () => void {
    parseInput(FunctionSchema, hook, 'hook')
    return this.hub.onSessionDeleted(hook)
  }

  // ------------------------------------------------------------------ delivery

  private tombstoned(sessionId: string, epoch: string): boolean {
    return epoch !== '' && this.tombstones.has(`${epoch}\u0000${sessionId}`)
  }

  /** Forgets a session locally: hub state, listeners, cursor; runs the deletion hooks. */
  private reset(sessionId: string, epoch: string | undefined): void {
    const dead = epoch ?? this.cursors.get(sessionId)?.epoch
    if (dead !== undefined && dead !== '') {
      this.tombstones.add(`${dead}\u0000${sessionId}`)
      if (this.tombstones.size > TOMBSTONES) {
        const oldest = this.tombstones.values().next().value as string
        this.tombstones.delete(oldest)
      }
    }
    this.cursors.delete(sessionId)
    this.watched.delete(sessionId)
    this.hub.deleteSession(sessionId)
  }

  /** The cursor for a session in `epoch`, starting one at `first - 1` when there is none. */
  private cursor(sessionId: string, epoch: string, first: number): Cursor | undefined {
    if (this.tombstoned(sessionId, epoch)) return undefined
    let cursor = this.cursors.get(sessionId)
    if (cursor !== undefined && cursor.epoch !== epoch) {
      if (cursor.epoch === '') {
        cursor.epoch = epoch
      } else {
        // Deleted and recreated meanwhile (possibly by another process).
        this.reset(sessionId, cursor.epoch)
        cursor = undefined
      }
    }
    if (cursor === undefined) {
      cursor = { epoch, seq: first - 1 }
      this.cursors.set(sessionId, cursor)
    }
    return cursor
  }

  private noteAllocation(sessionId: string, epoch: string, first: number): void {
    this.cursor(sessionId, epoch, first)
  }

  /**
   * Delivers the session's events up to the last of `local` (seqs from
   * `first`), or up to `last` when only notified: missing earlier events are
   * read from the events table first, so listeners see seq order.
   */
  private async deliver(
    sessionId: string,
    epoch: string,
    first: number,
    local: RawEvent[] | undefined,
    last = first + (local?.length ?? 0) - 1,
  ): Promise<void> {
    let cursor = this.cursor(sessionId, epoch, first)
    if (cursor === undefined || last <= cursor.seq) return
    const inHand = local === undefined ? last + 1 : first
    if (cursor.seq + 1 < inHand) {
      let missing: SequencedEvent[] = []
      try {
        missing = await this.readEvents(sessionId, epoch, cursor.seq + 1, inHand - 1)
      } catch (error) {
        // The write itself committed; its own events still go out below.
        this.reportError(error)
      }
      cursor = this.cursors.get(sessionId)
      if (cursor === undefined || cursor.epoch !== epoch) {
        if (local === undefined) return
        cursor = this.cursor(sessionId, epoch, first)
        if (cursor === undefined) return
      }
      for (const event of missing) this.emit(sessionId, cursor, event.seq, event)
    }
    if (local !== undefined) {
      for (let i = 0; i < local.length; i++) {
        this.emit(sessionId, cursor, first + i, local[i] as RawEvent)
      }
    }
  }

  private emit(sessionId: string, cursor: Cursor, seq: number, event: RawEvent): void {
    if (this.cursors.get(sessionId) !== cursor || seq <= cursor.seq) return
    cursor.seq = seq
    this.hub.emit(sessionId, { type: event.type, data: event.data } as RawEvent, seq)
  }

  private async readEvents(
    sessionId: string,
    epoch: string,
    from: number,
    to: number,
  ): Promise<SequencedEvent[]> {
    const { rows } = await this.client.query<{ seq: unknown; type: string; payload: string }>(
      this.sql.events,
      [sessionId, epoch, from, to],
    )
    return rows.map(
      (row) =>
        ({
          type: row.type as SessionTaskEventType,
          data: JSON.parse(row.payload),
          seq: Number(row.seq),
        }) as SequencedEvent,
    )
  }

  private onNotify(payload: string): void {
    if (this.listening === undefined) return
    let notice: Notice
    try {
      notice = JSON.parse(payload) as Notice
    } catch (error) {
      this.reportError(error)
      return
    }
    if (typeof notice !== 'object' || notice === null || typeof notice.s !== 'string') return
    if (notice.o === this.origin) return
    const sessionId = notice.s
    const epoch = typeof notice.e === 'string' ? notice.e : ''
    if (notice.d === 1) {
      const cursor = this.cursors.get(sessionId)
      // Already moved on to a newer life of the session: nothing to drop.
      if (cursor !== undefined && cursor.epoch !== '' && cursor.epoch !== epoch) return
      this.reset(sessionId, epoch)
      return
    }
    const first = notice.f
    const last = notice.q
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return
    if (!this.interested(sessionId)) {
      // Nobody here listens: only keep a known cursor current, read nothing.
      const cursor = this.cursors.get(sessionId)
      if (cursor === undefined) return
      if (cursor.epoch !== epoch && cursor.epoch !== '') this.reset(sessionId, cursor.epoch)
      else cursor.seq = Math.max(cursor.seq, last as number)
      return
    }
    this.pull(sessionId, epoch, first as number, last as number)
  }

  /**
   * Reads a notified range from the events table and delivers it. Notices
   * that arrive while a read for the session is running only raise its
   * target, so a burst costs a few reads, not one per notice.
   */
  private pull(sessionId: string, epoch: string, first: number, last: number): void {
    const running = this.pulls.get(sessionId)
    if (running !== undefined && running.epoch === epoch) {
      running.last = Math.max(running.last, last)
      return
    }
    const state = { epoch, first, last }
    this.pulls.set(sessionId, state)
    const run = async () => {
      try {
        for (;;) {
          const target = state.last
          await this.deliver(sessionId, state.epoch, state.first, undefined, target)
          if (state.last === target) return
        }
      } finally {
        if (this.pulls.get(sessionId) === state) this.pulls.delete(sessionId)
      }
    }
    run().catch(this.reportError)
  }

  // After a LISTEN connection came back: catch up on the sessions listened to.
  private async resync(): Promise<void> {
    for (const [sessionId, cursor] of [...this.cursors]) {
      if (!this.interested(sessionId)) continue
      const { rows } = await this.client.query<{ seq: unknown; epoch: string }>(
        this.sql.sessionHead,
        [sessionId],
      )
      const head = rows[0]
      if (head === undefined || (cursor.epoch !== '' && head.epoch !== cursor.epoch)) {
        this.reset(sessionId, cursor.epoch)
        continue
      }
      await this.deliver(sessionId, head.epoch, cursor.seq + 1, undefined, Number(head.seq))
    }
  }

  // ------------------------------------------------------------------ streams

  /** A replayable stream of one session's events: a snapshot (or a replay from `since`), then live events. */
  stream(sessionId: string, options?: StreamOptions): AsyncIterable<StreamItem> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const o = options === undefined ? {} : parseInput(StreamOptionsSchema, options, 'StreamOptions')
    this.watch(sid)
    let epoch = ''
    return createSessionStream(
      this.hub,
      sid,
      {
        start: async (since) => {
          const begin = await this.streamStart(sid, since)
          epoch = begin.epoch
          return begin.start
        },
        events: (from, to) => this.readEvents(sid, epoch, from, to),
      },
      o,
    )
  }

  // One consistent view (REPEATABLE READ): the counter, then the events after
  // `since` when they are all still there, else the task list.
  private async streamStart(
    sessionId: string,
    since: number | undefined,
  ): Promise<{ epoch: string; start: StreamStart }> {
    return this.client.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      const head = (
        await tx.query<{ seq: unknown; epoch: string }>(this.sql.sessionHead, [sessionId])
      ).rows[0]
      const last = head === undefined ? 0 : Number(head.seq)
      const epoch = head?.epoch ?? ''
      if (since !== undefined && since <= last && last - since <= this.replayBuffer) {
        const { rows } = await tx.query<{ seq: unknown; type: string; payload: string }>(
          this.sql.replay,
          [sessionId, since, last],
        )
        if (rows.length === last - since) {
          const events = rows.map(
            (row) =>
              ({
                type: row.type as SessionTaskEventType,
                data: JSON.parse(row.payload),
                seq: Number(row.seq),
              }) as SequencedEvent,
          )
          return { epoch, start: { kind: 'replay', seq: last, events } }
        }
      }
      const { rows } = await tx.query<{ record: string }>(this.sql.list, [sessionId])
      return {
        epoch,
        start: {
          kind: 'snapshot',
          seq: last,
          tasks: rows.map((row) => toPublicTask(parseTask(row.record))),
        },
      }
    })
  }

  // ------------------------------------------------------------------ housekeeping

  /** Queued or running tasks of every session whose heartbeat is older than the cutoff, oldest heartbeat first. */
  async listStale(options: ListStaleOptions): Promise<SessionTask[]> {
    const o = parseInput(ListStaleOptionsSchema, options, 'ListStaleOptions')
    const { rows } = await this.client.query<{ record: string }>(this.sql.stale, [
      o.heartbeatBefore.toISOString(),
      o.limit ?? DEFAULT_SCAN_LIMIT,
    ])
    return rows.map((row) => parseTask(row.record))
  }

  /** Deletes terminal tasks finished before the cutoff (oldest first) with their messages; returns them. */
  async prune(options: PruneOptions): Promise<SessionTask[]> {
    const o = parseInput(PruneOptionsSchema, options, 'PruneOptions')
    const cutoff = o.finishedBefore.toISOString()
    const limit = o.limit ?? DEFAULT_SCAN_LIMIT
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.transaction(async (tx) => {
          const { rows } = await tx.query<{ session_id: string; id: string; record: string }>(
            this.sql.prune,
            [cutoff, limit],
          )
          if (rows.length === 0) return []
          // Their events go too (a replay from before them falls back to a
          // snapshot). Session rows first, in one order: writers trim events
          // under that lock.
          const sessionIds = [...new Set(rows.map((row) => row.session_id))].sort()
          await tx.query(this.sql.lockSessions, [JSON.stringify(sessionIds)])
          await tx.query(this.sql.deleteTaskEvents, [JSON.stringify(rows.map((row) => row.id))])
          return rows.map((row) => parseTask(row.record))
        })
      } catch (error) {
        if (attempt < RETRIES && isRetryable(error)) continue
        throw error
      }
    }
  }

  /** Drops a session's tasks, messages, events, emitter and listeners; emits nothing. */
  async deleteSession(sessionId: string): Promise<number> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    let epoch = ''
    let removed = 0
    for (let attempt = 1; ; attempt++) {
      try {
        removed = await this.client.transaction(async (tx) => {
          const first = await tx.query<{ n: unknown }>(this.sql.deleteSessionTasks, [sid])
          const head = await tx.query<{ epoch: string }>(this.sql.deleteSessionRow, [sid])
          // Tasks created while this waited for the session row: gone too.
          const second = await tx.query<{ n: unknown }>(this.sql.deleteSessionTasks, [sid])
          await tx.query(this.sql.deleteSessionEvents, [sid])
          epoch = head.rows[0]?.epoch ?? ''
          await tx.query('SELECT pg_notify($1, $2)', [
            this.channel,
            JSON.stringify({ o: this.origin, s: sid, e: epoch, d: 1 }),
          ])
          return Number(first.rows[0]?.n ?? 0) + Number(second.rows[0]?.n ?? 0)
        })
        break
      } catch (error) {
        if (attempt < RETRIES && isRetryable(error)) continue
        throw error
      }
    }
    this.reset(sid, epoch === '' ? undefined : epoch)
    return removed
  }
}

function statements(t: TableNames) {
  const { tasks, messages, sessions, events } = t
  const order = 'created_at, ord'
  return {
    lock: `SELECT record::text AS record FROM ${tasks} WHERE id = $1 AND session_id = $2 FOR UPDATE`,
    share: `SELECT record::text AS record FROM ${tasks} WHERE id = $1 AND session_id = $2 FOR SHARE`,
    get: `SELECT record::text AS record FROM ${tasks} WHERE id = $1 AND session_id = $2`,
    getAnySession: `SELECT session_id, record::text AS record FROM ${tasks} WHERE id = $1`,
    list: `SELECT record::text AS record FROM ${tasks} WHERE session_id = $1 ORDER BY ${order}`,
    listByState: `SELECT record::text AS record FROM ${tasks} WHERE session_id = $1 AND state = $2 ORDER BY ${order}`,
    messagesNewest: `SELECT m.record::text AS record FROM ${messages} m WHERE m.task_id = $1 AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = $1 AND t.session_id = $2) ORDER BY m.created_at DESC, m.ord DESC LIMIT $3`,
    messagesAfter: `SELECT m.record::text AS record FROM ${messages} m, ${messages} c WHERE c.id = $3 AND c.task_id = $1 AND m.task_id = $1 AND (m.created_at, m.ord) > (c.created_at, c.ord) AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = $1 AND t.session_id = $2) ORDER BY m.created_at, m.ord LIMIT $4`,
    sessionHead: `SELECT seq, epoch FROM ${sessions} WHERE session_id = $1`,
    events: `SELECT e.seq, e.type, e.payload::text AS payload FROM ${events} e JOIN ${sessions} x ON x.session_id = e.session_id WHERE e.session_id = $1 AND ($2 = '' OR x.epoch = $2) AND e.seq >= $3 AND e.seq <= $4 ORDER BY e.seq`,
    replay: `SELECT seq, type, payload::text AS payload FROM ${events} WHERE session_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
    stale: `SELECT record::text AS record FROM ${tasks} WHERE state IN ('queued', 'running') AND heartbeat_at IS NOT NULL AND heartbeat_at < $1 ORDER BY heartbeat_at, created_at, ord LIMIT $2`,
    prune: `WITH doomed AS (SELECT id FROM ${tasks} WHERE state IN ${terminalStates} AND finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at, created_at, ord LIMIT $2 FOR UPDATE SKIP LOCKED), gone AS (DELETE FROM ${tasks} t USING doomed WHERE t.id = doomed.id RETURNING t.session_id, t.id, t.record, t.finished_at, t.created_at, t.ord) SELECT session_id, id, record::text AS record FROM gone ORDER BY finished_at, created_at, ord`,
    lockSessions: `SELECT 1 FROM ${sessions} WHERE session_id IN (SELECT json_array_elements_text($1::json)) ORDER BY session_id FOR UPDATE`,
    deleteTaskEvents: `DELETE FROM ${events} WHERE task_id IN (SELECT json_array_elements_text($1::json))`,
    deleteSessionTasks: `WITH gone AS (DELETE FROM ${tasks} WHERE session_id = $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
    deleteSessionRow: `DELETE FROM ${sessions} WHERE session_id = $1 RETURNING epoch`,
    deleteSessionEvents: `DELETE FROM ${events} WHERE session_id = $1`,
  }
}
