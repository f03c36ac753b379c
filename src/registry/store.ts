import type { EventGap, SequencedEvent, StoredEvent } from '../events/event.js'
import type { SessionTask, TaskMessage } from '../model/schemas.js'
import type { SessionTaskState } from '../model/state.js'
import type { RunningCounts } from '../rules/claim.js'

export type { RunningCounts } from '../rules/claim.js'

/** What one locked read-apply-write stores, all or nothing. */
export type TaskWrite = {
  /** The new record, replacing the one read; absent = the record is unchanged. */
  readonly task?: SessionTask | undefined
  /** A message to append to the task's log. */
  readonly message?: TaskMessage | undefined
  /** The events to number and store with the write, in order. */
  readonly events: readonly StoredEvent[]
  /**
   * Removes the task instead (`registry.delete`): its record, messages and
   * stored events go, and `events` (its `task.deleted`) are stored after them.
   */
  readonly deleted?: true | undefined
}

/**
 * A message id that does not start with this prefix was chosen by the
 * caller: a write carrying one that is already stored (for any task)
 * commits nothing, and the store answers with the stored message
 * (see {@link SessionTaskStore.modify}). Generated ids start with it.
 */
export const GENERATED_MESSAGE_PREFIX = 'tmsg_'

/** What {@link SessionTaskStore.modify} resolves for a task that exists. */
export type StoreModified<R> = {
  readonly result: R
  /** The write carried a caller-chosen message id already stored: that message, and nothing was written. */
  readonly duplicate?: TaskMessage | undefined
}

/** What {@link SessionTaskStore.query} filters on, already validated. */
export type StoreTaskQuery = {
  readonly sessionIds?: readonly string[] | undefined
  /** A kind (compared exactly). */
  readonly kind?: string | undefined
  readonly state?: SessionTaskState | undefined
  /** Only tasks whose `updatedAt` is later. */
  readonly updatedAfter?: string | undefined
  /** Only tasks after this position (see {@link StoreQueryRow}). */
  readonly after?: { readonly createdAt: string; readonly order: string } | undefined
  /** Leaves out tasks whose `expiresAt` is at or before this instant. */
  readonly liveAt: string
}

/** A task found by {@link SessionTaskStore.query}, with its insertion order (a decimal integer string, increasing). */
export type StoreQueryRow = { readonly task: SessionTask; readonly order: string }

/**
 * What the core's pure `decide` function returns for the record it was
 * given: a write to commit (or none) and the value the store hands back.
 */
export type TaskDecision<R> = { readonly write?: TaskWrite | undefined; readonly result: R }

/** The answer of {@link SessionTaskStore.insert}. */
export type StoreInsert =
  | { readonly inserted: true }
  /** The id is taken: `existing` is its record (any session), or undefined when it vanished meanwhile. */
  | { readonly inserted: false; readonly existing: SessionTask | undefined }

/** Options of {@link SessionTaskStore.listMessages}, already validated. */
export type StoreMessageQuery = {
  readonly limit?: number | undefined
  readonly afterId?: string | undefined
  /** A task whose `expiresAt` is at or before this instant has no messages to list. */
  readonly liveAt: string
}

/** A session's tasks and the seq of its last event, read in one consistent view. */
export type StoreSnapshot = { readonly seq: number; readonly tasks: readonly SessionTask[] }

/**
 * Where a store delivers committed events. The core attaches it once, before
 * any other call.
 */
export interface StoreEventSink {
  /**
   * Committed events of one session, in seq order, each exactly once. A
   * store delivers the events of its own writes before the write's promise
   * resolves, and events committed elsewhere (another process) when it
   * learns of them.
   */
  deliver(sessionId: string, events: readonly SequencedEvent[]): void
  /** The session was deleted elsewhere: the core drops its listeners and streams. */
  deleted(sessionId: string): void
  /**
   * Committed events of a session that the store cannot deliver (gone from
   * its retention, or unreadable after retries): the core tells streams,
   * hooks and `onEventGap`, which resynchronise from the records. Call it
   * in order with `deliver`, before the events that follow the gap.
   */
  gap(gap: EventGap): void
}

/**
 * The storage port: the atomic primitives a backend implements. The core
 * ({@link SessionTaskRegistryCore}) does everything else (validation, the
 * lifecycle rules, wakes, dispatch, streams, the public projection), so a
 * backend only stores, numbers and reads. Inputs are validated and frozen;
 * ids are trusted; timestamps are ISO-8601 UTC strings. Every method may be
 * called concurrently: each write must be atomic per task, and a session's
 * event numbers must follow its commit order with no gap and no repeat.
 */
