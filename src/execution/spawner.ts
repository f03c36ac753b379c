import type { CreateSessionTask, SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { TaskAbortReason } from './abort-reason.js'
import type { Admission } from './admission.js'
import { type Deadlines, spawnDeadline } from './deadlines.js'
import { isLimitRefusal, type SharedDispatch } from './dispatcher.js'
import type { ResolvedTaskExecutor } from './executor.js'
import { type RunTable, settleSoon } from './runs.js'
import { taskKey } from './task-key.js'

/** What {@link Spawner} needs from the supervisor that owns it. */
export type SpawnerDeps = {
  registry: SessionTaskRegistry
  clock: () => Date
  admission: Admission
  runs: RunTable
  deadlines: Deadlines
  /** The shared queue, with `dispatch: 'shared'`. */
  dispatch: SharedDispatch | undefined
  /** Frees whatever the supervisor holds for the task (its run, slot, timers). */
  forget: (key: string) => void
  isClosed: () => boolean
}

/** What one spawn did: the record, and whether this call created it. */
export type Spawned = { task: SessionTask; created: boolean }

/**
 * Creates tasks and starts them, now or once a concurrency slot frees up.
 * A caller id is spawned once: a spawn of a known id returns that task, also
 * when two spawns of it race (the second waits for the first).
 */
export class Spawner {
  private readonly deps: SpawnerDeps
  // Spawns of a caller id in flight, so a racing second spawn gets the same task.
  private readonly inFlight = new Map<string, Promise<SessionTask>>()

  constructor(deps: SpawnerDeps) {
    this.deps = deps
  }

  /**
   * Spawns the validated input; `onCreated` runs once the record exists,
   * before its executor starts, and only when this call created it.
   */
  async spawn(
    parsed: CreateSessionTask,
    opts: { timeoutMs?: number | undefined },
    executor: ResolvedTaskExecutor,
    onCreated?: (task: SessionTask) => void,
  ): Promise<Spawned> {
    const { registry } = this.deps
    if (parsed.id === undefined) {
      return { task: await this.spawnNew(parsed, opts, executor, onCreated), created: true }
    }
    const key = taskKey(parsed.sessionId, parsed.id)
    const racing = this.inFlight.get(key)
    if (racing !== undefined) return { task: await racing, created: false }
    const existing = await registry.get(parsed.sessionId, parsed.id)
    if (existing !== undefined) return { task: existing, created: false }
    const again = this.inFlight.get(key)
    if (again !== undefined) return { task: await again, created: false }
    const started = this.spawnNew(parsed, opts, executor, onCreated)
    this.inFlight.set(key, started)
    try {
      return { task: await started, created: true }
    } finally {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key)
    }
  }

  /**
   * Starts the task now when the limits allow and nothing waits before it
   * (FIFO), else puts it on the wait list; `whileQueued` runs before the
   * list is pumped, so a start never overtakes it.
   */
  async startOrWait(
    task: SessionTask,
    executor: ResolvedTaskExecutor,
    failKind: string,
    whileQueued?: () => Promise<unknown>,
  ): Promise<void> {
    const { admission, runs } = this.deps
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

  private async spawnNew(
    parsed: CreateSessionTask,
    opts: { timeoutMs?: number | undefined },
    executor: ResolvedTaskExecutor,
    onCreated: ((task: SessionTask) => void) | undefined,
  ): Promise<SessionTask> {
    const { registry, deadlines, dispatch, runs } = this.deps
    // The deadline is stored with the record (SPEC 12.4), and timed here.
    const due = spawnDeadline(this.deps.clock(), opts.timeoutMs, parsed.deadlineAt)
    const task = await registry.create(
      due.deadlineAt === undefined ? parsed : { ...parsed, deadlineAt: due.deadlineAt },
    )
    // Closed while creating: the record stays queued for another supervisor; nothing starts here.
    if (isTerminalState(task.state) || this.deps.isClosed()) return task
    onCreated?.(task)
    if (due.timeoutMs !== undefined) deadlines.arm(task.sessionId, task.id, due.timeoutMs)
    const waiting = () =>
      registry.update(task.sessionId, task.id, {
        stateDetail: 'waiting for a concurrency slot',
        expectedAttempt: task.attempt,
        expectedState: 'queued',
      })
    if (dispatch === undefined) await this.startOrWait(task, executor, 'start_failed', waiting)
    else if (isLimitRefusal(await dispatch.claimNow(task))) await waiting()
    const after = await registry.get(task.sessionId, task.id)
    if (after === undefined) {
      // Deleted while it was being started (its session's deletion hook ran
      // before this run existed): release what the start took.
      const key = taskKey(task.sessionId, task.id)
      runs.abort(key, new TaskAbortReason('deleted', 'session deleted'))
      this.deps.forget(key)
      return task
    }
    if (isTerminalState(after.state)) {
      // Ended (by a listener, or another process) before the start above saw
      // it: its terminal event has passed, so nothing else frees the slot.
      const key = taskKey(task.sessionId, task.id)
      if (runs.has(key))
        runs.abort(key, new TaskAbortReason('canceled', 'task ended before it started'))
      this.deps.forget(key)
    }
    return after
  }
}
