import type { CreateSessionTask, SessionTask, TaskMessage } from '../model/schemas.js'
import type { ReapOptions, ReapResult } from './reaper.js'
import type {
  CancelOptions,
  HousekeepingOptions,
  MessageDelivery,
  MessageOptions,
  SpawnOptions,
  SupervisorMessage,
  TaskRef,
  WaitAllResult,
  WaitAnyResult,
  WaitOptions,
} from './supervisor-options.js'

/** The control plane an agent runtime calls. */
export type TaskSupervisor = {
  /** Creates a task and starts it with its kind's executor (or queues it for a slot). */
  spawn(input: CreateSessionTask, options?: SpawnOptions): Promise<SessionTask>
  /** Records cancel intent, aborts the signal, calls `executor.cancel`; returns a fresh read. */
  cancel(
    sessionId: string,
    taskId: string,
    options?: CancelOptions,
  ): Promise<SessionTask | undefined>
  /** Records an inbound message and hands it to the executor. */
  message(
    sessionId: string,
    taskId: string,
    message: SupervisorMessage,
    options?: MessageOptions,
  ): Promise<{ message: TaskMessage; delivery: MessageDelivery }>
  /**
   * Resolves when the task is terminal (or, with `until: 'settled'`, awaiting
   * input), or when the wait times out. By default it waits for a terminal
   * state with no timeout.
   */
  wait(
    sessionId: string,
    taskId: string,
    options?: WaitOptions,
  ): Promise<{ task: SessionTask; timedOut: boolean }>
  /** Resolves when the first of `refs` matches (as `wait` does), or on the timeout. */
  waitAny(refs: readonly TaskRef[], options?: WaitOptions): Promise<WaitAnyResult>
  /** Resolves when every one of `refs` matches at once (as `wait` does), or on the timeout. */
  waitAll(refs: readonly TaskRef[], options?: WaitOptions): Promise<WaitAllResult>
  /** Calls the executor's `reconcile`; returns a fresh read (`undefined` for an unknown task). */
  reconcile(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** Fails or re-attaches tasks whose heartbeat went stale. */
  reap(options?: ReapOptions): Promise<ReapResult>
  /** Deletes terminal tasks finished before the cutoff; returns them. */
  prune(options: { finishedBefore: Date; limit?: number | undefined }): Promise<SessionTask[]>
  /** Every interval: enforces stored deadlines, reaps, then prunes; returns the stop function. */
  startHousekeeping(options?: HousekeepingOptions): () => void
  /** Aborts running work, waits up to `cancelGraceMs` for it to settle, and detaches. */
  close(): Promise<void>
  /** Calls `close()`: `await using supervisor = createTaskSupervisor(...)` closes it at block end. */
  [Symbol.asyncDispose](): Promise<void>
}

/** The key of {@link TaskSupervisor}'s dispose method (see `asyncDisposeKey` in model/dispose). */
export { asyncDisposeKey } from '../model/dispose.js'
