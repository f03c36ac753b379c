import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import { generateProcessId } from '../../model/ids.js'
import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskState } from '../../model/state.js'
import type {
  RunningCounts,
  SessionTaskStore,
  StoreEventSink,
  StoreInsert,
  StoreMessageQuery,
  StoreSnapshot,
  TaskDecision,
  TaskWrite,
} from '../../registry/store.js'
import { ClaimLock } from './claim-lock.js'
import { EventRelay } from './event-relay.js'
import type { TableNames } from './migrations.js'
import { retrying } from './retry.js'
import { parseMessage, parseTask, queryTasks, rowToEvent } from './rows.js'
import type { SqlClient, SqlTx } from './sql-client.js'
import { kindKey, type Statements, statements } from './statements.js'
import { type WriteGuard, writeStatement } from './write-statement.js'

/** Options of {@link PostgresTaskStore}. */
export type PostgresTaskStoreOptions = {
  /** The database. */
  client: SqlClient
  /** The tables, as `tableNames(prefix)` gives them. */
  tables: TableNames
  /** The NOTIFY channel. */
  channel: string
  /** How many recent events of one session `stream({ since })` can replay. */
  replayBuffer: number
  /** Receives failures that have no caller to go to. */
  reportError: (error: unknown) => void
}

// Events stay stored at least this long (per session) even with a smaller
// replay buffer: other processes read them from the table when notified.
const MIN_RETAINED_EVENTS = 1000
// Optimistic tries of one write before it falls back to the row lock.
const OPTIMISTIC_TRIES = 3

// A write without events stores nothing: a record or message change always emits.
function eventless(write: TaskWrite): boolean {
  if (write.events.length > 0) return false
  if (write.task !== undefined || write.message !== undefined) {
    throw new Error('session-tasks: a store write without events')
  }
  return true
}

/** Where one transaction's events were numbered. */
type Allocation = { epoch: string; first: number }

/**
 * The PostgreSQL {@link SessionTaskStore}. A write reads the record, lets
 * the core decide, and stores the record, the message and the numbered
 * events in one statement under the session's counter row (which also sends
 * the NOTIFY), applied only if the record is still the one read (else it
 * decides again); a claim locks the row instead, under the claim lock. So
 * several processes can share one database.
 */
export class PostgresTaskStore implements SessionTaskStore {
  private readonly client: SqlClient
  private readonly t: TableNames
  private readonly sql: Statements
  private readonly channel: string
  private readonly replayBuffer: number
  private readonly retain: number
  private readonly origin = generateProcessId()
  private epochCounter = 0
  private readonly claimLock: ClaimLock
  /** Cross-process delivery (cursors, LISTEN, catch-up). @internal */
  readonly relay: EventRelay

  constructor(options: PostgresTaskStoreOptions) {
    this.client = options.client
    this.t = options.tables
    this.sql = statements(this.t)
    this.claimLock = new ClaimLock(this.sql.claimLock)
    this.channel = options.channel
    this.replayBuffer = options.replayBuffer
    this.retain = Math.max(this.replayBuffer, MIN_RETAINED_EVENTS)
    this.relay = new EventRelay({
      client: this.client,
      sql: this.sql,
      channel: this.channel,
      origin: this.origin,
      reportError: options.reportError,
    })
  }

  /** Receives the sink committed events go to. */
  attach(sink: StoreEventSink): void {
    this.relay.attach(sink)
  }

  /** Marks a session as listened to in this process. */
  watch(sessionId: string | undefined): () => void {
    return this.relay.watch(sessionId)
  }

  /**
   * Stores a write and its events in one statement; `undefined` when its
   * insert found the id taken (then nothing was stored).
   */
  private async flush(
    tx: SqlTx,
    sessionId: string,
    write: TaskWrite,
    insert: SessionTask | undefined,
    guard?: WriteGuard,
  ): Promise<Allocation | undefined> {
    const { text, params } = writeStatement(
      { tables: this.t, channel: this.channel, origin: this.origin, retain: this.retain },
      sessionId,
      `${this.origin}.${++this.epochCounter}`,
      write,
      insert,
      guard,
    )
    const { rows: result } = await tx.query<{ seq: unknown; epoch: string }>(text, params)
    const row = result[0]
    if (row === undefined) return undefined
    const first = Number(row.seq) - write.events.length + 1
    this.relay.noteAllocation(sessionId, row.epoch, first)
    return { epoch: row.epoch, first }
  }

