import type { SessionTask } from '../model/schemas.js'
import type { ClaimResult, SessionTaskRegistry } from '../registry/registry.js'
import { type ClaimRefusal, holdsSlot } from '../rules/claim.js'
import type { ConcurrencyLimits } from './admission.js'
import type { Deadlines } from './deadlines.js'
import type { ResolvedTaskExecutor } from './executor.js'
import type { TaskExecutorRegistry } from './executor-registry.js'
import { type RunTable, settleSoon } from './runs.js'
import { taskKey } from './task-key.js'
import { startTimer } from './timer.js'

type ClaimFn = NonNullable<SessionTaskRegistry['claim']>
type ListQueuedFn = NonNullable<SessionTaskRegistry['listQueued']>

/** What {@link SharedDispatch} needs from the supervisor that owns it. */
export type SharedDispatchDeps = {
  registry: SessionTaskRegistry
  claim: ClaimFn
  listQueued: ListQueuedFn
  executors: TaskExecutorRegistry
  limits: ConcurrencyLimits
  workerId: string
  sweepIntervalMs: number
  onError: (error: unknown, context: string) => void
  /** Runs the claimed task here; the promise settles with the executor's start. */
  start: (task: SessionTask, executor: ResolvedTaskExecutor) => Promise<void>
  /** A task running here had a cancel requested (by any process). */
  cancelRequested: (task: SessionTask) => void
  /**
   * A task changed hands elsewhere (a new attempt, or back in the queue):
   * a run of it here on an older attempt is superseded.
   */
  moved: (task: SessionTask) => void
  /** True once the supervisor is closing. */
  isClosed: () => boolean
}

/** How one claim attempt ended: started here, or why not. */
export type ClaimOutcome = 'started' | 'gone' | 'unsupported' | ClaimRefusal

/** True when a claim was refused because a limit is full. */
export const isLimitRefusal = (outcome: ClaimOutcome): boolean =>
  outcome === 'global' || outcome === 'perSession' || outcome === 'perKind'

// Tasks read per page of a sweep, and pages per sweep: each page is one short query.
const SWEEP_BATCH = 100
const SWEEP_PAGES = 10

/**
 * The `dispatch: 'shared'` control plane: every supervisor on a registry
 * claims queued tasks of the kinds it has executors for. Claims are driven
 * by events (a task queued, a slot freed, lost events) and a periodic
 * sweep, never a tight poll; each is one fenced compare-and-set with the
 * limits checked in the same write, so exactly one supervisor wins.
 */
export class SharedDispatch {
  private readonly deps: SharedDispatchDeps
  private readonly claiming = new Map<string, Promise<ClaimOutcome>>()
  // Cancel requests seen while a claim of the task was in flight: its run did not exist yet.
  private readonly cancelsWhileClaiming = new Map<string, SessionTask>()
  private sweeping = false
  // Where the last sweep stopped paging, when the queue was longer than it reads.
  private resumeAfter: string | undefined
  private sweepAgain = false
  // True after a claim was refused for a limit: a freed slot is then worth a sweep.
  private backlog = false
  private stopped = false
  private readonly stops: (() => void)[] = []

  constructor(deps: SharedDispatchDeps) {
    this.deps = deps
  }

  /** Starts listening and sweeping (the first sweep runs at once). */
  start(): void {
    const { registry, sweepIntervalMs } = this.deps
    this.stops.push(
      registry.subscribeAll((_sessionId, type, payload) => {
        if (type !== 'task.created' && type !== 'task.updated') return
        this.observe((payload as { task: SessionTask }).task)
      }),
    )
    const unhookGap = registry.onEventGap?.(() => this.sweep())
    if (unhookGap !== undefined) this.stops.push(unhookGap)
    let cancel = () => {}
    const arm = () => {
      cancel = startTimer(
        sweepIntervalMs,
        () => {
          if (this.stopped) return
          arm()
          this.sweep()
        },
        { unref: true },
      )
    }
    arm()
    this.stops.push(() => cancel())
    this.sweep()
  }

  /** Stops listening and sweeping; claims in flight finish (and hand back what they won). */
  stop(): void {
    this.stopped = true
    for (const stop of this.stops.splice(0)) stop()
  }

  private observe(task: SessionTask): void {
    if (this.stopped) return
    this.deps.moved(task)
    if (task.state === 'queued') {
      void this.claimNow(task)
      return
    }
    if (task.cancelRequestedAt !== undefined) {
      const key = taskKey(task.sessionId, task.id)
      if (this.claiming.has(key)) this.cancelsWhileClaiming.set(key, task)
      this.deps.cancelRequested(task)
    }
    // A finished task frees a slot somewhere: something refused may fit now.
    if (this.backlog && !holdsSlot(task.state)) this.sweep()
  }

  /**
   * Claims `task` on its current attempt and starts it here when this
   * supervisor has an executor for its kind; one claim per task at a time.
   */
  claimNow(task: SessionTask): Promise<ClaimOutcome> {
    const key = taskKey(task.sessionId, task.id)
    const inFlight = this.claiming.get(key)
    if (inFlight !== undefined) return inFlight
    const attempt = this.attemptClaim(task).catch((error: unknown): ClaimOutcome => {
      this.deps.onError(error, `claiming task '${task.id}'`)
      return 'gone'
    })
    this.claiming.set(key, attempt)
    void attempt.then(() => {
      if (this.claiming.get(key) !== attempt) return
      this.claiming.delete(key)
      const canceled = this.cancelsWhileClaiming.get(key)
      this.cancelsWhileClaiming.delete(key)
      if (canceled !== undefined) this.deps.cancelRequested(canceled)
    })
    return attempt
  }

