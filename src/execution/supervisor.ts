import { checkedClock } from '../model/clock.js'
import { isValidationError, NoExecutorError, UnsupportedOperationError } from '../model/errors.js'
import { generateProcessId } from '../model/ids.js'
import { PruneOptionsSchema } from '../model/scan-schemas.js'
import {
  CreateSessionTaskSchema,
  SessionIdSchema,
  type SessionTask,
  TaskIdSchema,
  type TaskMessagePart,
} from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import {
  CancelOptionsSchema,
  MessageOptionsSchema,
  SpawnOptionsSchema,
  SupervisorMessageSchema,
  SupervisorOptionsSchema,
  WaitOptionsSchema,
  WaitRefsSchema,
} from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { untilAborted } from './abort.js'
import { TaskAbortReason } from './abort-reason.js'
import { Admission } from './admission.js'
import { Cancellation } from './cancellation.js'
import { Deadlines } from './deadlines.js'
import { DeliveryLine, deliverMessage, handOver } from './delivery.js'
import { handBack, runHooks, SharedDispatch } from './dispatcher.js'
import type { ResolvedTaskExecutor } from './executor.js'
import { defaultTaskExecutors, type TaskExecutorRegistry } from './executor-registry.js'
import { ForwardedMessages } from './forwarding.js'
import { recheckAfterGaps } from './gap-recheck.js'
import { Housekeeping } from './housekeeping.js'
import { createReaper } from './reaper.js'
import { RunTable, settleSoon, watchTerminal } from './runs.js'
import { abortReasonText, SpawnSignals } from './spawn-signals.js'
import { Spawner } from './spawner.js'
import type { TaskSupervisorOptions } from './supervisor-options.js'
import { taskKey } from './task-key.js'
import { asyncDisposeKey, type TaskSupervisor } from './task-supervisor.js'
import { platformTimers, type TimerSource } from './timer.js'
import { type TaskWait, waitForAll, waitForAny, waitForTask } from './wait.js'
import { WaitCloser } from './wait-closer.js'

export type { TaskSupervisor } from './task-supervisor.js'

/**
 * Creates the control plane over a registry: spawn with executors, cancel,
 * message, wait, timeouts, concurrency limits, reaping and retention.
 */
