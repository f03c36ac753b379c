import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { ReapOptionsSchema } from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { ResolvedTaskExecutor } from './executor.js'
import type { TaskExecutorRegistry } from './executor-registry.js'

/** Options of `supervisor.reap`. */
export type ReapOptions = {
  /** @default 300000 */
  staleAfterMs?: number | undefined
  /** @default 3 */
  maxAttempts?: number | undefined
  /** @default 50 */
  limit?: number | undefined
}

/** What happened to one reap candidate. */
export type ReapOutcome = {
  sessionId: string
  taskId: string
  outcome: 'reaped' | 'reattached' | 'skipped'
  reason?: string
}

/** The result of one reap pass. */
export type ReapResult = {
  candidates: number
  reaped: number
  reattached: number
  skipped: number
  outcomes: ReapOutcome[]
}

/** What the reaper needs from the supervisor that owns it. */
export type ReaperDeps = {
  registry: SessionTaskRegistry
  executors: TaskExecutorRegistry
  clock: () => Date
  onError: (error: unknown, context: string) => void
  /** Starts the task again on its new attempt (the supervisor tracks the run and its slot). */
  reattach: (task: SessionTask, executor: ResolvedTaskExecutor) => Promise<void>
  /** True while the task waits for a concurrency slot here: its heartbeat is not the worker's. */
  isWaiting: (task: SessionTask) => boolean
  /**
   * `dispatch: 'shared'`: queued tasks are anyone's to claim, so they are
   * never reaped, and a re-attach puts the task back in the queue.
   */
  requeue: boolean
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * The reap pass of SPEC 9: fail or re-attach queued and running tasks whose
 * heartbeat went stale, each decided by a fenced write so that concurrent
 * reapers reap a task once.
 */
export function createReaper(deps: ReaperDeps): (options?: ReapOptions) => Promise<ReapResult> {
  const { registry, executors, clock, onError } = deps

  async function reapOne(
    candidate: SessionTask,
    cutoff: Date,
    maxAttempts: number,
    record: (task: SessionTask, outcome: ReapOutcome['outcome'], reason?: string) => void,
  ): Promise<void> {
    const task = await registry.get(candidate.sessionId, candidate.id)
    if (task === undefined) return record(candidate, 'skipped', 'task no longer exists')
    if (isTerminalState(task.state)) return record(task, 'skipped', `already ${task.state}`)
    if (task.state === 'awaiting_input') return record(task, 'skipped', 'awaiting input')
    if (task.heartbeatAt === undefined || task.heartbeatAt >= cutoff.toISOString()) {
      return record(task, 'skipped', 'heartbeat is fresh again')
    }
    if (deps.isWaiting(task)) return record(task, 'skipped', 'waiting for a concurrency slot')
    if (deps.requeue && task.state === 'queued') {
      return record(task, 'skipped', 'queued for any supervisor to claim')
    }
    const executor = executors.find(task.kind)
    let reattach = false
    try {
      reattach = executor !== undefined && task.attempt < maxAttempts && executor.canReattach(task)
    } catch (error) {
      onError(error, `executor.canReattach of task '${task.id}'`)
    }
    if (reattach && executor !== undefined) {
      const next = task.attempt + 1
      const outcome = await registry.updateWithOutcome(task.sessionId, task.id, {
        incrementAttempt: true,
        workerId: 'reaper',
        ...(deps.requeue
          ? { state: 'queued' as const, stateDetail: `re-queued (attempt ${next})` }
          : { stateDetail: `re-attached (attempt ${next})` }),
        // A fresh heartbeat gives the new worker a full window before the next pass.
        heartbeatAt: clock().toISOString(),
        expectedAttempt: task.attempt,
        // Compare-and-set on what was judged stale: a task that moved on (or
        // finished, rule 2b) since the read is left alone.
        expectedState: task.state,
      })
      if (outcome === undefined) return record(task, 'skipped', 'task no longer exists')
      if (!outcome.applied) return record(task, 'skipped', 'another writer moved the task first')
      await deps.reattach(outcome.task, executor)
      const after = await registry.get(task.sessionId, task.id)
      if (after?.state === 'failed' && after.error?.kind === 'orphaned') {
        return record(task, 'reaped', after.error.message)
      }
      return record(task, 'reattached')
    }
    const outcome = await registry.updateWithOutcome(task.sessionId, task.id, {
      state: 'failed',
      error: { kind: 'orphaned', message: 'worker heartbeat stopped' },
      incrementAttempt: true,
      expectedAttempt: task.attempt,
      expectedState: task.state,
    })
    if (outcome === undefined) return record(task, 'skipped', 'task no longer exists')
    if (!outcome.applied) return record(task, 'skipped', 'another writer moved the task first')
    return record(task, 'reaped', task.attempt >= maxAttempts ? 'max attempts reached' : undefined)
  }

  return async function reap(reapOptions?: ReapOptions): Promise<ReapResult> {
    const opts =
      reapOptions === undefined ? {} : parseInput(ReapOptionsSchema, reapOptions, 'ReapOptions')
    const staleAfterMs = opts.staleAfterMs ?? 300_000
    const maxAttempts = opts.maxAttempts ?? 3
    const cutoff = new Date(clock().getTime() - staleAfterMs)
    const candidates = await registry.listStale({
      heartbeatBefore: cutoff,
      limit: opts.limit ?? 50,
    })
    const result: ReapResult = {
      candidates: candidates.length,
      reaped: 0,
      reattached: 0,
      skipped: 0,
      outcomes: [],
    }
    const record = (task: SessionTask, outcome: ReapOutcome['outcome'], reason?: string) => {
      result[
        outcome === 'reaped' ? 'reaped' : outcome === 'reattached' ? 'reattached' : 'skipped'
      ]++
      result.outcomes.push({
        sessionId: task.sessionId,
        taskId: task.id,
        outcome,
        ...(reason === undefined ? {} : { reason }),
      })
    }
    for (const candidate of candidates) {
      try {
        await reapOne(candidate, cutoff, maxAttempts, record)
      } catch (error) {
        record(candidate, 'skipped', `error: ${reasonOf(error)}`)
      }
    }
    return result
  }
}
