import type { SessionTask, TaskMessagePart } from '../model/schemas.js'
import type { DispatchMode } from '../model/supervisor-schemas.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { ConcurrencyLimits } from './admission.js'
import type { TaskExecutorRegistry } from './executor-registry.js'
import type { TimerSource } from './timer.js'

/** Options of `createTaskSupervisor`. */
export type TaskSupervisorOptions = {
  /** Where the tasks live. */
  registry: SessionTaskRegistry
  /**
   * Where executors are found by kind.
   * @default the module-level registry (`registerTaskExecutor`)
   */
  executors?: TaskExecutorRegistry | undefined
  /**
   * Clock for reap and retention cutoffs.
   * @default registry.now
   */
  now?: (() => Date) | undefined
  /**
   * How long a canceled or timed-out task may take to settle before the
   * supervisor ends it (`canceled`, or `failed` with `timeout`) on a new
   * attempt, so the worker's later writes are rejected; also the longest
   * `close()` waits.
   * @default 5000
   */
  cancelGraceMs?: number | undefined
  /**
   * Limits on tasks running at once; none by default. With `dispatch:
   * 'local'` they count this supervisor's runs; with `'shared'` they count
   * the running tasks of every process on the registry.
   */
  concurrency?: ConcurrencyLimits | undefined
  /**
   * `'local'`: a supervisor starts only the tasks it spawned (and the ones
   * its reaper re-attaches). `'shared'`: every supervisor on the registry
   * claims queued tasks whose kind it has an executor for, one fenced
   * compare-and-set per claim, limits checked in the same write; queued
   * tasks of a dead process are started by the others. Every supervisor on
   * one registry should use the same mode.
   * @default 'local'
   */
  dispatch?: DispatchMode | undefined
  /**
   * With `dispatch: 'shared'`: how often the supervisor looks for queued
   * tasks it could claim besides reacting to events (a safety net for
   * missed events and slots freed by other processes).
   * @default 5000
   */
  sweepIntervalMs?: number | undefined
  /**
   * Recorded as `workerId` on the tasks this supervisor claims.
   * @default a random id per supervisor
   */
  workerId?: string | undefined
  /**
   * Receives failures that have no caller to go to (an executor's cancel
   * that threw, a housekeeping pass that failed).
   * @default console.error
   */
  onError?: ((error: unknown, context: string) => void) | undefined
  /**
   * Where deadlines, cancel graces, wait timeouts, housekeeping and the
   * close grace are timed. A manual clock (`createManualClock` from
   * `session-tasks/testing`) fires them when it is moved; give the registry
   * (or `now`) the same clock; `close()` waits out its grace on it too.
   * The shared-dispatch sweep stays on the platform's timers.
   * @default the platform's `setTimeout`
   */
  timers?: TimerSource | undefined
}

export type { DispatchMode } from '../model/supervisor-schemas.js'

/** Options of `supervisor.spawn`. */
export type SpawnOptions = {
  /** Cancel the task this long after spawn; fail it with `timeout` if it does not settle. */
  timeoutMs?: number | undefined
  /**
   * Ties the task to the caller's work (an agent's turn). Aborted before
   * spawn: it rejects with the signal's reason and creates nothing. Aborted
   * before spawn resolves: it rejects with the reason, and the task it
   * created is canceled. Aborted later, while the task is not terminal: the
   * task is canceled as by `cancel()`, with the reason's message as the
   * cancel reason. The listener is removed once the task is terminal. A
   * spawn that returns an existing task (a caller id seen before) does not
   * tie that task to the signal.
   */
  signal?: AbortSignal | undefined
}

/** Options of `supervisor.cancel`. */
export type CancelOptions = {
  /**
   * Why: the message of `ctx.signal.reason` the executor sees, and the
   * `stateDetail` when the supervisor ends the task itself (a queued task,
   * or the forced end after `cancelGraceMs`).
   */
  reason?: string | undefined
  /** Aborted before the cancel request is recorded: rejects with its reason, records nothing. */
  signal?: AbortSignal | undefined
}

/** Options of `supervisor.message`. */
export type MessageOptions = {
  /**
   * Aborted before the message is recorded (also while it waits behind an
   * earlier message of the task): rejects with its reason, records nothing.
   * Once recorded, the message is delivered whatever the signal does.
   */
  signal?: AbortSignal | undefined
}

/** The body of `supervisor.message`: `text` or `content`. */
export type SupervisorMessage = {
  text?: string | undefined
  content?: readonly TaskMessagePart[] | undefined
  inReplyTo?: string | undefined
}

/** Whether the executor took an inbound message. */
export type MessageDelivery = 'delivered' | { failed: string }

/** Options of `supervisor.wait`, `waitAny` and `waitAll`. */
export type WaitOptions = {
  /**
   * `terminal` (succeeded, failed or canceled), or `settled` (terminal or
   * `awaiting_input`). A task that asks for input is not done: with
   * `terminal` the wait goes on past `awaiting_input`; a runtime that
   * answers questions waits with `settled`.
   * @default 'terminal'
   */
  until?: 'terminal' | 'settled' | undefined
  /**
   * Give up after this long and resolve with `timedOut: true` (and the
   * current records).
   * @default no timeout: the wait lasts until the task matches, is deleted, or `signal` aborts
   */
  timeoutMs?: number | undefined
  /** Reject with the signal's reason when aborted (at once when already aborted). */
  signal?: AbortSignal | undefined
}

/** One task, by session and id (`supervisor.waitAny`, `waitAll`). */
export type TaskRef = {
  sessionId: string
  taskId: string
}

/**
 * What `supervisor.waitAny` resolves with: the first task (lowest index
 * among those that matched at once) and every task's fresh record, in
 * `refs` order; on a timeout, only the records.
 */
export type WaitAnyResult =
  | { timedOut: false; index: number; task: SessionTask; tasks: SessionTask[] }
  | { timedOut: true; index?: undefined; task?: undefined; tasks: SessionTask[] }

/** What `supervisor.waitAll` resolves with: every task's fresh record, in `refs` order. */
export type WaitAllResult = {
  tasks: SessionTask[]
  /** True when `timeoutMs` passed first; then some `tasks` do not match. */
  timedOut: boolean
}

/** Options of `supervisor.startHousekeeping`. */
export type HousekeepingOptions = {
  /** @default 60000 */
  intervalMs?: number | undefined
  /** @default 300000 */
  staleAfterMs?: number | undefined
  /** @default 3 */
  maxAttempts?: number | undefined
  /** @default 30 days */
  retainFinishedMs?: number | undefined
  /** @default 50 */
  limit?: number | undefined
  /** @default the supervisor's onError */
  onError?: ((error: unknown, context: string) => void) | undefined
}
