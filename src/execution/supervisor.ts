import { NoExecutorError, TaskNotFoundError, UnsupportedOperationError } from '../model/errors.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  HousekeepingOptionsSchema,
  PruneOptionsSchema,
  SessionIdSchema,
  type SessionTask,
  SpawnOptionsSchema,
  SupervisorMessageSchema,
  SupervisorOptionsSchema,
  TaskIdSchema,
  type TaskMessage,
  type TaskMessagePart,
  WaitOptionsSchema,
} from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { ResolvedTaskExecutor, TaskExecutionContext } from './executor.js'
import { defaultTaskExecutors, type TaskExecutorRegistry } from './executor-registry.js'
import { createReaper, type ReapOptions, type ReapResult } from './reaper.js'
import { RegistryTaskSink } from './sink.js'

/** Concurrency limits; every given limit applies at once. */
export type ConcurrencyLimits = {
  /** Most tasks started by this supervisor running at once. */
  global?: number | undefined
  /** Most running at once per session. */
  perSession?: number | undefined
  /** Most running at once per task kind. */
  perKind?: number | undefined
}

/** Options of {@link createTaskSupervisor}. */
export type TaskSupervisorOptions = {
  /** Where the tasks live. */
  registry: SessionTaskRegistry
  /**
   * Where executors are found by kind.
   * @default the module-level registry (`registerTaskExecutor`)
   */
  executors?: TaskExecutorRegistry | undefined
  /**
   * Clock for reap and retention cutoffs.
   * @default registry.now
   */
  now?: (() => Date) | undefined
  /**
   * How long a timed-out task may take to settle after cancellation before
   * it is failed with `timeout`; also the longest `close()` waits.
   * @default 5000
   */
  cancelGraceMs?: number | undefined
  /** Limits on tasks running at once; none by default. */
  concurrency?: ConcurrencyLimits | undefined
  /**
   * Receives failures that have no caller to go to (an executor's cancel
   * that threw, a housekeeping pass that failed).
   * @default console.error
   */
  onError?: ((error: unknown, context: string) => void) | undefined
}

/** Options of `supervisor.spawn`. */
export type SpawnOptions = {
  /** Cancel the task this long after spawn; fail it with `timeout` if it does not settle. */
  timeoutMs?: number | undefined
}

/** The body of `supervisor.message`: `text` or `content`. */
export type SupervisorMessage = {
  text?: string | undefined
  content?: TaskMessagePart[] | undefined
  inReplyTo?: string | undefined
}

/** Whether the executor took an inbound message. */
export type MessageDelivery = 'delivered' | { failed: string }

/** Options of `supervisor.wait`. */
export type WaitOptions = {
  /**
   * `terminal`, or `settled` (terminal or awaiting_input).
   * @default 'terminal'
   */
  until?: 'terminal' | 'settled' | undefined
  /** Give up after this long and resolve with `timedOut: true`. */
  timeoutMs?: number | undefined
  /** Reject with the signal's reason when aborted. */
  signal?: AbortSignal | undefined
}

/** Options of `supervisor.startHousekeeping`. */
export type HousekeepingOptions = {
  /** @default 60000 */
  intervalMs?: number | undefined
  /** @default 300000 */
  staleAfterMs?: number | undefined
  /** @default 3 */
  maxAttempts?: number | undefined
  /** @default 30 days */
  retainFinishedMs?: number | undefined
  /** @default 50 */
  limit?: number | undefined
  /** @default the supervisor's onError */
  onError?: ((error: unknown, context: string) => void) | undefined
}

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

type Run = {
  key: string
  sessionId: string
  taskId: string
  kind: string
  attempt: number
  controller: AbortController
  sink: RegistryTaskSink
  cancelCalled: boolean
  slot: boolean
}

type Waiting = { key: string; sessionId: string; taskId: string; kind: string }
type Timer = ReturnType<typeof setTimeout>

const DAY_MS = 24 * 60 * 60 * 1000
const keyOf = (sessionId: string, taskId: string) => `${sessionId}\u0000${taskId}`
const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

// A start that fails at once should show in the record spawn returns, but a
// start that runs the whole job must not hold spawn up: give it a few turns.
async function settleSoon(promise: Promise<unknown>): Promise<void> {
  let done = false
  void promise.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  for (let i = 0; i < 16 && !done; i++) await Promise.resolve()
}