  private async attemptClaim(task: SessionTask): Promise<ClaimOutcome> {
    const { claim, executors, limits, workerId, registry } = this.deps
    const executor = executors.find(task.kind)
    if (executor === undefined || this.stopped || this.deps.isClosed()) return 'unsupported'
    const result: ClaimResult | undefined = await claim(task.sessionId, task.id, {
      expectedAttempt: task.attempt,
      limits,
      workerId,
    })
    if (result === undefined) return 'gone'
    if (!result.claimed) {
      if (isLimitRefusal(result.reason)) this.backlog = true
      return result.reason
    }
    if (this.deps.isClosed()) {
      // Won while closing: hand it back to the queue for the others.
      await registry.update(task.sessionId, task.id, {
        state: 'queued',
        stateDetail: 'handed back: its supervisor closed',
        expectedState: 'running',
        expectedAttempt: result.task.attempt,
      })
      return 'gone'
    }
    await this.deps.start(result.task, executor)
    return 'started'
  }

  /** Claims queued tasks oldest first until a global limit is reached; coalesced while one runs. */
  sweep(): void {
    if (this.stopped) return
    if (this.sweeping) {
      this.sweepAgain = true
      return
    }
    this.sweeping = true
    void this.sweepLoop().finally(() => {
      this.sweeping = false
    })
  }

  private async sweepLoop(): Promise<void> {
    do {
      this.sweepAgain = false
      try {
        await this.sweepOnce()
      } catch (error) {
        this.deps.onError(error, 'sweeping queued tasks')
      }
    } while (this.sweepAgain && !this.stopped)
  }

  private async sweepOnce(): Promise<void> {
    const kinds = this.deps.executors.kinds()
    if (kinds.length === 0) return
    // Refusals from here on (this sweep's, and event-driven claims meanwhile) count.
    this.backlog = false
    // The oldest page first; then page on past tasks a session or kind
    // limit holds back, so one that could start behind them is found. A
    // sweep reads a bounded number of pages and the next one goes on from
    // where it stopped, so a long queue is covered round by round.
    let afterId: string | undefined
    for (let page = 0; page < SWEEP_PAGES; page++) {
      const queued = await this.deps.listQueued({
        kinds,
        limit: SWEEP_BATCH,
        ...(afterId === undefined ? {} : { afterId }),
      })
      for (const task of queued) {
        if (this.stopped) return
        const outcome = await this.claimNow(task)
        if (outcome === 'global') return
      }
      if (queued.length < SWEEP_BATCH) {
        this.resumeAfter = undefined
        return
      }
      afterId = page === 0 && this.resumeAfter !== undefined ? this.resumeAfter : queued.at(-1)?.id
    }
    this.resumeAfter = afterId
  }
}

/** The dispatch hooks that act on a supervisor's runs and deadline timers. */
export function runHooks(
  runs: RunTable,
  deadlines: Deadlines,
  clock: () => Date,
): Pick<SharedDispatchDeps, 'start' | 'cancelRequested' | 'moved'> {
  return {
    start: async (task, executor) => {
      deadlines.armAt(task)
      await settleSoon(runs.launch(task, executor, task.attempt > 1 ? 'orphaned' : 'start_failed'))
    },
    cancelRequested: (task) => {
      // Another process (or this one) asked to cancel a task running here.
      if (runs.attemptOf(taskKey(task.sessionId, task.id)) !== task.attempt) return
      const due = task.deadlineAt !== undefined && Date.parse(task.deadlineAt) <= clock().getTime()
      void runs.cancel(task, due ? 'timeout' : undefined)
    },
    moved: (task) => {
      const key = taskKey(task.sessionId, task.id)
      const held = runs.attemptOf(key)
      // Re-queued, or taken on a newer attempt elsewhere: the run here is stale.
      if (held !== undefined && (held < task.attempt || task.state === 'queued')) runs.end(key)
    },
  }
}

/**
 * On `close()` with shared dispatch: the tasks whose runs here did not
 * settle within the grace go back to the queue on a new attempt (when their
 * executor can re-attach), so another supervisor starts them at once
 * instead of after the reaper's `staleAfterMs`. Fenced on the attempt and
 * state read: a task that moved on meanwhile is left alone.
 */
export async function handBack(
  registry: SessionTaskRegistry,
  executors: TaskExecutorRegistry,
  held: readonly { sessionId: string; taskId: string; attempt: number }[],
  onError: (error: unknown, context: string) => void,
): Promise<void> {
  await Promise.all(
    held.map(async ({ sessionId, taskId, attempt }) => {
      try {
        const task = await registry.get(sessionId, taskId)
        if (task === undefined || task.attempt !== attempt || task.state !== 'running') return
        if (executors.find(task.kind)?.canReattach(task) !== true) return
        await registry.update(sessionId, taskId, {
          state: 'queued',
          incrementAttempt: true,
          stateDetail: `handed back on close (attempt ${attempt + 1})`,
          expectedAttempt: attempt,
          expectedState: 'running',
        })
      } catch (error) {
        onError(error, `handing task '${taskId}' back to the queue`)
      }
    }),
  )
}
