import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { Admission } from './admission.js'
import type { RunTable } from './runs.js'
import { taskKey } from './task-key.js'

/** What {@link Cancellation} needs from the supervisor that owns it. */
export type CancellationDeps = {
  registry: SessionTaskRegistry
  admission: Admission
  runs: RunTable
  /** Ends the task `canceled` if it has not settled `cancelGraceMs` from now. */
  graceAfterCancel: (task: SessionTask, reason: string | undefined) => void
  /** With `dispatch: 'shared'`: queued tasks belong to the registry's queue, not to a wait list here. */
  shared: boolean
}

/** Cancels tasks: queued ones outright, running ones through their signal and executor. */
export class Cancellation {
  private readonly deps: CancellationDeps

  constructor(deps: CancellationDeps) {
    this.deps = deps
  }

  /**
   * `supervisor.cancel`: records the request; a task not started yet is
   * canceled with `detail`, a running one has its signal aborted and its
   * executor's `cancel` called, and is ended after the grace if it does not
   * settle. `reason` is the signal's reason text and ends the detail lines.
   * Returns a fresh read.
   */
  async cancel(sid: string, tid: string, reason?: string): Promise<SessionTask | undefined> {
    const { registry, runs, shared } = this.deps
    // Before the request is written: a shared dispatch reacts to it at once.
    if (reason !== undefined) runs.intend(taskKey(sid, tid), 'canceled', reason)
    const task = await registry.requestCancel(sid, tid)
    if (task === undefined) return undefined
    const detail = `canceled before it started${reason === undefined ? '' : `: ${reason}`}`
    if (!isTerminalState(task.state) && !(await this.cancelWaiting(task, detail, shared))) {
      await runs.cancel(task)
      const after = await registry.get(sid, tid)
      if (after !== undefined && !isTerminalState(after.state)) {
        this.deps.graceAfterCancel(after, reason)
      }
      return after
    }
    return registry.get(sid, tid)
  }

  /**
   * Cancels the task if it has not started: true when it was waiting here,
   * or (`anyQueued`: shared dispatch, and deadlines) queued in the registry
   * and not claimed first; otherwise `cancel()` leaves those to the executor.
   */
  async cancelWaiting(task: SessionTask, detail: string, anyQueued: boolean): Promise<boolean> {
    const { registry, admission, runs, shared } = this.deps
    const key = taskKey(task.sessionId, task.id)
    if (!shared && admission.withdraw(key)) {
      await registry.update(task.sessionId, task.id, { state: 'canceled', stateDetail: detail })
      return true
    }
    if (!anyQueued || runs.has(key) || task.state !== 'queued') return false
    // Queued in the registry, not here (another supervisor's, or anyone's
    // to claim): a compare-and-set, so a claim that won first keeps it.
    const outcome = await registry.updateWithOutcome(task.sessionId, task.id, {
      state: 'canceled',
      stateDetail: detail,
      expectedState: 'queued',
      expectedAttempt: task.attempt,
    })
    return outcome?.applied === true && outcome.changed
  }
}
