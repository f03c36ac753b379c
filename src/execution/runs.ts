import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { TaskAbortReason } from './abort-reason.js'
import type { QueuedTask, Slot, SlotSource } from './admission.js'
import type { ResolvedTaskExecutor, TaskExecutionContext } from './executor.js'
import type { TaskExecutorRegistry } from './executor-registry.js'
import { RegistryTaskSink } from './sink.js'
import { taskIdOfKey, taskKey } from './task-key.js'
import type { TimerSource } from './timer.js'

/** What {@link RunTable} needs from the supervisor that owns it. */
export type RunTableDeps = {
  registry: SessionTaskRegistry
  executors: TaskExecutorRegistry
  onError: (error: unknown, context: string) => void
  slots: SlotSource
  timers: TimerSource
  /** Receives the failed writes of the sinks handed to executors (see `RegistryTaskSinkOptions`). */
  onSinkError?: ((error: unknown, context: string) => void) | undefined
}

type Run = {
  readonly key: string
  readonly sessionId: string
  readonly attempt: number
  readonly controller: AbortController
  readonly sink: RegistryTaskSink
  cancelCalled: boolean
  slot: Slot | undefined
}

/** Why a run is being canceled: the abort kind and the caller's reason, if one was given. */
type CancelIntent = { kind: 'canceled' | 'timeout'; reason?: string | undefined }

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Waits until `promise` settles or a few microtask turns have passed.
 * A start that fails at once should show in the record spawn returns, but a
 * start that runs the whole job must not hold spawn up.
 */
