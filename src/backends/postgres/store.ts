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
  StoreModified,
  StoreQueryRow,
  StoreSnapshot,
  StoreTaskQuery,
  TaskDecision,
} from '../../registry/store.js'
import { kindKey, parseMessage, parseTask, rowToEvent } from '../records.js'
import type { TableNames } from '../table-names.js'
import { EventRelay } from './event-relay.js'
import { retrying } from './retry.js'
import { queryTasks } from './rows.js'
import type { SqlClient } from './sql-client.js'
import { type Statements, statements } from './statements.js'
import { TaskWriter } from './task-writer.js'

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
  private readonly writer: TaskWriter
  /** Cross-process delivery (cursors, LISTEN, catch-up). @internal */
  readonly relay: EventRelay

  constructor(options: PostgresTaskStoreOptions) {
    this.client = options.client
    this.t = options.tables
    this.sql = statements(this.t)
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
    this.writer = new TaskWriter({
      client: this.client,
      sql: this.sql,
      relay: this.relay,
      target: { tables: this.t, channel: this.channel, origin: this.origin, retain: this.retain },
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

  /** Inserts unless the id exists in any session. */
  insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert> {
    return this.writer.insert(task, events)
  }

  /** One task of a session. */
  async read(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const { rows } = await this.client.query<{ record: string }>(this.sql.get, [taskId, sessionId])
    const row = rows[0]
    return row === undefined ? undefined : parseTask(row.record)
  }

  /** A task by id in any session. */
  async find(taskId: string): Promise<SessionTask | undefined> {
    const { rows } = await this.client.query<{ record: string }>(this.sql.getAnySession, [taskId])
    const row = rows[0]
    return row === undefined ? undefined : parseTask(row.record)
  }

  /** Tasks matching `filter` across sessions, oldest first, with their insertion order. */
  async query(filter: StoreTaskQuery, limit: number): Promise<StoreQueryRow[]> {
    const { rows } = await this.client.query<{ record: string; ord: string }>(this.sql.query, [
      filter.sessionIds === undefined ? null : JSON.stringify(filter.sessionIds),
      filter.kind === undefined ? null : kindKey(filter.kind),
      filter.state ?? null,
      filter.updatedAfter ?? null,
      filter.after?.createdAt ?? null,
      filter.after?.order ?? null,
      filter.liveAt,
      limit,
    ])
    return rows.map((row) => ({ task: parseTask(row.record), order: row.ord }))
  }

  /** Reads, decides and commits one task's change (see TaskWriter). */
  modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<StoreModified<R> | undefined> {
    return this.writer.modify(sessionId, taskId, decide)
  }

  /** Like `modify`, with the running counts, under the claim lock. */
  claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
    liveAt: string,
  ): Promise<{ readonly result: R } | undefined> {
    return this.writer.claim(sessionId, taskId, decide, liveAt)
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
        query.liveAt,
      ])
      return rows.map((row) => parseMessage(row.record))
    }
    const { rows } = await this.client.query<{ record: string }>(this.sql.messagesNewest, [
      taskId,
      sessionId,
      limit,
      query.liveAt,
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
  listStale(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return queryTasks(this.client, this.sql.stale, [before, limit, liveAt])
  }

  /** Queued tasks of every session (of `kinds` when given), oldest first. */
  listQueued(
    kinds: readonly string[] | undefined,
    limit: number,
    liveAt: string,
    afterId?: string,
  ) {
    const keys = kinds === undefined ? null : JSON.stringify(kinds.map(kindKey))
    return queryTasks(this.client, this.sql.queued, [limit, keys, afterId ?? null, liveAt])
  }

  /** Unfinished tasks whose `deadlineAt` is before `before`, earliest deadline first. */
  listOverdue(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return queryTasks(this.client, this.sql.overdue, [before, limit, liveAt])
  }

  /** Deletes terminal tasks finished before `before`, and expired ones, with their messages and events. */
  async prune(before: string, limit: number, expiredBefore: string): Promise<SessionTask[]> {
    return retrying(() =>
      this.client.transaction(async (tx) => {
        const { rows } = await tx.query<{ session_id: string; id: string; record: string }>(
          this.sql.prune,
          [before, limit, expiredBefore],
        )
        if (rows.length === 0) return []
        // Their events go too (a replay from before them falls back to a
        // snapshot). Session rows first, in one order: writers trim events
        // under that lock.
        const sessionIds = [...new Set(rows.map((row) => row.session_id))].sort()
        await tx.query(this.sql.lockSessions, [JSON.stringify(sessionIds)])
        await tx.query(this.sql.deleteTaskEvents, [JSON.stringify(rows.map((row) => row.id))])
        this.writer.forget(rows.map((row) => row.id))
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
          this.writer.nextEpoch(),
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
    this.writer.forgetSession(sessionId)
    this.relay.reset(sessionId, epoch === '' ? undefined : epoch, false)
    return removed
  }
}
