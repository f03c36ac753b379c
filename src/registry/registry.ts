import type {
  AllSessionsListener,
  SessionTaskEmitter,
  SessionTaskListener,
} from '../events/emitter.js'
import type { EventGap } from '../events/event.js'
import type {
  ListMessagesOptions,
  ListOverdueOptions,
  ListQueuedOptions,
  ListStaleOptions,
  PruneOptions,
  QueryTasksOptions,
} from '../model/scan-schemas.js'
import type {
  CreateSessionTask,
  NewTaskMessage,
  SessionTask,
  SessionTaskFilter,
  SessionTaskUpdate,
  TaskMessage,
  TaskOutput,
} from '../model/schemas.js'
import type { ClaimOptions } from '../model/supervisor-schemas.js'
import type { ClaimRefusal } from '../rules/claim.js'
import type { StreamItem, StreamOptions } from '../stream/stream.js'
import type { QueryTasksResult } from './queries.js'

/** What `updateWithOutcome` reports. */
export type TaskUpdateResult = {
  /** The record after the call (unchanged when not applied). */
  task: SessionTask
  /** False when the fence or terminal finality dropped the whole update. */
  applied: boolean
  /** True when the record changed (and `task.updated` was emitted). */
  changed: boolean
}

/** What `claim` reports: the record after the call, and whether this caller won it. */
export type ClaimResult =
  | { readonly claimed: true; readonly task: SessionTask }
  | { readonly claimed: false; readonly reason: ClaimRefusal; readonly task: SessionTask }

/**
 * Where a session's tasks and messages live. Every method is async so that a
 * persistent backend fits the same shape; every backend applies the lifecycle
 * rules through `applyTaskUpdate`.
 */
export interface SessionTaskRegistry {
  /** Inserts a task, or returns the stored one when its caller id exists in this session. */
  create(input: CreateSessionTask): Promise<SessionTask>
  /** Applies a partial update; `undefined` for an unknown task or another session's. */
  update(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<SessionTask | undefined>
  /**
   * Like `update`, but also says whether the update was applied (`false`
   * when a fence or terminal finality dropped it) and whether it changed the
   * record. Fencing writers (reapers) use it to know whether they won.
   */
  updateWithOutcome(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<TaskUpdateResult | undefined>
  /** Reads one task of a session. */
  get(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** A task by id in any session, or `undefined` (for trusted server code: protocol adapters, admin tools). */
  find(taskId: string): Promise<SessionTask | undefined>
  /** Tasks across sessions (or of `sessionIds`), oldest first, a page at a time; `nextCursor` continues. */
  query(options?: QueryTasksOptions): Promise<QueryTasksResult>
  /** Removes one task with its messages and emits `task.deleted`; false when there is no such task. */
  delete(sessionId: string, taskId: string): Promise<boolean>
  /** Lists a session's tasks, oldest first, filtered by kind and state. */
  list(sessionId: string, filter?: SessionTaskFilter): Promise<SessionTask[]>
  /** Records the wish to cancel (cooperative); never changes the state. */
  requestCancel(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** Stores a message between the session and a task. */
  recordMessage(sessionId: string, taskId: string, message: NewTaskMessage): Promise<TaskMessage>
  /** Reads a task's messages, oldest first. */
  listMessages(
    sessionId: string,
    taskId: string,
    options?: ListMessagesOptions,
  ): Promise<TaskMessage[]>
  /**
   * Emits a `task.output` chunk (not stored). Returns false, emitting nothing,
   * for an unknown task, another session's, or a stale `expectedAttempt`.
   */
  publishOutput(sessionId: string, taskId: string, output: TaskOutput): Promise<boolean>
  /** The session's mitt emitter, created lazily. */
  events(sessionId: string): SessionTaskEmitter
  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: SessionTaskListener): () => void
  /** Listens to every session's events; returns the unsubscribe function. */
  subscribeAll(listener: AllSessionsListener): () => void
  /** The registry's clock. */
  now(): Date
  /** A replayable stream of one session's events (snapshot, then deltas). */
  stream(sessionId: string, options?: StreamOptions): AsyncIterable<StreamItem>
  /** Queued or running tasks of every session whose heartbeat is older than the cutoff. */
  listStale(options: ListStaleOptions): Promise<SessionTask[]>
  /**
   * Optional (the control plane of `dispatch: 'shared'`): moves a queued task
   * on `expectedAttempt` to `running` in one fenced compare-and-set, when
   * the tasks already running in the whole registry leave room under
   * `limits`, checked atomically with the write. Exactly one of concurrent
   * claims wins; the others get `{ claimed: false, reason }`.
   */
  claim?(sessionId: string, taskId: string, options: ClaimOptions): Promise<ClaimResult | undefined>
  /** Optional: queued tasks of every session (of `kinds` when given), oldest first. */
  listQueued?(options?: ListQueuedOptions): Promise<SessionTask[]>
  /** Optional: unfinished tasks of every session whose `deadlineAt` is before the cutoff, earliest first. */
  listOverdue?(options: ListOverdueOptions): Promise<SessionTask[]>
  /** Deletes terminal tasks (and their messages) finished before the cutoff; returns them. */
  prune(options: PruneOptions): Promise<SessionTask[]>
  /** Drops a session's tasks, messages, emitter and buffers; returns the number of tasks removed. */
  deleteSession(sessionId: string): Promise<number>
  /** Optional: runs `hook` after a session is deleted (wake queues use it). */
  onSessionDeleted?(hook: (sessionId: string) => void): () => void
  /**
   * Optional: runs `hook` when committed events could not be delivered to
   * this process (SPEC 12.5), so state derived from events can be re-read.
   */
  onEventGap?(hook: (gap: EventGap) => void): () => void
}