  /** Inserts unless the id exists in any session. */
  async insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert> {
    let allocation: Allocation | undefined
    // One statement, so no BEGIN/COMMIT round trips: the insert, the
    // counter bump and the events commit together or not at all.
    const attempt = async (db: SqlTx): Promise<StoreInsert> => {
      allocation = await this.flush(db, task.sessionId, { events }, task)
      if (allocation !== undefined) return { inserted: true }
      const { rows } = await db.query<{ session_id: string; record: string }>(
        this.sql.getAnySession,
        [task.id],
      )
      const row = rows[0]
      return { inserted: false, existing: row === undefined ? undefined : parseTask(row.record) }
    }
    // A first cursor placed from this write must see writes in seq order:
    // then the allocation is noted under the counter row's lock (in a transaction).
    const ordered = this.relay.placesFromWrites(task.sessionId)
    const outcome = await retrying(() =>
      ordered ? this.client.transaction(attempt) : attempt(this.client),
    )
    if (allocation !== undefined && outcome.inserted) {
      await this.relay.deliver(task.sessionId, allocation.epoch, allocation.first, events)
    }
    return outcome
  }

  /** One task of a session. */
  async read(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const { rows } = await this.client.query<{ record: string }>(this.sql.get, [taskId, sessionId])
    const row = rows[0]
    return row === undefined ? undefined : parseTask(row.record)
  }

