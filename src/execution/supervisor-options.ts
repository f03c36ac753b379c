import type { TaskMessagePart } from '../model/schemas.js'
import type { DispatchMode } from '../model/supervisor-schemas.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { ConcurrencyLimits } from './admission.js'
import type { TaskExecutorRegistry } from './executor-registry.js'

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
}

export type { DispatchMode } from '../model/supervisor-schemas.js'

/** Options of `supervisor.spawn`. */
export type SpawnOptions = {
  /** Cancel the task this long after spawn; fail it with `timeout` if it does not settle. */
  timeoutMs?: number | undefined
}

/** The body of `supervisor.message`: `text` or `content`. */
export type SupervisorMessage = {
  text?: string | undefined
  content?: readonly TaskMessagePart[] | undefined
  inReplyTo?: string | undefined
}

/** Whether the executor took an inbound message. */
export type MessageDelivery = 'delivered' | { failed: string }

/** Options of `supervisor.wait`. */
export type WaitOptions = {
  /**
   * `terminal`, or `settled` (terminal or awaiting_input).
   * @default 'terminal'
   */
  until?: 'terminal' | 'settled' | undefined
  /** Give up after this long and resolve with `timedOut: true`. */
  timeoutMs?: number | undefined
  /** Reject with the signal's reason when aborted. */
  signal?: AbortSignal | undefined
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
