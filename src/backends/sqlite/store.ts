import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import { generateProcessId } from '../../model/ids.js'
import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskState } from '../../model/state.js'
import {
  GENERATED_MESSAGE_PREFIX,
  type RunningCounts,
  type SessionTaskStore,
  type StoreEventSink,
  type StoreInsert,
  type StoreMessageQuery,
  type StoreModified,
  type StoreQueryRow,
  type StoreSnapshot,
  type StoreTaskQuery,
  type TaskDecision,
  type TaskWrite,
} from '../../registry/store.js'
import { kindKey, parseMessage, parseTask, rowToEvent } from '../records.js'
import type { TableNames } from '../table-names.js'
import type { SqliteDriver, SqliteValue } from './driver.js'
import { EventFeed } from './event-feed.js'
import { refuseNewerSchema } from './migrations.js'
import { appendEvents, type OwnEvents, taskColumns } from './rows.js'
import { type SqliteStatements, sqliteStatements } from './statements.js'
import { immediate, reading } from './transaction.js'
import { CHECKPOINT_EVERY_COMMITS, type SqliteSynchronous, WalKeeper } from './wal.js'

/** Options of {@link SqliteTaskStore}. */
export type SqliteTaskStoreOptions = {
  /** The database connection. */
  driver: SqliteDriver
  /** The tables, as `tableNames(prefix)` gives them. */
  tables: TableNames
  /** How many recent events of one session `stream({ since })` can replay. */
  replayBuffer: number
  /** How long a write waits for another process's write lock, in all. */
  busyTimeoutMs: number
  /** Receives failures that have no caller to go to. */
  reportError: (error: unknown) => void
  /** `PRAGMA synchronous` for the connection. */
  synchronous: SqliteSynchronous
}

// Events stay stored at least this long (per session) even with a smaller
// replay buffer: other processes read them from the feed.
const MIN_RETAINED_EVENTS = 1000
// How long one try waits for the write lock inside SQLite.
const SYNC_BUSY_WAIT_MS = 5
// Markers of deleted sessions stay this long, for processes that poll late.
const MARKER_RETENTION_MS = 24 * 60 * 60 * 1000

/** What one write committed: its own events, where they went. */
type Committed<R> = {
  value: R
  own?: OwnEvents | undefined
  deleted?: { sessionId: string; gid: number } | undefined
}

/**
 * The SQLite {@link SessionTaskStore}. Each write is one `BEGIN IMMEDIATE`
 * transaction: the write lock is taken first, so reading the record,
 * deciding and storing the record, message and numbered events are one
 * atomic step across every process on the file. Events reach this process
 * through its event feed (the events table, read in commit order).
 */
export class SqliteTaskStore implements SessionTaskStore {
  private readonly driver: SqliteDriver
  private readonly sql: SqliteStatements
  private readonly busy: { busyTimeoutMs: number }
  private readonly replayBuffer: number
  private readonly retain: number
  private readonly origin = generateProcessId()
  private readonly wal: WalKeeper
  /** Delivery of this and other processes' events. @internal */
  readonly feed: EventFeed
  /** Runs before every write; throws to refuse it (the registry's closed check). @internal */
  beforeWrite: () => void = () => {}

  constructor(options: SqliteTaskStoreOptions) {
    this.driver = options.driver
    this.sql = sqliteStatements(options.tables)
    this.busy = { busyTimeoutMs: options.busyTimeoutMs }
    // SQLite's own busy handler sleeps inside the call, blocking the event
    // loop (better-sqlite3 waits up to 5 s by default): wait a moment there,
    // and longer asynchronously between tries (see whileBusy).
    this.driver.exec(`PRAGMA busy_timeout = ${SYNC_BUSY_WAIT_MS}`)
    this.wal = new WalKeeper({
      driver: this.driver,
      synchronous: options.synchronous,
      checkpointEvery: CHECKPOINT_EVERY_COMMITS,
      busyWaitMs: SYNC_BUSY_WAIT_MS,
      reportError: options.reportError,
    })
    this.replayBuffer = options.replayBuffer
    this.retain = Math.max(options.replayBuffer, MIN_RETAINED_EVENTS)
    refuseNewerSchema(this.driver, options.tables)
    this.feed = new EventFeed({
      driver: this.driver,
      sql: this.sql,
      origin: this.origin,
      reportError: options.reportError,
    })
  }

  /** Receives the sink committed events go to. */
  attach(sink: StoreEventSink): void {
    this.feed.attach(sink)
  }

  /** Marks a session as listened to in this process. */
  watch(sessionId: string | undefined): () => void {
    return this.feed.watch(sessionId)
  }

  private run(sql: string, ...params: SqliteValue[]) {
    return this.driver.prepare(sql).run(...params)
  }

