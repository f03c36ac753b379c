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
  const all = refs.map((_, i) => i)
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
    const finish = (timedOut: boolean, known?: SessionTask[]) => {
      if (done) return
      const hits = [...matched]
      cleanup()
      const read: Promise<readonly (SessionTask | undefined)[]> =
        known !== undefined
          ? Promise.resolve(known)
          : Promise.all(refs.map((r) => registry.get(r.sessionId, r.taskId)))
      read.then((tasks) => {
        const missing = tasks.indexOf(undefined)
        const ref = refs[missing]
        if (ref !== undefined) reject(notFound(ref))
        else resolve({ tasks: tasks as SessionTask[], matched: hits, timedOut })
      }, reject)
    }
    // Reads the tasks at `which`; a record newer than any event seen since sets their match.
    const check = (which: readonly number[]) => {
      const at = which.map((i) => versions[i])
      Promise.all(
        which.map((i) => {
          const ref = refs[i] as TaskRef
          return registry.get(ref.sessionId, ref.taskId)
        }),
      ).then((tasks) => {
        if (done) return
        let fresh = which.length === refs.length
        for (const [k, i] of which.entries()) {
          const task = tasks[k]
          if (task === undefined) return fail(notFound(refs[i] as TaskRef))
          if (versions[i] !== at[k]) fresh = false
          else matched[i] = matches(task)
        }
        if (complete(matched)) finish(false, fresh ? (tasks as SessionTask[]) : undefined)
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
          if (complete(matched)) finish(false)
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
      check(all.filter((i) => refs[i]?.sessionId === gap.sessionId))
    })
    if (unhookGap !== undefined) stops.push(unhookGap)
    if (signal !== undefined) {
      const onAbort = () => fail(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      stops.push(() => signal.removeEventListener('abort', onAbort))
    }
    if (timeoutMs !== undefined) stops.push(timers.startTimer(timeoutMs, () => finish(true)))
    check(all)
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