function unref(timer: Timer): Timer {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
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
  const clock = (o.now as (() => Date) | undefined) ?? (() => registry.now())
  const cancelGraceMs = o.cancelGraceMs ?? 5000
  const limits: ConcurrencyLimits = o.concurrency ?? {}
  const onError =
    (o.onError as TaskSupervisorOptions['onError']) ??
    ((error: unknown, context: string) => console.error(`session-tasks: ${context}`, error))

  const runs = new Map<string, Run>()
  const waiting: Waiting[] = []
  // Tasks taken off the wait list whose start is still being prepared (the
  // registry is async): a cancel or a terminal write in that gap revokes the claim.
  const starting = new Map<string, { revoked: boolean }>()
  const deadlines = new Map<string, Timer>()
  const graces = new Map<string, Timer>()
  let active = 0
  const bySession = new Map<string, number>()
  const byKind = new Map<string, number>()
  let closed = false
  let pumping = false
  let pumpAgain = false
  const housekeepers = new Set<() => void>()
  const settleWaiters = new Set<() => void>()

  const bump = (map: Map<string, number>, key: string, delta: number) => {
    const next = (map.get(key) ?? 0) + delta
    if (next <= 0) map.delete(key)
    else map.set(key, next)
  }
  const canStart = (sessionId: string, kind: string) =>
    (limits.global === undefined || active < limits.global) &&
    (limits.perSession === undefined || (bySession.get(sessionId) ?? 0) < limits.perSession) &&
    (limits.perKind === undefined || (byKind.get(kind) ?? 0) < limits.perKind)
  const takeSlot = (sessionId: string, kind: string) => {
    active++
    bump(bySession, sessionId, 1)
    bump(byKind, kind, 1)
  }
  const releaseSlot = (sessionId: string, kind: string) => {
    active--
    bump(bySession, sessionId, -1)
    bump(byKind, kind, -1)
  }
  const release = (run: Run) => {
    if (!run.slot) return
    run.slot = false
    releaseSlot(run.sessionId, run.kind)
  }
  const clearTimers = (key: string) => {
    const deadline = deadlines.get(key)
    if (deadline !== undefined) clearTimeout(deadline)
    deadlines.delete(key)
    const grace = graces.get(key)
    if (grace !== undefined) clearTimeout(grace)
    graces.delete(key)
  }
  const removeWaiting = (key: string): boolean => {
    const index = waiting.findIndex((w) => w.key === key)
    if (index === -1) return false
    waiting.splice(index, 1)
    return true
  }

  // Whoever writes the terminal state, the slot is freed here.
  const forget = (key: string) => {
    clearTimers(key)
    removeWaiting(key)
    const claim = starting.get(key)
    if (claim !== undefined) claim.revoked = true
    const run = runs.get(key)
    if (run !== undefined) {
      release(run)
      runs.delete(key)
      // The record is final: whatever still runs for it should stop.
      run.controller.abort(new Error('task reached a terminal state'))
    }
    if (runs.size === 0) for (const resolve of [...settleWaiters]) resolve()
    schedulePump()
  }

  const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
    if (type !== 'task.updated' && type !== 'task.created') return
    const { task } = payload as { task: SessionTask }
    if (isTerminalState(task.state)) {
      const key = keyOf(sessionId, task.id)
      if (
        runs.has(key) ||
        deadlines.has(key) ||
        starting.has(key) ||
        waiting.some((w) => w.key === key)
      ) {
        forget(key)
      }
    }
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => {
    for (const run of [...runs.values()]) {
      if (run.sessionId !== sessionId) continue
      run.controller.abort(new Error('session deleted'))
      forget(run.key)
    }
    for (const w of waiting.filter((x) => x.sessionId === sessionId)) forget(w.key)
  })

  const contextFor = (task: SessionTask, run?: Run): TaskExecutionContext => ({
    registry,
    sessionId: task.sessionId,
    sink: run?.sink ?? new RegistryTaskSink(registry, task.sessionId, task.id, task.attempt),
    signal: run?.controller.signal ?? new AbortController().signal,
  })

  const findExecutor = (kind: string): ResolvedTaskExecutor => {
    const executor = executors.find(kind)
    if (executor === undefined)
      throw new NoExecutorError(`no executor is registered for task kind '${kind}'`)
    return executor
  }

  // Starts the work on the task's current attempt; a failing start fails the task.
  const launch = (
    task: SessionTask,
    executor: ResolvedTaskExecutor,
    failKind: string,
  ): Promise<void> => {
    const key = keyOf(task.sessionId, task.id)
    const previous = runs.get(key)
    const run: Run = {
      key,
      sessionId: task.sessionId,
      taskId: task.id,
      kind: task.kind,
      attempt: task.attempt,
      controller: new AbortController(),
      sink: new RegistryTaskSink(registry, task.sessionId, task.id, task.attempt),
      cancelCalled: false,
      slot: false,
    }
    if (previous !== undefined) {
      // A re-attach supersedes the old worker: it keeps no signal and no slot.
      previous.controller.abort(new Error('superseded by a new attempt'))
      run.slot = previous.slot
      previous.slot = false
    } else {
      takeSlot(run.sessionId, run.kind)
      run.slot = true
    }
    runs.set(key, run)
    const started = executor.start(task, contextFor(task, run))
    return started.catch(async (error: unknown) => {
      const message =
        failKind === 'orphaned'
          ? `worker heartbeat stopped; re-attach failed: ${reasonOf(error)}`
          : reasonOf(error)
      try {
        await registry.update(task.sessionId, task.id, {
          state: 'failed',
          error: { kind: failKind, message },
          expectedAttempt: run.attempt,
        })
      } catch (updateError) {
        onError(updateError, `recording the failed start of task '${task.id}'`)
      }
    })
  }

  function schedulePump() {
    if (waiting.length > 0 && !closed) queueMicrotask(() => void pump())
  }

  // FIFO among the waiting tasks whose limits allow a start.
  async function pump(): Promise<void> {
    if (pumping) {
      pumpAgain = true
      return
    }
    pumping = true
    try {
      do {
        pumpAgain = false
        for (let i = 0; i < waiting.length && !closed; ) {
          const next = waiting[i] as Waiting
          if (!canStart(next.sessionId, next.kind)) {
            i++
            continue
          }
          waiting.splice(i, 1)
          // Hold the slot while reading, so no other start overtakes it.
          takeSlot(next.sessionId, next.kind)
          const claim = { revoked: false }
          starting.set(next.key, claim)
          let task: SessionTask | undefined
          try {
            task = await registry.get(next.sessionId, next.taskId)
            const executor = task === undefined ? undefined : executors.find(task.kind)
            if (task !== undefined && !isTerminalState(task.state) && !claim.revoked && !closed) {
              if (executor === undefined) {
                await registry.update(task.sessionId, task.id, {
                  state: 'failed',
                  error: {
                    kind: 'start_failed',
                    message: `no executor is registered for task kind '${task.kind}'`,
                  },
                })
              } else {
                // Text fields cannot be cleared, only overwritten: drop the "waiting" detail.
                await registry.update(task.sessionId, task.id, {
                  stateDetail: '',
                  expectedAttempt: task.attempt,
                })
                if (!claim.revoked && !closed) {
                  releaseSlot(next.sessionId, next.kind)
                  starting.delete(next.key)
                  void launch(task, executor, 'start_failed')
                  continue
                }
              }
            }
          } catch (error) {
            onError(error, `starting queued task '${next.taskId}'`)
          }
          releaseSlot(next.sessionId, next.kind)
          starting.delete(next.key)
        }
      } while (pumpAgain && !closed)
    } catch (error) {
      onError(error, 'starting queued tasks')
    } finally {
      pumping = false
    }
  }

  const cancelRunning = async (task: SessionTask): Promise<void> => {
    const key = keyOf(task.sessionId, task.id)
    const run = runs.get(key)
    if (run !== undefined) {
      if (run.cancelCalled) return
      run.cancelCalled = true
      run.controller.abort(new Error('task canceled'))
    }
    const executor = executors.find(task.kind)
    if (executor === undefined) {
      await registry.update(task.sessionId, task.id, {
        state: 'canceled',
        stateDetail: `canceled; no executor is registered for task kind '${task.kind}'`,
      })
      return
    }
    try {
      await executor.cancel(task, contextFor(task, run))
    } catch (error) {
      onError(error, `executor.cancel of task '${task.id}'`)
    }
  }

  const cancelWaiting = async (task: SessionTask, detail: string): Promise<boolean> => {
    const key = keyOf(task.sessionId, task.id)
    const claim = starting.get(key)
    if (claim !== undefined) claim.revoked = true
    else if (!removeWaiting(key)) return false
    await registry.update(task.sessionId, task.id, { state: 'canceled', stateDetail: detail })
    return true
  }

  const onDeadline = async (sessionId: string, taskId: string, timeoutMs: number) => {
    const key = keyOf(sessionId, taskId)
    deadlines.delete(key)
    try {
      const task = await registry.get(sessionId, taskId)
      if (task === undefined || isTerminalState(task.state)) return
      if (await cancelWaiting(task, `timed out after ${timeoutMs} ms before it started`)) return
      await registry.requestCancel(sessionId, taskId)
      await cancelRunning(task)
      const attempt = runs.get(key)?.attempt ?? task.attempt
      const after = await registry.get(sessionId, taskId)
      if (after === undefined || isTerminalState(after.state) || closed) return
      graces.set(
        key,
        setTimeout(() => {
          graces.delete(key)
          registry
            .update(sessionId, taskId, {
              state: 'failed',
              error: { kind: 'timeout', message: `task timed out after ${timeoutMs} ms` },
              expectedAttempt: attempt,
            })
            .catch((error: unknown) => onError(error, `failing timed-out task '${taskId}'`))
        }, cancelGraceMs),
      )
    } catch (error) {
      onError(error, `timing out task '${taskId}'`)
    }
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
    reattach: (task, executor) => settleSoon(launch(task, executor, 'orphaned')),
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
      if (parsed.id !== undefined) {
        // Spawning an existing caller id is idempotent: it is not started twice.
        const existing = await registry.get(parsed.sessionId, parsed.id)
        if (existing !== undefined) return existing
      }
      const task = await registry.create(parsed)
      if (isTerminalState(task.state)) return task
      const key = keyOf(task.sessionId, task.id)
      if (opts.timeoutMs !== undefined) {
        const timeoutMs = opts.timeoutMs
        deadlines.set(
          key,
          setTimeout(() => void onDeadline(task.sessionId, task.id, timeoutMs), timeoutMs),
        )
      }
      // FIFO: a waiting task that could start now goes first.
      const queueAhead = waiting.some((w) => canStart(w.sessionId, w.kind))
      if (canStart(task.sessionId, task.kind) && !queueAhead) {
        await settleSoon(launch(task, executor, 'start_failed'))
      } else {
        waiting.push({ key, sessionId: task.sessionId, taskId: task.id, kind: task.kind })
        await registry.update(task.sessionId, task.id, {
          stateDetail: 'waiting for a concurrency slot',
          expectedAttempt: task.attempt,
        })
        schedulePump()
      }
      return (await registry.get(task.sessionId, task.id)) ?? task
    },

    async cancel(sessionId, taskId) {
      const [sid, tid] = ids(sessionId, taskId)
      const task = await registry.requestCancel(sid, tid)
      if (task === undefined) return undefined
      if (
        !isTerminalState(task.state) &&
        !(await cancelWaiting(task, 'canceled before it started'))
      ) {
        await cancelRunning(task)
      }
      return registry.get(sid, tid)
    },

    async message(sessionId, taskId, body) {
      const [sid, tid] = ids(sessionId, taskId)
      const parsed = parseInput(SupervisorMessageSchema, body, 'SupervisorMessage')
      const content: TaskMessagePart[] = parsed.content ?? [
        { type: 'text', text: parsed.text ?? '' },
      ]
      const message = await registry.recordMessage(sid, tid, {
        direction: 'inbound',
        content,
        ...(parsed.inReplyTo === undefined ? {} : { inReplyTo: parsed.inReplyTo }),
      })
      const task = await registry.get(sid, tid)
      if (task === undefined) return { message, delivery: { failed: 'task no longer exists' } }
      if (isTerminalState(task.state))
        return { message, delivery: { failed: `task is already ${task.state}` } }
      const executor = executors.find(task.kind)
      if (executor === undefined) {
        return {
          message,
          delivery: { failed: `no executor is registered for task kind '${task.kind}'` },
        }
      }
      try {
        await executor.deliver(task, message, contextFor(task, runs.get(keyOf(sid, tid))))
        return { message, delivery: 'delivered' }
      } catch (error) {
        return { message, delivery: { failed: reasonOf(error) } }
      }
    },

    async wait(sessionId, taskId, waitOptions) {
      const [sid, tid] = ids(sessionId, taskId)
      const opts =
        waitOptions === undefined ? {} : parseInput(WaitOptionsSchema, waitOptions, 'WaitOptions')
      const until = opts.until ?? 'terminal'
      const matches = (task: SessionTask) =>
        isTerminalState(task.state) || (until === 'settled' && task.state === 'awaiting_input')
      opts.signal?.throwIfAborted()
      return new Promise((resolve, reject) => {
        let done = false
        let timer: Timer | undefined
        const cleanup = () => {
          done = true
          off()
          unhookDelete?.()
          if (timer !== undefined) clearTimeout(timer)
          opts.signal?.removeEventListener('abort', onAbort)
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
          reject(opts.signal?.reason)
        }
        // Listen first, then read: no transition can fall in between.
        const off = registry.subscribe(sid, (type, payload) => {
          if (type !== 'task.updated') return
          const { task } = payload as { task: SessionTask }
          if (task.id === tid && matches(task)) finish(false)
        })
        const unhookDelete = registry.onSessionDeleted?.((deleted) => {
          if (deleted !== sid || done) return
          cleanup()
          reject(new TaskNotFoundError(`task '${tid}' was deleted with session '${sid}'`))
        })
        opts.signal?.addEventListener('abort', onAbort, { once: true })
        if (opts.timeoutMs !== undefined) timer = setTimeout(() => finish(true), opts.timeoutMs)
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
            cleanup()
            reject(error)
          },
        )
      })
    },

    async reconcile(sessionId, taskId) {
      const [sid, tid] = ids(sessionId, taskId)
      const task = await registry.get(sid, tid)
      if (task === undefined) return undefined
      const executor = findExecutor(task.kind)
      try {
        await executor.reconcile(task, contextFor(task, runs.get(keyOf(sid, tid))))
      } catch (error) {
        onError(error, `executor.reconcile of task '${tid}'`)
      }
      return registry.get(sid, tid)
    },

    reap: (reapOptions) => reap(reapOptions),

    async prune(pruneOptions) {
      const opts = parseInput(PruneOptionsSchema, pruneOptions, 'PruneOptions')
      return registry.prune(opts)
    },

    startHousekeeping(housekeepingOptions) {
      const opts =
        housekeepingOptions === undefined
          ? {}
          : parseInput(HousekeepingOptionsSchema, housekeepingOptions, 'HousekeepingOptions')
      const report = (opts.onError as TaskSupervisorOptions['onError']) ?? onError
      const retainMs = opts.retainFinishedMs ?? 30 * DAY_MS
      let running = false
      const pass = async () => {
        // A slow pass is not overlapped by the next tick.
        if (running) return
        running = true
        try {
          await supervisor.reap({
            staleAfterMs: opts.staleAfterMs ?? 300_000,
            maxAttempts: opts.maxAttempts ?? 3,
            limit: opts.limit ?? 50,
          })
        } catch (error) {
          report(error, 'housekeeping reap')
        }
        try {
          await supervisor.prune({
            finishedBefore: new Date(clock().getTime() - retainMs),
            limit: opts.limit ?? 50,
          })
        } catch (error) {
          report(error, 'housekeeping prune')
        }
        running = false
      }
      const interval = setInterval(() => void pass(), opts.intervalMs ?? 60_000)
      unref(interval as unknown as Timer)
      const stop = () => {
        clearInterval(interval)
        housekeepers.delete(stop)
      }
      housekeepers.add(stop)
      return stop
    },

    async close() {
      if (closed) return
      closed = true
      for (const stop of [...housekeepers]) stop()
      waiting.length = 0
      for (const run of runs.values()) run.controller.abort(new Error('supervisor closed'))
      if (runs.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, cancelGraceMs)
          function done() {
            clearTimeout(timer)
            settleWaiters.delete(done)
            resolve()
          }
          settleWaiters.add(done)
        })
      }
      for (const key of [...deadlines.keys(), ...graces.keys()]) clearTimers(key)
      for (const run of runs.values()) release(run)
      runs.clear()
      unsubscribe()
      unhook?.()
    },
  }

  return supervisor
}