  private tasks(sql: string, ...params: SqliteValue[]): SessionTask[] {
    return this.driver
      .prepare(sql)
      .all(...params)
      .map((row) => parseTask(row.record as string))
  }

  /**
   * One write transaction: what other processes committed is read first and
   * handed over, committed or not, before this write's own events.
   */
  private async write<R>(body: () => Committed<R>): Promise<R> {
    this.beforeWrite()
    try {
      const done = await immediate(
        this.driver,
        this.busy,
        () => {
          this.feed.pending()
          return body()
        },
        (committed) => this.feed.committed(committed.own, committed.deleted),
      )
      this.wal.committed()
      return done.value
    } finally {
      this.feed.flush()
    }
  }

  private appendEvents(sessionId: string, events: readonly StoredEvent[]): OwnEvents | undefined {
    const at = { driver: this.driver, sql: this.sql, origin: this.origin, retain: this.retain }
    return appendEvents(at, sessionId, events)
  }

  /** Inserts unless the id exists in any session. */
  insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert> {
    return this.write((): Committed<StoreInsert> => {
      const row = this.driver.prepare(this.sql.find).get(task.id)
      if (row !== undefined) {
        return { value: { inserted: false, existing: parseTask(row.record as string) } }
      }
      this.run(this.sql.insert, task.id, task.sessionId, task.createdAt, ...taskColumns(task))
      return { value: { inserted: true }, own: this.appendEvents(task.sessionId, events) }
    })
  }

  private read1(sessionId: string, taskId: string): SessionTask | undefined {
    const row = this.driver.prepare(this.sql.get).get(taskId, sessionId)
    return row === undefined ? undefined : parseTask(row.record as string)
  }

  /** One task of a session. */
  async read(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    return this.read1(sessionId, taskId)
  }

  /** A task by id in any session. */
  async find(taskId: string): Promise<SessionTask | undefined> {
    const row = this.driver.prepare(this.sql.find).get(taskId)
    return row === undefined ? undefined : parseTask(row.record as string)
  }

  /** Tasks matching `filter` across sessions, oldest first, with their insertion order. */
  async query(filter: StoreTaskQuery, limit: number): Promise<StoreQueryRow[]> {
    const rows = this.driver
      .prepare(this.sql.query)
      .all(
        filter.sessionIds === undefined ? null : JSON.stringify(filter.sessionIds),
        filter.kind === undefined ? null : kindKey(filter.kind),
        filter.state ?? null,
        filter.updatedAfter ?? null,
        filter.after?.createdAt ?? null,
        filter.after === undefined ? null : Number(filter.after.order),
        filter.liveAt,
        limit,
      )
    return rows.map((row) => ({ task: parseTask(row.record as string), order: String(row.ord) }))
  }

  /** Stores what `decide` chose for the record read under the write lock. */
  private apply<R>(
    task: SessionTask,
    { write, result }: TaskDecision<R>,
  ): Committed<StoreModified<R>> {
    if (write === undefined) return { value: { result } }
    if (write.deleted === true) return this.remove(task, write, result)
    const message = write.message
    if (message !== undefined && !message.id.startsWith(GENERATED_MESSAGE_PREFIX)) {
      const stored = this.driver.prepare(this.sql.messageById).get(message.id)
      if (stored !== undefined) {
        return { value: { result, duplicate: parseMessage(stored.record as string) } }
      }
    }
    if (write.task !== undefined) this.run(this.sql.update, ...taskColumns(write.task), task.id)
    if (message !== undefined) {
      this.run(
        this.sql.insertMessage,
        message.id,
        message.taskId,
        JSON.stringify(message),
        message.createdAt,
      )
    }
    return { value: { result }, own: this.appendEvents(task.sessionId, write.events) }
  }

  private remove<R>(task: SessionTask, write: TaskWrite, result: R): Committed<StoreModified<R>> {
    this.run(this.sql.deleteTaskMessages, task.id)
    this.run(this.sql.deleteTaskEvents, task.id)
    this.run(this.sql.deleteTask, task.id)
    return { value: { result }, own: this.appendEvents(task.sessionId, write.events) }
  }

  /** Reads, decides and commits one task's change under the write lock. */
  modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<StoreModified<R> | undefined> {
    return this.write(() => {
      const task = this.read1(sessionId, taskId)
      if (task === undefined) return { value: undefined }
      return this.apply(task, decide(task))
    })
  }