export function createTaskSupervisor(options: TaskSupervisorOptions): TaskSupervisor {
  // Read the validated copy only: a getter must not answer differently twice.
  const o = parseInput(SupervisorOptionsSchema, options, 'TaskSupervisorOptions')
  const registry = o.registry as SessionTaskRegistry
  const executors = (o.executors as TaskExecutorRegistry | undefined) ?? defaultTaskExecutors()
  const given = o.now as (() => Date) | undefined
  const clock = given === undefined ? () => registry.now() : checkedClock(given)
  const timers = (o.timers as TimerSource | undefined) ?? platformTimers
  const cancelGraceMs = o.cancelGraceMs ?? 5000
  const onError =
    (o.onError as TaskSupervisorOptions['onError']) ??
    ((error: unknown, context: string) => console.error(`session-tasks: ${context}`, error))
  const shared = o.dispatch === 'shared'
  const claim = registry.claim?.bind(registry)
  const listQueued = registry.listQueued?.bind(registry)
  if (shared && (claim === undefined || listQueued === undefined)) {
    throw new UnsupportedOperationError(
      "dispatch: 'shared' needs a registry with claim and listQueued (the registry core has them)",
    )
  }
  let closed = false
  // The message in flight per task, so answers are delivered one at a time.
  const messaging = new DeliveryLine()
  const signals = new SpawnSignals()
  const waits = new WaitCloser()
  let closing: Promise<void> | undefined

  // The two need each other; the queue is only pumped on a later microtask, after both exist.
  const admission: Admission = new Admission({
    limits: o.concurrency ?? {},
    onError,
    prepare: (queued, wanted) => runs.prepareQueued(queued, wanted),
  })
  const runs = new RunTable({
    registry,
    executors,
    onError,
    slots: admission,
    timers,
    // A bad value is a bug in the executor, hidden if it discarded the
    // write's promise; a stale post or a registry fault reaches its caller.
    onSinkError: (error, context) => {
      if (isValidationError(error)) onError(error, context)
    },
  })
  const cancellation = new Cancellation({
    registry,
    admission,
    runs,
    shared,
    graceAfterCancel: (task, reason) => deadlines.graceAfterCancel(task, reason),
  })
  const deadlines = new Deadlines({
    registry,
    cancelGraceMs,
    onError,
    cancelWaiting: (task, detail) => cancellation.cancelWaiting(task, detail, true),
    // A task of a kind unknown here, running elsewhere, is left to its owner and the forced end.
    cancelRunning: (task) =>
      runs.has(taskKey(task.sessionId, task.id)) || executors.find(task.kind) !== undefined
        ? runs.cancel(task, 'timeout')
        : Promise.resolve(),
    intendTimeout: (key) => runs.intend(key, 'timeout'),
    clock,
    attemptOf: (key) => runs.attemptOf(key),
    isClosed: () => closed,
    timers,
  })

  const dispatch =
    shared && claim !== undefined && listQueued !== undefined
      ? new SharedDispatch({
          registry,
          claim,
          listQueued,
          executors,
          limits: o.concurrency ?? {},
          workerId: o.workerId ?? `supervisor-${generateProcessId()}`,
          sweepIntervalMs: o.sweepIntervalMs ?? 5000,
          onError,
          ...runHooks(runs, deadlines, clock),
          isClosed: () => closed,
        })
      : undefined
  // Whoever writes the terminal state, the slot is freed here.
  const forget = (key: string) => {
    signals.release(key)
    deadlines.clear(key)
    admission.withdraw(key)
    runs.end(key)
    admission.schedule()
  }

  const spawner = new Spawner({
    registry,
    clock,
    admission,
    runs,
    deadlines,
    dispatch,
    forget,
    isClosed: () => closed,
  })

  const unsubscribe = watchTerminal(registry, (key, deleted) => {
    signals.release(key)
    // A deleted task's executor is told to stop: nothing it writes lands any more.
    if (deleted && runs.has(key)) runs.abort(key, new TaskAbortReason('deleted', 'task deleted'))
    if (runs.has(key) || deadlines.pending(key) || admission.tracks(key)) forget(key)
  })
  const deliveryDeps = { registry, executors, contextFor: runs.contextFor.bind(runs) }
  // Shared dispatch: messages other processes recorded for tasks running here.
  const forwarded = !shared
    ? undefined
    : new ForwardedMessages(
        registry,
        (key) => runs.has(key),
        onError,
        (sid, tid, message, asked) =>
          messaging.run(taskKey(sid, tid), () => handOver(deliveryDeps, sid, tid, message, asked)),
      )
  const unhook = registry.onSessionDeleted?.((sessionId) => {
    signals.releaseSession(sessionId)
    for (const key of runs.keysIn(sessionId)) {
      runs.abort(key, new TaskAbortReason('deleted', 'session deleted'))
      forget(key)
    }
    for (const key of admission.waitingIn(sessionId)) forget(key)
    // Timers of its tasks that run elsewhere or wait in the shared queue.
    deadlines.clearSession(sessionId)
  })
  const unhookGap = recheckAfterGaps(
    registry,
    (sessionId) => [...runs.keysIn(sessionId), ...admission.waitingIn(sessionId)],
    (key, task) => {
      if (task === undefined) runs.abort(key, new TaskAbortReason('deleted', 'task deleted'))
      if (task === undefined || isTerminalState(task.state)) forget(key)
    },
    onError,
  )
  const findExecutor = (kind: string): ResolvedTaskExecutor => {
    const executor = executors.find(kind)
    if (executor === undefined)
      throw new NoExecutorError(`no executor is registered for task kind '${kind}'`)
    return executor
  }
  const ids = (sessionId: unknown, taskId: unknown): [string, string] => [
    parseInput(SessionIdSchema, sessionId, 'sessionId'),
    parseInput(TaskIdSchema, taskId, 'taskId'),
  ]

  // A wait's options, and a signal that also ends it when the supervisor closes.
  const waited = <T>(waitOptions: unknown, run: (wait: TaskWait) => Promise<T>): Promise<T> => {
    const opts =
      waitOptions === undefined ? {} : parseInput(WaitOptionsSchema, waitOptions, 'WaitOptions')
    opts.signal?.throwIfAborted()
    const { until = 'terminal', timeoutMs } = opts
    return waits.run(opts.signal, (signal) => run({ until, timeoutMs, signal, timers }))
  }

  const cancelOnSignal = (task: SessionTask, signal: AbortSignal) =>
    supervisor
      .cancel(task.sessionId, task.id, { reason: abortReasonText(signal.reason) })
      .catch((error: unknown) => onError(error, `canceling task '${task.id}' on its spawn signal`))
  // A spawn's signal, once the task exists: an abort cancels it (aborted
  // mid-spawn, the spawn itself cancels, once the start is through).
  const tieToSignal = (task: SessionTask, signal: AbortSignal, spawning: { done: boolean }) => {
    signals.bind(taskKey(task.sessionId, task.id), signal, () => {
      if (spawning.done) void cancelOnSignal(task, signal)
    })
  }

  const reap = createReaper({
    registry,
    executors,
    clock,
    onError,
    reattach: async (task, executor) => {
      const key = taskKey(task.sessionId, task.id)
      if (dispatch !== undefined) {
        // Back in the queue: the old run here is superseded, and whoever has a slot claims it.
        runs.end(key)
        await dispatch.claimNow(task)
        return
      }
      // A run here is superseded in place (it hands over its slot); any other
      // re-attached task waits for a slot like a queued one.
      if (runs.has(key)) return settleSoon(runs.launch(task, executor, 'orphaned'))
      return spawner.startOrWait(task, executor, 'orphaned')
    },
    isWaiting: (task) => admission.tracks(taskKey(task.sessionId, task.id)),
    requeue: shared,
  })

  const housekeeping = new Housekeeping({
    clock,
    onError,
    timers,
    // Through the supervisor object, so that a wrapped reap or prune is the one that runs.
    passes: {
      deadlines: (limit) => (closed ? Promise.resolve(0) : deadlines.sweep(limit)),
      // A pass that was in flight when close() ran ends quietly, not with a notice.
      reap: (reapOptions) => (closed ? Promise.resolve(undefined) : supervisor.reap(reapOptions)),
      prune: (pruneOptions) => (closed ? Promise.resolve([]) : supervisor.prune(pruneOptions)),
    },
  })

  const supervisor: TaskSupervisor = {
    async spawn(input, spawnOptions) {
      const opts =
        spawnOptions === undefined
          ? {}
          : parseInput(SpawnOptionsSchema, spawnOptions, 'SpawnOptions')
      const parsed = parseInput(CreateSessionTaskSchema, input, 'CreateSessionTask')
      const executor = findExecutor(parsed.kind)
      if (closed) throw new UnsupportedOperationError('the supervisor is closed')
      const { signal } = opts
      if (signal === undefined) return (await spawner.spawn(parsed, opts, executor)).task
      signal.throwIfAborted()
      const spawning = { done: false }
      const { task, created } = await spawner.spawn(parsed, opts, executor, (t) =>
        tieToSignal(t, signal, spawning),
      )
      spawning.done = true
      if (!signal.aborted) return task
      if (created && !isTerminalState(task.state)) await cancelOnSignal(task, signal)
      throw signal.reason
    },

    async cancel(sessionId, taskId, cancelOptions) {
      const [sid, tid] = ids(sessionId, taskId)
      const opts =
        cancelOptions === undefined
          ? {}
          : parseInput(CancelOptionsSchema, cancelOptions, 'CancelOptions')
      opts.signal?.throwIfAborted()
      return cancellation.cancel(sid, tid, opts.reason)
    },

    async message(sessionId, taskId, body, messageOptions) {
      const [sid, tid] = ids(sessionId, taskId)
      const parsed = parseInput(SupervisorMessageSchema, body, 'SupervisorMessage')
      const { signal } =
        messageOptions === undefined
          ? {}
          : parseInput(MessageOptionsSchema, messageOptions, 'MessageOptions')
      signal?.throwIfAborted()
      const content: TaskMessagePart[] = parsed.content ?? [
        { type: 'text', text: parsed.text ?? '' },
      ]
      // One message of a task at a time here: a second answer waits until
      // the first was delivered (or put back).
      let queued = true
      // Shared dispatch: a task that runs in another process gets it there.
      const forward = shared && !runs.has(taskKey(sid, tid))
      const turn = messaging.run(taskKey(sid, tid), () => {
        queued = false
        const body = { content, inReplyTo: parsed.inReplyTo, signal, forward }
        return deliverMessage(deliveryDeps, sid, tid, body)
      })
      // Aborted while queued: reject now (the turn then records nothing).
      // Once the turn has begun, the delivery decides.
      return untilAborted(signal, turn, () => queued)
    },

    async wait(sessionId, taskId, waitOptions) {
      const [sid, tid] = ids(sessionId, taskId)
      return waited(waitOptions, (w) => waitForTask(registry, sid, tid, w))
    },

    async waitAny(refs, waitOptions) {
      const list = parseInput(WaitRefsSchema, { refs }, 'waitAny').refs
      return waited(waitOptions, (w) => waitForAny(registry, list, w))
    },

    async waitAll(refs, waitOptions) {
      const list = parseInput(WaitRefsSchema, { refs }, 'waitAll').refs
      return waited(waitOptions, (w) => waitForAll(registry, list, w))
    },

    async reconcile(sessionId, taskId) {
      const [sid, tid] = ids(sessionId, taskId)
      const task = await registry.get(sid, tid)
      if (task === undefined) return undefined
      const executor = findExecutor(task.kind)
      try {
        await executor.reconcile(task, runs.contextFor(task))
      } catch (error) {
        onError(error, `executor.reconcile of task '${tid}'`)
      }
      return registry.get(sid, tid)
    },

    async reap(reapOptions) {
      // A closed supervisor starts no work: a re-attach would run an executor after close().
      if (closed) throw new UnsupportedOperationError('the supervisor is closed')
      return reap(reapOptions)
    },

    async prune(pruneOptions) {
      const opts = parseInput(PruneOptionsSchema, pruneOptions, 'PruneOptions')
      const pruned = await registry.prune(opts)
      // An expired task is pruned whatever its state: a run of it here ends.
      for (const task of pruned) {
        const key = taskKey(task.sessionId, task.id)
        if (!runs.has(key)) continue
        runs.abort(key, new TaskAbortReason('deleted', 'task expired and pruned'))
        forget(key)
      }
      return pruned
    },

    startHousekeeping: (housekeepingOptions) => housekeeping.start(housekeepingOptions),

    close() {
      // A second close() settles with the first, once everything is done.
      closing ??= closeNow()
      return closing
    },

    [asyncDisposeKey()]: () => supervisor.close(),
  }

  async function closeNow(): Promise<void> {
    closed = true
    waits.close()
    housekeeping.stopAll()
    dispatch?.stop()
    signals.releaseAll()
    admission.close()
    runs.abortAll(new TaskAbortReason('closed', 'supervisor closed'))
    if (runs.size > 0 && cancelGraceMs > 0) await runs.whenIdle(cancelGraceMs)
    if (shared) await handBack(registry, executors, runs.held(), onError)
    deadlines.clearAll()
    runs.clear()
    unsubscribe()
    forwarded?.close()
    unhook?.()
    unhookGap?.()
  }

  dispatch?.start()
  return supervisor
}