  /** Locks the row, decides, commits, then delivers. */
  modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    return this.decideOptimistic(sessionId, taskId, decide)
  }

  /**
   * Reads the record and its version without a lock, decides, and commits
   * in one statement that applies only if the version is unchanged: two
   * round trips, and no row lock held across one. A write that lost to
   * another one decides again on the new record; after a few losses (a hot
   * task) it takes the row lock instead.
   */
  private async decideOptimistic<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    // See insert: a first cursor placed from writes needs them in seq order.
    if (this.relay.placesFromWrites(sessionId))
      return this.decideLocked(sessionId, taskId, false, decide)
    for (let attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
      const { rows } = await this.client.query<{ record: string; version: string; ord: string }>(
        this.sql.getVersioned,
        [taskId, sessionId],
      )
      const row = rows[0]
      if (row === undefined) return undefined
      const { write, result } = decide(parseTask(row.record))
      if (write === undefined || eventless(write)) return { result }
      const guard = { taskId, version: row.version, ord: row.ord }
      const allocation = await retrying(() =>
        this.flush(this.client, sessionId, write, undefined, guard),
      )
      if (allocation === undefined) continue
      await this.relay.deliver(sessionId, allocation.epoch, allocation.first, write.events)
      return { result }
    }
    return this.decideLocked(sessionId, taskId, false, decide)
  }

  /**
   * Like `modify`, under the registry's claim lock (a transaction-level
   * advisory lock), with the running counts read after taking it: the
   * claim before committed first, so its task is counted.
   */
  claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    return this.decideLocked(sessionId, taskId, true, decide)
  }

  private async decideLocked<R>(
    sessionId: string,
    taskId: string,
    claim: boolean,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    let allocation: Allocation | undefined
    let events: readonly StoredEvent[] = []
    const done = await retrying(
      () =>
        this.client.transaction(async (tx) => {
          allocation = undefined
          if (claim) await this.claimLock.take(tx)
          else await this.claimLock.begin(tx)
          const { rows } = await tx.query<{
            record: string
            g?: unknown
            s?: unknown
            k?: unknown
          }>(claim ? this.sql.lockCounted : this.sql.lock, [taskId, sessionId])
          const row = rows[0]
          if (row === undefined) return undefined
          const running = {
            global: Number(row.g ?? 0),
            session: Number(row.s ?? 0),
            kind: Number(row.k ?? 0),
          }
          const { write, result } = decide(parseTask(row.record), running)
          if (write !== undefined && !eventless(write)) {
            allocation = await this.flush(tx, sessionId, write, undefined)
            events = write.events
          }
          return { result }
        }),
      () => this.claimLock.markStrict(),
    )
    if (allocation !== undefined) {
      await this.relay.deliver(sessionId, allocation.epoch, allocation.first, events)
    }
    return done
  }

  /** A session's tasks, oldest first. */
  async list(sessionId: string, state?: SessionTaskState): Promise<SessionTask[]> {
    if (state === undefined) return queryTasks(this.client, this.sql.list, [sessionId])
    return queryTasks(this.client, this.sql.listByState, [sessionId, state])
  }

  /** A task's messages, oldest first. */
  async listMessages(sessionId: string, taskId: string, query: StoreMessageQuery) {
    const limit = query.limit ?? null
    if (query.afterId !== undefined) {
      const { rows } = await this.client.query<{ record: string }>(this.sql.messagesAfter, [
        taskId,
        sessionId,
        query.afterId,
        limit,
      ])
      return rows.map((row) => parseMessage(row.record))
    }
    const { rows } = await this.client.query<{ record: string }>(this.sql.messagesNewest, [
      taskId,
      sessionId,
      limit,
    ])
    return rows.map((row) => parseMessage(row.record)).reverse()
  }

  /**
   * Stored events after `after`: all of them up to the head, read in one
   * consistent view and only when none is missing; or, with `through`, what
   * is still stored of that range.
   */
  async readEvents(
    sessionId: string,
    after: number,
    through?: number,
  ): Promise<SequencedEvent[] | undefined> {
    if (through !== undefined) {
      const { rows } = await this.client.query<{ seq: unknown; type: string; payload: string }>(
        this.sql.replay,
        [sessionId, after, through],
      )
      return rows.map(rowToEvent)
    }
    return this.client.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      const head = (await tx.query<{ seq: unknown }>(this.sql.sessionHead, [sessionId])).rows[0]
      const last = head === undefined ? 0 : Number(head.seq)
      if (after > last || last - after > this.replayBuffer) return undefined
      if (after === last) return []
      const { rows } = await tx.query<{ seq: unknown; type: string; payload: string }>(
        this.sql.replay,
        [sessionId, after, last],
      )
      return rows.length === last - after ? rows.map(rowToEvent) : undefined
    })
  }

  /** The session's tasks and last seq, in one REPEATABLE READ view. */
  async snapshot(sessionId: string): Promise<StoreSnapshot> {
    return this.client.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      const head = (await tx.query<{ seq: unknown }>(this.sql.sessionHead, [sessionId])).rows[0]
      const { rows } = await tx.query<{ record: string }>(this.sql.list, [sessionId])
      return {
        seq: head === undefined ? 0 : Number(head.seq),
        tasks: rows.map((row) => parseTask(row.record)),
      }
    })
  }

  /** Queued or running tasks whose heartbeat is older than `before`. */
  listStale(before: string, limit: number): Promise<SessionTask[]> {
    return queryTasks(this.client, this.sql.stale, [before, limit])
  }

  /** Queued tasks of every session (of `kinds` when given), oldest first. */
  listQueued(kinds: readonly string[] | undefined, limit: number, afterId?: string) {
    const keys = kinds === undefined ? null : JSON.stringify(kinds.map(kindKey))
    return queryTasks(this.client, this.sql.queued, [limit, keys, afterId ?? null])
  }

  /** Unfinished tasks whose `deadlineAt` is before `before`, earliest deadline first. */
  listOverdue(before: string, limit: number): Promise<SessionTask[]> {
    return queryTasks(this.client, this.sql.overdue, [before, limit])
  }

  /** Deletes terminal tasks finished before `before` with their messages and events. */
  async prune(before: string, limit: number): Promise<SessionTask[]> {
    return retrying(() =>
      this.client.transaction(async (tx) => {
        const { rows } = await tx.query<{ session_id: string; id: string; record: string }>(
          this.sql.prune,
          [before, limit],
        )
        if (rows.length === 0) return []
        // Their events go too (a replay from before them falls back to a
        // snapshot). Session rows first, in one order: writers trim events
        // under that lock.
        const sessionIds = [...new Set(rows.map((row) => row.session_id))].sort()
        await tx.query(this.sql.lockSessions, [JSON.stringify(sessionIds)])
        await tx.query(this.sql.deleteTaskEvents, [JSON.stringify(rows.map((row) => row.id))])
        return rows.map((row) => parseTask(row.record))
      }),
    )
  }

  /** Deletes a session's tasks, messages and events, and tells other processes. */
  async deleteSession(sessionId: string): Promise<number> {
    let epoch = ''
    const removed = await retrying(() =>
      this.client.transaction(async (tx) => {
        const first = await tx.query<{ n: unknown }>(this.sql.deleteSessionTasks, [sessionId])
        const head = await tx.query<{ epoch: string }>(this.sql.deleteSessionRow, [
          sessionId,
          `${this.origin}.${++this.epochCounter}`,
        ])
        // Tasks created while this waited for the session row: gone too.
        const second = await tx.query<{ n: unknown }>(this.sql.deleteSessionTasks, [sessionId])
        await tx.query(this.sql.deleteSessionEvents, [sessionId])
        epoch = head.rows[0]?.epoch ?? ''
        await tx.query('SELECT pg_notify($1, $2)', [
          this.channel,
          JSON.stringify({ o: this.origin, s: sessionId, e: epoch, d: 1 }),
        ])
        return Number(first.rows[0]?.n ?? 0) + Number(second.rows[0]?.n ?? 0)
      }),
    )
    this.relay.reset(sessionId, epoch === '' ? undefined : epoch, false)
    return removed
  }
}
