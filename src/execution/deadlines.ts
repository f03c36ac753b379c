import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { taskKey } from './task-key.js'
import { startTimer } from './timer.js'

/** What {@link Deadlines} needs from the supervisor that owns it. */
export type DeadlineDeps = {
  registry: SessionTaskRegistry
  /** How long a canceled task may take to settle before it is failed with `timeout`. */
  cancelGraceMs: number
  onError: (error: unknown, context: string) => void
  /** Cancels the task if it has not started yet; true when it had not. */
  cancelWaiting: (task: SessionTask, detail: string) => Promise<boolean>
  /** Cancels the running task (signal and `executor.cancel`). */
  cancelRunning: (task: SessionTask) => Promise<void>
  /** The attempt the task's live run works on, if it has one. */
  attemptOf: (key: string) => number | undefined
  /** True once the supervisor is closing: no grace timer is started then. */
  isClosed: () => boolean
}

/**
 * Spawn timeouts: at the deadline the task is canceled like `cancel()`, and
 * failed with `timeout` if it has not settled `cancelGraceMs` later.
 */
export class Deadlines {
  private readonly deps: DeadlineDeps
  private readonly deadlines = new Map<string, () => void>()
  private readonly graces = new Map<string, () => void>()

  constructor(deps: DeadlineDeps) {
    this.deps = deps
  }

  /** Times the task out `timeoutMs` from now. */
  arm(sessionId: string, taskId: string, timeoutMs: number): void {
    this.deadlines.set(
      taskKey(sessionId, taskId),
      startTimer(timeoutMs, () => void this.expire(sessionId, taskId, timeoutMs)),
    )
  }

  /** True while the task's deadline has not passed. */
  pending(key: string): boolean {
    return this.deadlines.has(key)
  }

  /** Stops the task's deadline and grace timers. */
  clear(key: string): void {
    this.deadlines.get(key)?.()
    this.deadlines.delete(key)
    this.graces.get(key)?.()
    this.graces.delete(key)
  }

  /** Stops every timer. */
  clearAll(): void {
    for (const key of [...this.deadlines.keys(), ...this.graces.keys()]) this.clear(key)
  }

  private async expire(sessionId: string, taskId: string, timeoutMs: number): Promise<void> {
    const { registry, onError } = this.deps
    const key = taskKey(sessionId, taskId)
    this.deadlines.delete(key)
    try {
      const task = await registry.get(sessionId, taskId)
      if (task === undefined || isTerminalState(task.state)) return
      const detail = `timed out after ${timeoutMs} ms before it started`
      if (await this.deps.cancelWaiting(task, detail)) return
      await registry.requestCancel(sessionId, taskId)
      await this.deps.cancelRunning(task)
      const attempt = this.deps.attemptOf(key) ?? task.attempt
      const after = await registry.get(sessionId, taskId)
      if (after === undefined || isTerminalState(after.state) || this.deps.isClosed()) return
      this.graces.set(
        key,
        startTimer(this.deps.cancelGraceMs, () => {
          this.graces.delete(key)
          registry
            .update(sessionId, taskId, {
              state: 'failed',
              error: { kind: 'timeout', message: `task timed out after ${timeoutMs} ms` },
              expectedAttempt: attempt,
            })
            .catch((error: unknown) => onError(error, `failing timed-out task '${taskId}'`))
        }),
      )
    } catch (error) {
      onError(error, `timing out task '${taskId}'`)
    }
  }
}
