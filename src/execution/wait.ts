import { TaskNotFoundError } from '../model/errors.js'
import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { startTimer } from './timer.js'

/** A validated wait: what to wait for, and for how long. */
export type TaskWait = {
  /** `terminal`, or `settled` (terminal or awaiting_input). */
  until: 'terminal' | 'settled'
  /** Give up after this long and resolve with `timedOut: true`. */
  timeoutMs?: number | undefined
  /** Reject with the signal's reason when aborted. */
  signal?: AbortSignal | undefined
}

/**
 * Resolves when the task reaches what `wait.until` asks for, or times out;
 * rejects when the task is unknown or deleted, or `wait.signal` aborts.
 * Driven by the registry's events, never by polling.
 */
export function waitForTask(
  registry: SessionTaskRegistry,
  sid: string,
  tid: string,
  wait: TaskWait,
): Promise<{ task: SessionTask; timedOut: boolean }> {
  const { until, signal, timeoutMs } = wait
  const matches = (task: SessionTask) =>
    isTerminalState(task.state) || (until === 'settled' && task.state === 'awaiting_input')
  return new Promise((resolve, reject) => {
    let done = false
    let cancelTimer: (() => void) | undefined
    const cleanup = () => {
      done = true
      off()
      unhookDelete?.()
      unhookGap?.()
      cancelTimer?.()
      signal?.removeEventListener('abort', onAbort)
    }
    const finish = (timedOut: boolean) => {
      if (done) return
      cleanup()
      registry.get(sid, tid).then((task) => {
        if (task === undefined)
          reject(new TaskNotFoundError(`task '${tid}' not found in session '${sid}'`))
        else resolve({ task, timedOut })
      }, reject)
    }
    function onAbort() {
      if (done) return
      cleanup()
      reject(signal?.reason)
    }
    // Listen first, then read: no transition can fall in between.
    const off = registry.subscribe(sid, (type, payload) => {
      // Deleted: the read that follows finds nothing and rejects.
      if (type === 'task.deleted' && (payload as { taskId: string }).taskId === tid) finish(false)
      if (type !== 'task.updated') return
      const { task } = payload as { task: SessionTask }
      if (task.id === tid && matches(task)) finish(false)
    })
    const unhookDelete = registry.onSessionDeleted?.((deleted) => {
      if (deleted !== sid || done) return
      cleanup()
      reject(new TaskNotFoundError(`task '${tid}' was deleted with session '${sid}'`))
    })
    const check = () =>
      registry.get(sid, tid).then(
        (task) => {
          if (done) return
          if (task === undefined) {
            cleanup()
            reject(new TaskNotFoundError(`task '${tid}' not found in session '${sid}'`))
          } else if (matches(task)) {
            cleanup()
            resolve({ task, timedOut: false })
          }
        },
        (error: unknown) => {
          if (done) return
          cleanup()
          reject(error)
        },
      )
    // Lost events may have held the transition waited for: read again.
    const unhookGap = registry.onEventGap?.((gap) => {
      if (gap.sessionId === sid && !done) void check()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeoutMs !== undefined) cancelTimer = startTimer(timeoutMs, () => finish(true))
    void check()
  })
}
