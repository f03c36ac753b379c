import { TaskNotFoundError } from '../model/errors.js'
import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { TaskRef, WaitAllResult, WaitAnyResult } from './supervisor-options.js'
import { taskKey } from './task-key.js'
import { platformTimers, type TimerSource } from './timer.js'

/** A validated wait: what to wait for, and for how long. */
export type TaskWait = {
  /** `terminal`, or `settled` (terminal or awaiting_input). */
  until: 'terminal' | 'settled'
  /** Give up after this long and resolve with `timedOut: true`. */
  timeoutMs?: number | undefined
  /** Reject with the signal's reason when aborted. */
  signal?: AbortSignal | undefined
  /** Where the timeout is timed. @default the platform's timers */
  timers?: TimerSource | undefined
}

type Settled = { tasks: SessionTask[]; matched: boolean[]; timedOut: boolean }

const notFound = (ref: TaskRef) =>
  new TaskNotFoundError(`task '${ref.taskId}' not found in session '${ref.sessionId}'`)

/**
 * Resolves once `complete` holds over which tasks match `wait.until`, or on
 * the timeout, with every task's fresh record (event payloads are public
 * projections, so the result is read). Rejects when a task is unknown or
 * deleted, a read fails, or `wait.signal` aborts. Driven by the registry's
 * events, never by polling; every listener and timer is released when it settles.
 */
function awaitTasks(
  registry: SessionTaskRegistry,
  refs: readonly TaskRef[],
  wait: TaskWait,
  complete: (matched: readonly boolean[]) => boolean,
): Promise<Settled> {
  const { until, signal, timeoutMs } = wait
  const timers = wait.timers ?? platformTimers
  const matches = (task: SessionTask) =>
    isTerminalState(task.state) || (until === 'settled' && task.state === 'awaiting_input')
  const indexOf = new Map(refs.map((ref, i) => [taskKey(ref.sessionId, ref.taskId), i]))
  const sessions = new Set(refs.map((ref) => ref.sessionId))
  const matched = refs.map(() => false)
  // Bumped by each event of a task: a read begun before it is older and must not win.
  const versions = refs.map(() => 0)
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    let done = false
    const stops: (() => void)[] = []
    const cleanup = () => {
      done = true
      for (const stop of stops.splice(0)) stop()
    }
    const fail = (error: unknown) => {
      if (done) return
      cleanup()
      reject(error)
    }
    // The timeout: every task's record as it is now, matched or not.
    const timeOut = () => {
      if (done) return
      const hits = [...matched]
      cleanup()
      Promise.all(refs.map((r) => registry.get(r.sessionId, r.taskId))).then((tasks) => {
        const ref = refs[tasks.indexOf(undefined)]
        if (ref !== undefined) reject(notFound(ref))
        else resolve({ tasks: tasks as SessionTask[], matched: hits, timedOut: true })
      }, reject)
    }
    // Reads every task and resolves only if the records themselves complete
    // the wait, so a task that moved on after its matching event is not
    // returned as a match. A record overtaken by an event during the read is
    // stale: that event's state stands, and a wait it completes reads again.
    // One read at a time: a burst of events costs one more read, not one each.
    let reading = false
    let again = false
    const check = () => {
      if (reading) {
        again = true
        return
      }
      reading = true
      again = false
      const at = [...versions]
      Promise.all(refs.map((r) => registry.get(r.sessionId, r.taskId))).then((tasks) => {
        reading = false
        if (done) return
        const missing = tasks.indexOf(undefined)
        if (missing >= 0) return fail(notFound(refs[missing] as TaskRef))
        let fresh = true
        for (const [i, task] of tasks.entries()) {
          if (versions[i] !== at[i]) fresh = false
          else matched[i] = matches(task as SessionTask)
        }
        // Asked again during the read (a gap, or an event): read once more.
        if (again) return check()
        if (!complete(matched)) return
        if (!fresh) return check()
        const hits = [...matched]
        cleanup()
        resolve({ tasks: tasks as SessionTask[], matched: hits, timedOut: false })
      }, fail)
    }
    // Listen first, then read: no transition can fall in between.
    for (const sid of sessions) {
      stops.push(
        registry.subscribe(sid, (type, payload) => {
          if (done) return
          if (type === 'task.deleted') {
            const i = indexOf.get(taskKey(sid, (payload as { taskId: string }).taskId))
            if (i !== undefined) fail(notFound(refs[i] as TaskRef))
            return
          }
          if (type !== 'task.updated') return
          const { task } = payload as { task: SessionTask }
          const i = indexOf.get(taskKey(sid, task.id))
          if (i === undefined) return
          versions[i] = (versions[i] ?? 0) + 1
          matched[i] = matches(task)
          if (complete(matched)) check()
        }),
      )
    }
    const unhookDelete = registry.onSessionDeleted?.((deleted) => {
      const ref = refs.find((r) => r.sessionId === deleted)
      if (ref !== undefined)
        fail(new TaskNotFoundError(`task '${ref.taskId}' was deleted with session '${deleted}'`))
    })
    if (unhookDelete !== undefined) stops.push(unhookDelete)
    // Lost events may have held the transition waited for: read that session's tasks again.
    const unhookGap = registry.onEventGap?.((gap) => {
      if (done || !sessions.has(gap.sessionId)) return
      check()
    })
    if (unhookGap !== undefined) stops.push(unhookGap)
    if (signal !== undefined) {
      const onAbort = () => fail(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      stops.push(() => signal.removeEventListener('abort', onAbort))
    }
    try {
      if (timeoutMs !== undefined) stops.push(timers.startTimer(timeoutMs, timeOut))
    } catch (error) {
      // A timer source that throws must not leave the listeners above attached.
      fail(error)
      return
    }
    check()
  })
}

/**
 * Resolves when the task reaches what `wait.until` asks for, or times out;
 * rejects when the task is unknown or deleted, or `wait.signal` aborts.
 */
export async function waitForTask(
  registry: SessionTaskRegistry,
  sid: string,
  tid: string,
  wait: TaskWait,
): Promise<{ task: SessionTask; timedOut: boolean }> {
  const settled = await awaitTasks(
    registry,
    [{ sessionId: sid, taskId: tid }],
    wait,
    (m) => m[0] === true,
  )
  return { task: settled.tasks[0] as SessionTask, timedOut: settled.timedOut }
}

/** Resolves when any of `refs` matches `wait.until` (see {@link WaitAnyResult}), or times out. */
export async function waitForAny(
  registry: SessionTaskRegistry,
  refs: readonly TaskRef[],
  wait: TaskWait,
): Promise<WaitAnyResult> {
  const settled = await awaitTasks(registry, refs, wait, (m) => m.includes(true))
  if (settled.timedOut) return { timedOut: true, tasks: settled.tasks }
  const index = settled.matched.indexOf(true)
  return { timedOut: false, index, task: settled.tasks[index] as SessionTask, tasks: settled.tasks }
}

/** Resolves when every one of `refs` matches `wait.until` at once, or times out. */
export async function waitForAll(
  registry: SessionTaskRegistry,
  refs: readonly TaskRef[],
  wait: TaskWait,
): Promise<WaitAllResult> {
  const settled = await awaitTasks(registry, refs, wait, (m) => m.every(Boolean))
  return { tasks: settled.tasks, timedOut: settled.timedOut }
}