export interface SessionTaskStore {
  /** Called once by the core; events go to `sink`. */
  attach(sink: StoreEventSink): void
  /** Inserts `task` with its events unless a task with its id exists in any session. */
  insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert>
  /** One task of a session, or undefined. */
  read(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** A task by id in any session, or undefined. */
  find(taskId: string): Promise<SessionTask | undefined>
  /**
   * Tasks of every session (or of `sessionIds`) matching the filter, oldest
   * first (createdAt, then insertion order), at most `limit`, each with its
   * insertion order so the caller can continue after it.
   */
  query(filter: StoreTaskQuery, limit: number): Promise<readonly StoreQueryRow[]>
  /**
   * Locks one task of a session, calls `decide` with its record and commits
   * the returned write atomically (record, message and numbered events), then
   * delivers the events. `decide` is pure and may be called again when the
   * store retries; an error it throws aborts the write and is rethrown.
   * Resolves `undefined` (without calling `decide`) when there is no such
   * task. A write whose message has a caller-chosen id (see
   * {@link GENERATED_MESSAGE_PREFIX}) that is already stored commits nothing
   * and resolves with that message as `duplicate`.
   */
  modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<StoreModified<R> | undefined>
  /**
   * Like `modify`, for a claim: `decide` also gets the {@link RunningCounts}
   * (tasks running or awaiting input) read in the same atomic step, and
   * claims are serialised with each other, so two claims never both see the
   * last free slot. Tasks expired at `liveAt` hold no slot. Resolves `undefined` when there is no such task.
   */
  claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
    liveAt: string,
  ): Promise<{ readonly result: R } | undefined>
  /**
   * Queued tasks of every session, of one of `kinds` when given, oldest
   * first (createdAt, then insertion); after the task `afterId` in that
   * order when given ([] when that task is gone).
   */
  listQueued(
    kinds: readonly string[] | undefined,
    limit: number,
    liveAt: string,
    afterId?: string,
  ): Promise<readonly SessionTask[]>
  /** Unfinished tasks of every session whose `deadlineAt` is before `before`, earliest deadline first (then createdAt); none expired at `liveAt` (as for every scan). */
  listOverdue(before: string, limit: number, liveAt: string): Promise<readonly SessionTask[]>
  /** A session's tasks, oldest first (createdAt, then insertion order), optionally of one state. */
  list(sessionId: string, state?: SessionTaskState): Promise<readonly SessionTask[]>
  /**
   * A task's messages, oldest first (createdAt, then record order): the
   * newest `limit` (all without one), or the first `limit` after `afterId`
   * ([] for an unknown cursor). [] for an unknown task or another session's.
   */
  listMessages(
    sessionId: string,
    taskId: string,
    query: StoreMessageQuery,
  ): Promise<readonly TaskMessage[]>
  /**
   * The session's events after seq `after` (up to `through` when given), in
   * order, or `undefined` when the store can no longer supply all of them
   * (evicted, or `after` is ahead of the last seq).
   */
  readEvents(
    sessionId: string,
    after: number,
    through?: number,
  ): Promise<readonly SequencedEvent[] | undefined>
  /** The session's tasks with the seq of its last event (0 when none), consistent with each other. */
  snapshot(sessionId: string): Promise<StoreSnapshot>
  /** Queued or running tasks of every session with `heartbeatAt` < `before`, oldest heartbeat first (then createdAt). */
  listStale(before: string, limit: number, liveAt: string): Promise<readonly SessionTask[]>
  /**
   * Deletes terminal tasks finished before `before` (oldest first) and
   * tasks of any state whose `expiresAt` is at or before `expiredBefore`, with
   * their messages and events; returns them (at most `limit`).
   */
  prune(before: string, limit: number, expiredBefore: string): Promise<readonly SessionTask[]>
  /** Deletes a session's tasks, messages and events; resolves the number of tasks removed. */
  deleteSession(sessionId: string): Promise<number>
  /**
   * Optional: the core calls it when something starts listening to one
   * session (or, with `undefined`, to every session) and calls the returned
   * function when that stops. Stores that learn about other processes'
   * events use it to fetch only what someone here listens to.
   */
  watch?(sessionId: string | undefined): () => void
  /**
   * Optional, synchronous: the current record of a task the store holds in
   * memory (any session), so the core can skip re-validating known ids and
   * answer `get` without a round trip. Only for stores whose memory is the
   * truth; never required.
   */
  peek?(taskId: string): SessionTask | undefined
}