  /** Like `modify`, with the running counts read under the same lock. */
  claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
    liveAt: string,
  ): Promise<{ readonly result: R } | undefined> {
    return this.write(() => {
      const task = this.read1(sessionId, taskId)
      if (task === undefined) return { value: undefined }
      const row = this.driver.prepare(this.sql.running).get(liveAt, sessionId, kindKey(task.kind))
      const running: RunningCounts = {
        global: Number(row?.g ?? 0),
        session: Number(row?.s ?? 0),
        kind: Number(row?.k ?? 0),
      }
      return this.apply(task, decide(task, running))
    })
  }

  /** A session's tasks, oldest first. */
  async list(sessionId: string, state?: SessionTaskState): Promise<SessionTask[]> {
    if (state === undefined) return this.tasks(this.sql.list, sessionId)
    return this.tasks(this.sql.listByState, sessionId, state)
  }

  /** A task's messages, oldest first. */
  async listMessages(sessionId: string, taskId: string, query: StoreMessageQuery) {
    const limit = query.limit ?? -1
    if (query.afterId !== undefined) {
      return this.driver
        .prepare(this.sql.messagesAfter)
        .all(taskId, sessionId, query.afterId, limit, query.liveAt)
        .map((row) => parseMessage(row.record as string))
    }
    return this.driver
      .prepare(this.sql.messagesNewest)
      .all(taskId, sessionId, limit, query.liveAt)
      .map((row) => parseMessage(row.record as string))
      .reverse()
  }

  private head(sessionId: string): number {
    return Number(this.driver.prepare(this.sql.sessionHead).get(sessionId)?.seq ?? 0)
  }

  private replay(sessionId: string, after: number, through: number): SequencedEvent[] {
    return this.driver
      .prepare(this.sql.replay)
      .all(sessionId, after, through)
      .map((row) => rowToEvent(row as { seq: unknown; type: string; payload: string }))
  }

  /**
   * Stored events after `after`: all of them up to the head, read in one
   * view and only when none is missing; or, with `through`, what is still
   * stored of that range.
   */
  async readEvents(
    sessionId: string,
    after: number,
    through?: number,
  ): Promise<SequencedEvent[] | undefined> {
    if (through !== undefined) return this.replay(sessionId, after, through)
    return reading(this.driver, () => {
      const last = this.head(sessionId)
      if (after > last || last - after > this.replayBuffer) return undefined
      if (after === last) return []
      const events = this.replay(sessionId, after, last)
      return events.length === last - after ? events : undefined
    })
  }

  /** The session's tasks and last seq, in one read transaction. */
  async snapshot(sessionId: string): Promise<StoreSnapshot> {
    return reading(this.driver, () => ({
      seq: this.head(sessionId),
      tasks: this.tasks(this.sql.list, sessionId),
    }))
  }

  /** Queued or running tasks whose heartbeat is older than `before`. */
  async listStale(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return this.tasks(this.sql.stale, before, limit, liveAt)
  }

  /** Queued tasks of every session (of `kinds` when given), oldest first. */
  async listQueued(
    kinds: readonly string[] | undefined,
    limit: number,
    liveAt: string,
    afterId?: string,
  ): Promise<SessionTask[]> {
    const keys = kinds === undefined ? null : JSON.stringify(kinds.map(kindKey))
    return this.tasks(this.sql.queued, limit, keys, afterId ?? null, liveAt)
  }

  /** Unfinished tasks whose `deadlineAt` is before `before`, earliest deadline first. */
  async listOverdue(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return this.tasks(this.sql.overdue, before, limit, liveAt)
  }

  /** Deletes terminal tasks finished before `before`, and expired ones, with their messages and events. */
  prune(before: string, limit: number, expiredBefore: string): Promise<SessionTask[]> {
    return this.write(() => {
      const rows = this.driver.prepare(this.sql.prunable).all(before, limit, expiredBefore)
      for (const row of rows) {
        const id = row.id as string
        this.run(this.sql.deleteTaskMessages, id)
        this.run(this.sql.deleteTaskEvents, id)
        this.run(this.sql.deleteTask, id)
      }
      this.run(this.sql.dropMarkers, new Date(Date.now() - MARKER_RETENTION_MS).toISOString())
      return { value: rows.map((row) => parseTask(row.record as string)) }
    })
  }

  /** Deletes a session's tasks, messages and events, and marks the deletion for other processes. */
  deleteSession(sessionId: string): Promise<number> {
    return this.write(() => {
      this.run(this.sql.deleteSessionMessages, sessionId)
      const removed = Number(this.run(this.sql.deleteSessionTasks, sessionId).changes)
      this.run(this.sql.deleteSessionEvents, sessionId)
      const known = Number(this.run(this.sql.skipSeq, sessionId).changes) > 0
      if (removed === 0 && !known) return { value: 0 }
      const marker = this.run(
        this.sql.insertEvent,
        sessionId,
        0,
        '',
        'session.deleted',
        new Date().toISOString(),
        this.origin,
      )
      return {
        value: removed,
        deleted: { sessionId, gid: Number(marker.lastInsertRowid) },
      }
    })
  }
}
