import { checkedClock } from '../model/clock.js'
import { NoExecutorError, UnsupportedOperationError } from '../model/errors.js'
import { generateProcessId } from '../model/ids.js'
import { PruneOptionsSchema } from '../model/scan-schemas.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  SessionIdSchema,
  type SessionTask,
  TaskIdSchema,
  type TaskMessagePart,
} from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import {
  SpawnOptionsSchema,
  SupervisorMessageSchema,
  SupervisorOptionsSchema,
  WaitOptionsSchema,
} from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { TaskAbortReason } from './abort-reason.js'
import { Admission } from './admission.js'
import { Deadlines, spawnDeadline } from './deadlines.js'
import { DeliveryLine, deliverMessage } from './delivery.js'
import { handBack, isLimitRefusal, runHooks, SharedDispatch } from './dispatcher.js'
import type { ResolvedTaskExecutor } from './executor.js'
import { defaultTaskExecutors, type TaskExecutorRegistry } from './executor-registry.js'
import { recheckAfterGaps } from './gap-recheck.js'
import { Housekeeping } from './housekeeping.js'
import { createReaper } from './reaper.js'
import { RunTable, settleSoon, watchTerminal } from './runs.js'
import type { TaskSupervisorOptions } from './supervisor-options.js'
import { taskKey } from './task-key.js'
import type { TaskSupervisor } from './task-supervisor.js'
import { waitForTask } from './wait.js'

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
  // Spawns of a caller id in flight, so a racing second spawn gets the same task.
  const spawning = new Map<string, Promise<SessionTask>>()
  // The message in flight per task, so answers are delivered one at a time.
  const messaging = new DeliveryLine()

  async function spawnNew(
    parsed: CreateSessionTask,
    opts: { timeoutMs?: number | undefined },
    executor: ResolvedTaskExecutor,
  ): Promise<SessionTask> {
    // The deadline is stored with the record (SPEC 12.4), and timed here.
    const due = spawnDeadline(clock(), opts.timeoutMs, parsed.deadlineAt)
    const task = await registry.create(
      due.deadlineAt === undefined ? parsed : { ...parsed, deadlineAt: due.deadlineAt },
    )
    // Closed while creating: the record stays queued for another supervisor; nothing starts here.
    if (isTerminalState(task.state) || closed) return task
    if (due.timeoutMs !== undefined) deadlines.arm(task.sessionId, task.id, due.timeoutMs)
    const waiting = () =>
      registry.update(task.sessionId, task.id, {
        stateDetail: 'waiting for a concurrency slot',
        expectedAttempt: task.attempt,
        expectedState: 'queued',
      })
    if (dispatch === undefined) await startOrWait(task, executor, 'start_failed', waiting)
    else if (isLimitRefusal(await dispatch.claimNow(task))) await waiting()
    const after = await registry.get(task.sessionId, task.id)
    if (after === undefined) {
      // Deleted while it was being started (its session's deletion hook ran
      // before this run existed): release what the start took.
      const key = taskKey(task.sessionId, task.id)
      runs.abort(key, new TaskAbortReason('deleted', 'session deleted'))
      forget(key)
      return task
    }
    return after
  }

  /**
   * Starts the task now when the limits allow and nothing waits before it
   * (FIFO), else puts it on the wait list; `whileQueued` runs before the
   * list is pumped, so a start never overtakes it.
   */
  async function startOrWait(
    task: SessionTask,
    executor: ResolvedTaskExecutor,
    failKind: string,
    whileQueued?: () => Promise<unknown>,
  ): Promise<void> {
    if (admission.canStart(task.sessionId, task.kind) && !admission.hasStartable()) {
      await settleSoon(runs.launch(task, executor, failKind))
      return
    }
    admission.enqueue({
      key: taskKey(task.sessionId, task.id),
      sessionId: task.sessionId,
      taskId: task.id,
      kind: task.kind,
      attempt: task.attempt,
      failKind,
    })
    await whileQueued?.()
    admission.schedule()
  }

  // The two need each other; the queue is only pumped on a later microtask, after both exist.
  const admission: Admission = new Admission({
    limits: o.concurrency ?? {},
    onError,
    prepare: (queued, wanted) => runs.prepareQueued(queued, wanted),
  })
  const runs = new RunTable({ registry, executors, onError, slots: admission })

  // `anyQueued`: also a task queued in the registry but not here (shared
  // dispatch, and deadlines); otherwise `cancel()` leaves those to the executor.
  const cancelWaiting = async (
    task: SessionTask,
    detail: string,
    anyQueued: boolean,
  ): Promise<boolean> => {
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

  const deadlines = new Deadlines({
    registry,
    cancelGraceMs,
    onError,
    cancelWaiting: (task, detail) => cancelWaiting(task, detail, true),
    // A task of a kind unknown here, running elsewhere, is left to its owner and the forced end.
    cancelRunning: (task) =>
      runs.has(taskKey(task.sessionId, task.id)) || executors.find(task.kind) !== undefined
        ? runs.cancel(task, 'timeout')
        : Promise.resolve(),
    intendTimeout: (key) => runs.intend(key, 'timeout'),
    clock,
    attemptOf: (key) => runs.attemptOf(key),
    isClosed: () => closed,
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
    deadlines.clear(key)
    admission.withdraw(key)
    runs.end(key)
    admission.schedule()
  }

  const unsubscribe = watchTerminal(registry, (key, deleted) => {
    // A deleted task's executor is told to stop: nothing it writes lands any more.
    if (deleted && runs.has(key)) runs.abort(key, new TaskAbortReason('deleted', 'task deleted'))
    if (runs.has(key) || deadlines.pending(key) || admission.tracks(key)) forget(key)
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => {
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
      return startOrWait(task, executor, 'orphaned')
    },
    isWaiting: (task) => admission.tracks(taskKey(task.sessionId, task.id)),
    requeue: shared,
  })

  const housekeeping = new Housekeeping({
    clock,
    onError,
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
      if (parsed.id === undefined) return spawnNew(parsed, opts, executor)
      // Spawning an existing caller id is idempotent: it is not started twice,
      // also when two spawns of it race (the second waits for the first).
      const key = taskKey(parsed.sessionId, parsed.id)
      const inFlight = spawning.get(key)
      if (inFlight !== undefined) return inFlight
      const existing = await registry.get(parsed.sessionId, parsed.id)
      if (existing !== undefined) return existing
      const again = spawning.get(key)
      if (again !== undefined) return again
      const started = spawnNew(parsed, opts, executor)
      spawning.set(key, started)
      try {
        return await started
      } finally {
        if (spawning.get(key) === started) spawning.delete(key)
      }
    },

    async cancel(sessionId, taskId) {
      const [sid, tid] = ids(sessionId, taskId)
      const task = await registry.requestCancel(sid, tid)
      if (task === undefined) return undefined
      if (
        !isTerminalState(task.state) &&
        !(await cancelWaiting(task, 'canceled before it started', shared))
      ) {
        await runs.cancel(task)
        const after = await registry.get(sid, tid)
        if (after !== undefined && !isTerminalState(after.state)) deadlines.graceAfterCancel(after)
        return after
      }
      return registry.get(sid, tid)
    },

    async message(sessionId, taskId, body) {
      const [sid, tid] = ids(sessionId, taskId)
      const parsed = parseInput(SupervisorMessageSchema, body, 'SupervisorMessage')
      const content: TaskMessagePart[] = parsed.content ?? [
        { type: 'text', text: parsed.text ?? '' },
      ]
      // One message of a task at a time here: a second answer waits until
      // the first was delivered (or put back).
      return messaging.run(taskKey(sid, tid), () =>
        deliverMessage(
          { registry, executors, contextFor: (task) => runs.contextFor(task) },
          sid,
          tid,
          { content, inReplyTo: parsed.inReplyTo },
        ),
      )
    },

    async wait(sessionId, taskId, waitOptions) {
      const [sid, tid] = ids(sessionId, taskId)
      const opts =
        waitOptions === undefined ? {} : parseInput(WaitOptionsSchema, waitOptions, 'WaitOptions')
      opts.signal?.throwIfAborted()
      return waitForTask(registry, sid, tid, {
        until: opts.until ?? 'terminal',
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
      })
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

    async close() {
      if (closed) return
      closed = true
      housekeeping.stopAll()
      dispatch?.stop()
      admission.close()
      runs.abortAll(new TaskAbortReason('closed', 'supervisor closed'))
      if (runs.size > 0) await runs.whenIdle(cancelGraceMs)
      if (shared) await handBack(registry, executors, runs.held(), onError)
      deadlines.clearAll()
      runs.clear()
      unsubscribe()
      unhook?.()
      unhookGap?.()
    },
  }

  dispatch?.start()
  return supervisor
}
