import { disposeKey } from '../model/dispose.js'
import { registryWith } from '../model/registry-shape.js'
import {
  SessionIdSchema,
  type SessionTask,
  type TaskError,
  type TaskWake,
} from '../model/schemas.js'
import { WakeWaitOptionsSchema } from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { wakeForRecord } from '../rules/wake.js'
import { taskKey } from './task-key.js'
import { startTimer } from './timer.js'

/** Collects wakes of every session until the agent loop drains them. */
export type WakeQueue = {
  /** Returns and removes the session's pending wakes, oldest first. */
  drain(sessionId: string): TaskWake[]
  /** Counts the session's pending wakes without removing them. */
  pending(sessionId: string): number
  /**
   * Drops the task's terminal wake, pending or still to come: for a caller
   * that already told the agent how the task ended (a quick tool call
   * answered in the foreground).
   */
  discardTerminal(sessionId: string, taskId: string): void
  /**
   * Takes the session's oldest pending wake, or waits for its next one:
   * resolves `undefined` after `timeoutMs` or when the queue stops, rejects
   * with the signal's reason when it aborts. Each wake goes to one taker
   * (or one `drain`), never two.
   */
  next(sessionId: string, options?: WakeWaitOptions): Promise<TaskWake | undefined>
  /**
   * The session's wakes as they come, for `for await`: each one once, shared
   * with `next` and `drain`. The loop ends (without an error) when `signal`
   * aborts or the queue stops; breaking out of it lets go at once.
   */
  wakes(sessionId: string, options?: { signal?: AbortSignal | undefined }): AsyncIterable<TaskWake>
  /**
   * The wake's text for an agent: `wake.text`, plus a `- error: <message>`
   * line for a task that failed with an error this queue saw (SPEC 5 fixes
   * `wake.text` itself, which has no error line).
   */
  describe(wake: TaskWake): string
  /** Stops collecting; pending wakes stay drainable, and waiting takers get `undefined`. */
  stop(): void
  /** The same as `stop()`: `using queue = createWakeQueue(registry)`. */
  [Symbol.dispose](): void
}

/** How long {@link WakeQueue.next} waits. */
export type WakeWaitOptions = {
  /** Resolve `undefined` after this many ms without a wake. */
  timeoutMs?: number | undefined
  /** Reject with its reason when it aborts. */
  signal?: AbortSignal | undefined
}

const WakeSourceSchema = registryWith(['subscribeAll'])
// An iteration has no timeout of its own: it ends on its signal or `stop()`.
const WakeIterationOptionsSchema = WakeWaitOptionsSchema.omit({ timeoutMs: true })

type Taker = { give: (wake: TaskWake | undefined) => void }

// Wakes of state changes remembered so a rebuild after lost events does not
// raise them twice; the oldest are forgotten first.
const REMEMBERED = 10_000

// A task ends once, so its terminal wake is known by its id alone; an
// awaiting-input wake by the time it was raised, which a rebuild can only
// estimate (the record's updatedAt): it may repeat such a wake, never lose one.
const wakeKey = (wake: TaskWake) =>
  wake.transition === 'terminal'
    ? `${wake.taskId}\u0000terminal`
    : `${wake.taskId}\u0000${wake.transition}\u0000${wake.createdAt}`

/**
 * Collects every `task.wake` of every session from now on (through
 * `subscribeAll`), so an agent loop can pick them up between turns. A deleted
 * session's pending wakes are dropped when the registry reports deletions.
 * When the registry reports lost events (`onEventGap`), the session's
 * records are read again and the terminal and awaiting-input wakes they
 * imply are added, unless seen already.
 */