export async function settleSoon(promise: Promise<unknown>): Promise<void> {
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

/**
 * Calls `onTerminal` with the key of every task the registry reports
 * terminal (created or updated so) or deleted, whoever wrote it; returns the unsubscribe.
 */
export function watchTerminal(
  registry: SessionTaskRegistry,
  onTerminal: (key: string, deleted: boolean) => void,
): () => void {
  return registry.subscribeAll((sessionId, type, payload) => {
    if (type === 'task.deleted') {
      onTerminal(taskKey(sessionId, (payload as { taskId: string }).taskId), true)
      return
    }
    if (type !== 'task.updated' && type !== 'task.created') return
    const { task } = payload as { task: SessionTask }
    if (isTerminalState(task.state)) onTerminal(taskKey(sessionId, task.id), false)
  })
}

/**
 * The tasks this supervisor has started, each with the signal and sink its
 * executor got and the concurrency slot it holds.
 */
export class RunTable {
  private readonly deps: RunTableDeps
  private readonly runs = new Map<string, Run>()
  private readonly idle = new Set<() => void>()
  // The signal of contexts for tasks with no run here; aborted at close.
  private readonly loose = new AbortController()
  // Why a run is about to be canceled, for whichever cancel call comes first
  // (a deadline's own, or one reacting to the cancel request it wrote).
  private readonly intents = new Map<string, CancelIntent>()

  constructor(deps: RunTableDeps) {
    this.deps = deps
  }

  /** How many runs are live. */
  get size(): number {
    return this.runs.size
  }

  /** True while the task has a live run. */
  has(key: string): boolean {
    return this.runs.has(key)
  }

  /** The attempt the task's live run works on, if it has one. */
  attemptOf(key: string): number | undefined {
    return this.runs.get(key)?.attempt
  }

  /** Every live run: its task and the attempt it works on. */
  held(): { sessionId: string; taskId: string; attempt: number }[] {
    return [...this.runs.values()].map((r) => ({
      sessionId: r.sessionId,
      taskId: taskIdOfKey(r.sessionId, r.key),
      attempt: r.attempt,
    }))
  }

  /** Keys of the live runs of `sessionId`. */
  keysIn(sessionId: string): string[] {
    return [...this.runs.values()].filter((r) => r.sessionId === sessionId).map((r) => r.key)
  }

  /** The context an executor call for `task` gets: its run's sink and signal, if it runs here. */
  contextFor(task: SessionTask): TaskExecutionContext {
    return this.context(task, this.runs.get(taskKey(task.sessionId, task.id)))
  }

  /**
   * Starts the work on the task's current attempt; a failing start fails the
   * task with `failKind`. The promise settles with the executor's start.
   */
  launch(task: SessionTask, executor: ResolvedTaskExecutor, failKind: string): Promise<void> {
    const { registry, onError } = this.deps
    const key = taskKey(task.sessionId, task.id)
    const previous = this.runs.get(key)
    const run: Run = {
      key,
      sessionId: task.sessionId,
      attempt: task.attempt,
      controller: new AbortController(),
      sink: this.sinkFor(task),
      cancelCalled: false,
      slot: undefined,
    }
    if (previous !== undefined) {
      // A re-attach supersedes the old worker: it keeps no signal and no slot.
      previous.controller.abort(new TaskAbortReason('superseded', 'superseded by a new attempt'))
      run.slot = previous.slot
      previous.slot = undefined
    } else {
      run.slot = this.deps.slots.take(task.sessionId, task.kind)
    }
    this.runs.set(key, run)
    const started = executor.start(task, this.context(task, run))
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

  /**
   * Gets a task off the wait list ready to start: re-reads it, fails it when
   * its kind lost its executor, clears its "waiting" detail. Resolves with
   * the start, or `undefined` when the task should not start.
   */
  async prepareQueued(
    queued: QueuedTask,
    wanted: () => boolean,
  ): Promise<(() => void) | undefined> {
    const { registry, executors } = this.deps
    const task = await registry.get(queued.sessionId, queued.taskId)
    const executor = task === undefined ? undefined : executors.find(task.kind)
    if (task === undefined || isTerminalState(task.state) || !wanted()) return undefined
    // Re-attached (or claimed) elsewhere while it waited: that worker has it.
    if (queued.attempt !== undefined && queued.attempt !== task.attempt) return undefined
    if (executor === undefined) {
      await registry.update(task.sessionId, task.id, {
        state: 'failed',
        error: {
          kind: 'start_failed',
          message: `no executor is registered for task kind '${task.kind}'`,
        },
      })
      return undefined
    }
    // Text fields cannot be cleared, only overwritten: drop the "waiting" detail.
    await registry.update(task.sessionId, task.id, {
      stateDetail: '',
      expectedAttempt: task.attempt,
    })
    return () => void this.launch(task, executor, queued.failKind ?? 'start_failed')
  }

  /**
   * Aborts the task's signal and calls `executor.cancel` once per run; with
   * no executor for its kind, the task is canceled outright. The signal's
   * reason carries the cancel's own `reason` text when one was given.
   */
  async cancel(task: SessionTask, given?: 'canceled' | 'timeout'): Promise<void> {
    const { registry, executors, onError } = this.deps
    const key = taskKey(task.sessionId, task.id)
    const intent = this.intents.get(key)
    const kind = given ?? intent?.kind ?? 'canceled'
    const run = this.runs.get(key)
    if (run !== undefined) {
      if (run.cancelCalled) return
      run.cancelCalled = true
      const text = kind === 'timeout' ? 'task timed out' : (intent?.reason ?? 'task canceled')
      run.controller.abort(new TaskAbortReason(kind, text))
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
      await executor.cancel(task, this.context(task, run))
    } catch (error) {
      onError(error, `executor.cancel of task '${task.id}'`)
    }
  }

  /**
   * Records that the task's run is being canceled for `kind` (with the
   * caller's `reason`), before the cancel request is written. A timeout
   * overrides an earlier intent; a cancel does not override a timeout.
   */
  intend(key: string, kind: 'canceled' | 'timeout', reason?: string): void {
    if (!this.runs.has(key)) return
    if (kind === 'canceled' && this.intents.has(key)) return
    this.intents.set(key, { kind, reason })
  }

  /** Aborts the task's signal with `reason`, leaving the run in place. */
  abort(key: string, reason: TaskAbortReason): void {
    this.runs.get(key)?.controller.abort(reason)
  }

  /** Aborts every live run's signal with `reason`. */
  abortAll(reason: TaskAbortReason): void {
    for (const run of this.runs.values()) run.controller.abort(reason)
    this.loose.abort(reason)
  }

  /** Drops the task's run, if any: frees its slot and aborts whatever still runs for it. */
  end(key: string): void {
    this.intents.delete(key)
    const run = this.runs.get(key)
    if (run !== undefined) {
      run.slot?.release()
      run.slot = undefined
      this.runs.delete(key)
      // The record is final: whatever still runs for it should stop.
      // A signal already aborted keeps its first reason (canceled, timeout).
      run.controller.abort(new TaskAbortReason('superseded', 'task reached a terminal state'))
    }
    if (this.runs.size === 0) for (const resolve of [...this.idle]) resolve()
  }

  /** Resolves once no run is live, or after `maxMs`, whichever is first. */
  whenIdle(maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const cancel = this.deps.timers.startTimer(maxMs, done)
      const idle = this.idle
      function done() {
        cancel()
        idle.delete(done)
        resolve()
      }
      idle.add(done)
    })
  }

  /** Drops every run and frees its slot, without aborting. */
  clear(): void {
    for (const run of this.runs.values()) {
      run.slot?.release()
      run.slot = undefined
    }
    this.runs.clear()
    this.intents.clear()
  }

  private sinkFor(task: SessionTask): RegistryTaskSink {
    const { registry, onSinkError } = this.deps
    return new RegistryTaskSink(registry, task.sessionId, task.id, task.attempt, {
      onError: onSinkError,
    })
  }

  private context(task: SessionTask, run: Run | undefined): TaskExecutionContext {
    return {
      registry: this.deps.registry,
      sessionId: task.sessionId,
      sink: run?.sink ?? this.sinkFor(task),
      // Work an executor starts for a task with no run here (say, a
      // delivery's follow-up) still stops when the supervisor closes.
      signal: run?.controller.signal ?? this.loose.signal,
    }
  }
}
