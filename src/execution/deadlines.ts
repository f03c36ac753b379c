import type { SessionTask, SessionTaskUpdate } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { taskKey } from './task-key.js'
import type { TimerSource } from './timer.js'

/** What {@link Deadlines} needs from the supervisor that owns it. */
export type DeadlineDeps = {
  registry: SessionTaskRegistry
  /** How long a canceled or timed-out task may take to settle before it is ended. */
  cancelGraceMs: number
  onError: (error: unknown, context: string) => void
  /** Cancels the task if it has not started yet; true when it had not. */
  cancelWaiting: (task: SessionTask, detail: string) => Promise<boolean>
  /** Cancels the running task (signal and `executor.cancel`). */
  cancelRunning: (task: SessionTask) => Promise<void>
  /** Notes that the task's run here is about to be timed out (before its cancel request is written). */
  intendTimeout: (key: string) => void
  clock: () => Date
  /** The attempt the task's live run works on, if it has one. */
  attemptOf: (key: string) => number | undefined
  /** True once the supervisor is closing: no grace timer is started then. */
  isClosed: () => boolean
  timers: TimerSource
}

// The latest instant a stored timestamp can hold (a four-digit year): a
// later deadline is timed here but not stored.
const MAX_STORED_MS = Date.parse('9999-12-31T23:59:59.999Z')

/**
 * The deadline a spawn stores and the timer it arms: the earlier of
 * `timeoutMs` from now and the input's own `deadlineAt`. A deadline past
 * year 9999 (no stored timestamp can hold it) is armed but not stored.
 */
export function spawnDeadline(
  now: Date,
  timeoutMs: number | undefined,
  deadlineAt: string | undefined,
): { deadlineAt: string | undefined; timeoutMs: number | undefined } {
  const given = deadlineAt === undefined ? undefined : Date.parse(deadlineAt)
  const fromTimeout = timeoutMs === undefined ? undefined : now.getTime() + timeoutMs
  const at =
    given === undefined
      ? fromTimeout
      : fromTimeout === undefined
        ? given
        : Math.min(given, fromTimeout)
  if (at === undefined) return { deadlineAt: undefined, timeoutMs: undefined }
  return {
    deadlineAt: at <= MAX_STORED_MS ? new Date(at).toISOString() : deadlineAt,
    timeoutMs: Math.max(0, at - now.getTime()),
  }
}

/**
 * Spawn timeouts and forced ends: at the deadline the task is canceled like
 * `cancel()` and failed with `timeout` if it has not settled `cancelGraceMs`
 * later; a canceled task that has not settled by then ends `canceled`.
 */
export class Deadlines {
  private readonly deps: DeadlineDeps
  private readonly deadlines = new Map<string, () => void>()
  private readonly graces = new Map<string, { stop: () => void; attempt: number }>()
  // Deadlines being enforced right now (between the timer or sweep and the forced end's arming).
  private readonly expiring = new Set<string>()

  constructor(deps: DeadlineDeps) {
    this.deps = deps
  }

  /** Times the task out `timeoutMs` from now. */
  arm(sessionId: string, taskId: string, timeoutMs: number): void {
    const key = taskKey(sessionId, taskId)
    // A claim may have armed the stored deadline first: one timer per task.
    this.deadlines.get(key)?.()
    this.deadlines.set(
      key,
      this.deps.timers.startTimer(
        timeoutMs,
        () => void this.expire(sessionId, taskId, `after ${timeoutMs} ms`),
      ),
    )
  }

  /** Times the task out at its stored `deadlineAt` (a task claimed here); no-op without one. */
  armAt(task: SessionTask): void {
    const at = task.deadlineAt
    const key = taskKey(task.sessionId, task.id)
    if (at === undefined || this.deadlines.has(key)) return
    const delay = Math.max(0, Date.parse(at) - this.deps.clock().getTime())
    this.deadlines.set(
      key,
      this.deps.timers.startTimer(
        delay,
        () => void this.expire(task.sessionId, task.id, `at its deadline ${at}`),
      ),
    )
  }