export function createWakeQueue(registry: SessionTaskRegistry): WakeQueue {
  parseInput(WakeSourceSchema, registry, 'registry')
  const pending = new Map<string, TaskWake[]>()
  const seen = new Set<string>()
  // A registry-like object may lack a clock; wakes older than the queue are not its business.
  const since = (typeof registry.now === 'function' ? registry.now() : new Date()).toISOString()
  const takers = new Map<string, Taker[]>()
  // The error of a task that just failed, until its terminal wake comes
  // (the update's event comes first); then the error of the wake itself.
  const failures = new Map<string, TaskError>()
  const errors = new WeakMap<TaskWake, TaskError>()
  const noteFailure = (sessionId: string, task: SessionTask) => {
    if (task.state !== 'failed' || task.error === undefined) return
    failures.set(taskKey(sessionId, task.id), task.error)
    if (failures.size > REMEMBERED) failures.delete(failures.keys().next().value as string)
  }
  let stopped = false
  const add = (sessionId: string, wake: TaskWake) => {
    if (wake.transition !== 'message') {
      seen.add(wakeKey(wake))
      if (seen.size > REMEMBERED) seen.delete(seen.values().next().value as string)
    }
    // A waiting taker gets it straight away, oldest taker first.
    const waiting = takers.get(sessionId)
    const taker = waiting?.shift()
    if (waiting?.length === 0) takers.delete(sessionId)
    if (taker !== undefined) {
      taker.give(wake)
      return
    }
    const list = pending.get(sessionId)
    if (list === undefined) pending.set(sessionId, [wake])
    else list.push(wake)
  }
  const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
    if (type === 'task.updated') noteFailure(sessionId, (payload as { task: SessionTask }).task)
    if (type !== 'task.wake') return
    const wake = payload as TaskWake
    // A rebuild after a gap may have raised it already (the record was read
    // before the event arrived).
    if (wake.transition !== 'message' && seen.has(wakeKey(wake))) return
    const copy = { ...wake }
    if (wake.transition === 'terminal') {
      const key = taskKey(sessionId, wake.taskId)
      const error = failures.get(key)
      failures.delete(key)
      if (error !== undefined) errors.set(copy, error)
    }
    add(sessionId, copy)
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => pending.delete(sessionId))
  const unhookGap = registry.onEventGap?.((gap) => {
    registry.list(gap.sessionId).then(
      (tasks) => {
        if (stopped) return
        for (const task of tasks) {
          const wake = wakeForRecord(task)
          if (wake === undefined || wake.createdAt < since || seen.has(wakeKey(wake))) continue
          if (
            wake.transition === 'terminal' &&
            task.state === 'failed' &&
            task.error !== undefined
          ) {
            errors.set(wake, task.error)
          }
          add(gap.sessionId, wake)
        }
      },
      (error: unknown) =>
        console.error(
          `session-tasks: rebuilding wakes of session '${gap.sessionId}' failed`,
          error,
        ),
    )
  })
  const queue: WakeQueue = {
    drain(sessionId) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const list = pending.get(sid) ?? []
      pending.delete(sid)
      return list
    },
    pending(sessionId) {
      return pending.get(parseInput(SessionIdSchema, sessionId, 'sessionId'))?.length ?? 0
    },
    discardTerminal(sessionId, taskId) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const key = `${taskId}\u0000terminal`
      // Remembered as seen, a terminal wake arriving later is ignored too.
      seen.add(key)
      if (seen.size > REMEMBERED) seen.delete(seen.values().next().value as string)
      const list = pending.get(sid)
      if (list === undefined) return
      const kept = list.filter((w) => !(w.taskId === taskId && w.transition === 'terminal'))
      if (kept.length === 0) pending.delete(sid)
      else pending.set(sid, kept)
    },
    next(sessionId, options) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const opts =
        options === undefined ? {} : parseInput(WakeWaitOptionsSchema, options, 'WakeWaitOptions')
      return take(sid, opts)
    },
    wakes(sessionId, options) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const opts =
        options === undefined
          ? {}
          : parseInput(WakeIterationOptionsSchema, options, 'WakeWaitOptions')
      const { signal } = opts
      return {
        async *[Symbol.asyncIterator]() {
          while (!signal?.aborted) {
            let wake: TaskWake | undefined
            try {
              wake = await take(sid, { signal })
            } catch (error) {
              // The loop's end, not a failure: the caller's work was aborted.
              if (signal?.aborted) return
              throw error
            }
            if (wake === undefined) return
            yield wake
          }
        },
      }
    },
    describe(wake) {
      const error = errors.get(wake)
      return error === undefined ? wake.text : `${wake.text}\n- error: ${error.message}`
    },
    stop,
    [disposeKey()]: stop,
  } as WakeQueue

  function take(sid: string, opts: WakeWaitOptions): Promise<TaskWake | undefined> {
    const list = pending.get(sid)
    const first = list?.shift()
    if (list?.length === 0) pending.delete(sid)
    if (first !== undefined) return Promise.resolve(first)
    if (stopped) return Promise.resolve(undefined)
    const { signal, timeoutMs } = opts
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      let cancelTimer: (() => void) | undefined
      const leave = () => {
        cancelTimer?.()
        signal?.removeEventListener('abort', onAbort)
        const waiting = takers.get(sid)
        if (waiting === undefined) return
        const at = waiting.indexOf(taker)
        if (at >= 0) waiting.splice(at, 1)
        if (waiting.length === 0) takers.delete(sid)
      }
      const taker: Taker = {
        give: (wake) => {
          leave()
          resolve(wake)
        },
      }
      function onAbort() {
        leave()
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeoutMs !== undefined) cancelTimer = startTimer(timeoutMs, () => taker.give(undefined))
      const waiting = takers.get(sid)
      if (waiting === undefined) takers.set(sid, [taker])
      else waiting.push(taker)
    })
  }

  function stop() {
    if (stopped) return
    stopped = true
    unsubscribe()
    unhook?.()
    unhookGap?.()
    for (const waiting of [...takers.values()])
      for (const taker of [...waiting]) taker.give(undefined)
    takers.clear()
  }

  return queue
}
