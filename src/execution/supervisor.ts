import { checkedClock } from '../model/clock.js'
import { NoExecutorError, UnsupportedOperationError } from '../model/errors.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  PruneOptionsSchema,
  SessionIdSchema,
  type SessionTask,
  TaskIdSchema,
  type TaskMessage,
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
import { deliverMessage } from './delivery.js'
import type { ResolvedTaskExecutor } from './executor.js'
import { defaultTaskExecutors, type TaskExecutorRegistry } from './executor-registry.js'
import { Housekeeping } from './housekeeping.js'
import { createReaper, type ReapOptions, type ReapResult } from './reaper.js'
import { RunTable, settleSoon, watchTerminal } from './runs.js'
import type {
  HousekeepingOptions,
  MessageDelivery,
  SpawnOptions,
  SupervisorMessage,
  TaskSupervisorOptions,
  WaitOptions,
} from './supervisor-options.js'
import { taskKey } from './task-key.js'
import { waitForTask } from './wait.js'

/** The control plane an agent runtime calls. */
export type TaskSupervisor = {
  /** Creates a task and starts it with its kind's executor (or queues it for a slot). */
  spawn(input: CreateSessionTask, options?: SpawnOptions): Promise<SessionTask>
  /** Records cancel intent, aborts the signal, calls `executor.cancel`; returns a fresh read. */
  cancel(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** Records an inbound message and hands it to the executor. */
  message(
    sessionId: string,
    taskId: string,
    message: SupervisorMessage,
  ): Promise<{ message: TaskMessage; delivery: MessageDelivery }>
  /** Resolves when the task is terminal (or settled), or when the wait times out. */
  wait(
    sessionId: string,
    taskId: string,
    options?: WaitOptions,
  ): Promise<{ task: SessionTask; timedOut: boolean }>
  /** Calls the executor's `reconcile`; returns a fresh read (`undefined` for an unknown task). */
  reconcile(sessionId: string, taskId: string): Promise<SessionTask | undefined>
  /** Fails or re-attaches tasks whose heartbeat went stale. */
  reap(options?: ReapOptions): Promise<ReapResult>
  /** Deletes terminal tasks finished before the cutoff; returns them. */
  prune(options: { finishedBefore: Date; limit?: number | undefined }): Promise<SessionTask[]>
  /** Runs reap then prune every interval; returns the stop function. */
  startHousekeeping(options?: HousekeepingOptions): () => void
  /** Aborts running work, waits up to `cancelGraceMs` for it to settle, and detaches. */
  close(): Promise<void>
}

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
  let closed = false
  // Spawns of a caller id in flight, so a racing second spawn gets the same task.
  const spawning = new Map<string, Promise<SessionTask>>()
  // The message in flight per task, so answers are delivered one at a time.
  const messaging = new Map<string, Promise<void>>()

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
    await startOrWait(task, executor, 'start_failed', () =>
      registry.update(task.sessionId, task.id, {
        stateDetail: 'waiting for a concurrency slot',
        expectedAttempt: task.attempt,
      }),
    )
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

  const cancelWaiting = async (task: SessionTask, detail: string): Promise<boolean> => {
    if (!admission.withdraw(taskKey(task.sessionId, task.id))) return false
    await registry.update(task.sessionId, task.id, { state: 'canceled', stateDetail: detail })
    return true
  }

  const deadlines = new Deadlines({
    registry,
    cancelGraceMs,
    onError,
    cancelWaiting,
    cancelRunning: (task) => runs.cancel(task, 'timeout'),
    attemptOf: (key) => runs.attemptOf(key),
    isClosed: () => closed,
  })

  // Whoever writes the terminal state, the slot is freed here.
  const forget = (key: string) => {
    deadlines.clear(key)
    admission.withdraw(key)
    runs.end(key)
    admission.schedule()
  }

  const unsubscribe = watchTerminal(registry, (key) => {
    if (runs.has(key) || deadlines.pending(key) || admission.tracks(key)) forget(key)
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => {
    for (const key of runs.keysIn(sessionId)) {
      runs.abort(key, new TaskAbortReason('deleted', 'session deleted'))
      forget(key)
    }
    for (const key of admission.waitingIn(sessionId)) forget(key)
  })

  // Lost events (SPEC 12.5) may have held a terminal write that would free
  // a slot here: read again what this supervisor holds in that session.
  const unhookGap = registry.onEventGap?.((gap) => {
    const held = [...runs.keysIn(gap.sessionId), ...admission.waitingIn(gap.sessionId)]
    for (const key of held) {
      const taskId = key.slice(gap.sessionId.length + 1)
      registry.get(gap.sessionId, taskId).then(
        (task) => {
          if (task === undefined) runs.abort(key, new TaskAbortReason('deleted', 'task deleted'))
          if (task === undefined || isTerminalState(task.state)) forget(key)
        },
        (error: unknown) => onError(error, `re-reading task '${taskId}' after lost events`),
      )
    }
  })

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
      // A run here is superseded in place (it hands over its slot); any other
      // re-attached task waits for a slot like a queued one.
      if (runs.has(key)) return settleSoon(runs.launch(task, executor, 'orphaned'))
      return startOrWait(task, executor, 'orphaned')
    },
    isWaiting: (task) => admission.tracks(taskKey(task.sessionId, task.id)),
  })

  const housekeeping = new Housekeeping({
    clock,
    onError,
    // Through the supervisor object, so that a wrapped reap or prune is the one that runs.
    passes: {
      reap: (reapOptions) => supervisor.reap(reapOptions),
      prune: (pruneOptions) => supervisor.prune(pruneOptions),
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
        !(await cancelWaiting(task, 'canceled before it started'))
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
      const key = taskKey(sid, tid)
      const previous = messaging.get(key) ?? Promise.resolve()
      const turn = previous.then(() =>
        deliverMessage(
          { registry, executors, contextFor: (task) => runs.contextFor(task) },
          sid,
          tid,
          { content, inReplyTo: parsed.inReplyTo },
        ),
      )
      const settled = turn.then(
        () => {},
        () => {},
      )
      messaging.set(key, settled)
      void settled.then(() => {
        if (messaging.get(key) === settled) messaging.delete(key)
      })
      return turn
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
      return registry.prune(opts)
    },

    startHousekeeping: (housekeepingOptions) => housekeeping.start(housekeepingOptions),

    async close() {
      if (closed) return
      closed = true
      housekeeping.stopAll()
      admission.close()
      runs.abortAll(new TaskAbortReason('closed', 'supervisor closed'))
      if (runs.size > 0) await runs.whenIdle(cancelGraceMs)
      deadlines.clearAll()
      runs.clear()
      unsubscribe()
      unhook?.()
      unhookGap?.()
    },
  }

  return supervisor
}