  /**
   * The housekeeping pass (SPEC 12.4): enforces the stored deadline of every
   * task in the registry, whoever spawned it, that no timer here covers:
   * a queued one is canceled, a running one is canceled and then forced to
   * `failed`/`timeout` `cancelGraceMs` after its deadline. Every write is
   * fenced, so supervisors sweeping at once end a task once.
   */
  async sweep(limit: number): Promise<number> {
    const listOverdue = this.deps.registry.listOverdue
    if (listOverdue === undefined) return 0
    const now = this.deps.clock()
    const overdue = await listOverdue.call(this.deps.registry, { deadlineBefore: now, limit })
    let handled = 0
    for (const task of overdue) {
      if (this.pending(taskKey(task.sessionId, task.id)) || task.deadlineAt === undefined) continue
      const graceLeft = Date.parse(task.deadlineAt) + this.deps.cancelGraceMs - now.getTime()
      // Not awaited: one slow executor.cancel must not hold up the pass (or housekeeping).
      void this.expire(task.sessionId, task.id, `at its deadline ${task.deadlineAt}`, graceLeft)
      handled++
    }
    return handled
  }

  /** True while the task has a deadline or a grace timer armed here (or is being timed out). */
  pending(key: string): boolean {
    return this.deadlines.has(key) || this.graces.has(key) || this.expiring.has(key)
  }

  /** Stops the timers of every task of `sessionId` (its session was deleted). */
  clearSession(sessionId: string): void {
    const prefix = taskKey(sessionId, '')
    for (const key of [...this.deadlines.keys(), ...this.graces.keys()]) {
      if (key.startsWith(prefix)) this.clear(key)
    }
  }

  /** Stops the task's deadline and grace timers. */
  clear(key: string): void {
    this.deadlines.get(key)?.()
    this.deadlines.delete(key)
    this.graces.get(key)?.stop()
    this.graces.delete(key)
  }

  /** Stops every timer. */
  clearAll(): void {
    for (const key of [...this.deadlines.keys(), ...this.graces.keys()]) this.clear(key)
  }

  /**
   * After a `cancel()`: ends the task `canceled` if it is still not terminal
   * `cancelGraceMs` from now (an executor that ignores its signal); the
   * cancel's `reason`, if any, ends the detail line.
   */
  graceAfterCancel(task: SessionTask, reason?: string): void {
    if (this.deps.isClosed()) return
    const key = taskKey(task.sessionId, task.id)
    const attempt = this.deps.attemptOf(key) ?? task.attempt
    // A second cancel of the same attempt keeps the first grace.
    if (this.graces.get(key)?.attempt === attempt) return
    this.force(task.sessionId, task.id, attempt, {
      state: 'canceled',
      stateDetail: `did not stop within ${this.deps.cancelGraceMs} ms of cancel${
        reason === undefined ? '' : `: ${reason}`
      }`,
    })
  }

  /**
   * Ends the task with `update` `cancelGraceMs` from now unless it settles
   * first. The write starts a new attempt, so whatever the old worker writes
   * later is rejected by its fence, and the terminal state frees the slot.
   */
  private force(
    sessionId: string,
    taskId: string,
    attempt: number,
    update: Pick<SessionTaskUpdate, 'state' | 'stateDetail' | 'error'>,
    delayMs: number = this.deps.cancelGraceMs,
  ): void {
    const { registry, onError } = this.deps
    const key = taskKey(sessionId, taskId)
    this.graces.get(key)?.stop()
    const stop = this.deps.timers.startTimer(Math.max(0, delayMs), () => {
      this.graces.delete(key)
      registry
        .update(sessionId, taskId, { ...update, expectedAttempt: attempt, incrementAttempt: true })
        .catch((error: unknown) => onError(error, `ending task '${taskId}' after its grace`))
    })
    this.graces.set(key, { stop, attempt })
  }

  // `when` reads "after 500 ms" or "at its deadline <ISO>".
  private async expire(
    sessionId: string,
    taskId: string,
    when: string,
    graceMs?: number,
  ): Promise<void> {
    const { registry, onError } = this.deps
    const key = taskKey(sessionId, taskId)
    this.deadlines.delete(key)
    this.expiring.add(key)
    try {
      const task = await registry.get(sessionId, taskId)
      if (task === undefined || isTerminalState(task.state)) return
      if (await this.deps.cancelWaiting(task, `timed out ${when} before it started`)) return
      // The forced end is armed first: an executor.cancel that never returns
      // cannot hold it off (a terminal write meanwhile clears it).
      if (!this.deps.isClosed()) {
        this.force(
          sessionId,
          taskId,
          this.deps.attemptOf(key) ?? task.attempt,
          {
            state: 'failed',
            error: { kind: 'timeout', message: `task timed out ${when}` },
          },
          graceMs,
        )
      }
      this.deps.intendTimeout(key)
      await registry.requestCancel(sessionId, taskId)
      await this.deps.cancelRunning(task)
    } catch (error) {
      onError(error, `timing out task '${taskId}'`)
    } finally {
      this.expiring.delete(key)
    }
  }
}
