import type { SessionTask, SessionTaskUpdate } from '../model/schemas.js'
import type { SessionTaskState } from '../model/state.js'
import type { ClaimOptions } from '../model/supervisor-schemas.js'
import { isoString } from '../model/time.js'

/**
 * Tasks that hold a concurrency slot (running or awaiting input) across the
 * whole registry, in the claimed task's session, and of its kind.
 */
export type RunningCounts = {
  /** In every session. */
  readonly global: number
  /** In the claimed task's session. */
  readonly session: number
  /** Of the claimed task's kind. */
  readonly kind: number
}

/**
 * Why a claim was refused: `taken` (no longer queued on the expected
 * attempt: another supervisor won, or it was canceled) or the limit that is full.
 */
export type ClaimRefusal = 'taken' | 'global' | 'perSession' | 'perKind'

/** Counts for a claim that checks no limit. */
export const NO_COUNTS: RunningCounts = Object.freeze({ global: 0, session: 0, kind: 0 })

/** True when `limits` sets at least one limit (a claim must then count). */
export function hasLimit(limits: ClaimOptions['limits']): boolean {
  return (
    limits !== undefined &&
    (limits.global !== undefined || limits.perSession !== undefined || limits.perKind !== undefined)
  )
}

/** True for the states that hold a concurrency slot. */
export function holdsSlot(state: SessionTaskState): boolean {
  return state === 'running' || state === 'awaiting_input'
}

/**
 * Decides a claim of `task` against the running counts read in the same
 * atomic step: `undefined` when it may start. Pure.
 */
export function claimRefusal(
  task: SessionTask,
  running: RunningCounts,
  options: ClaimOptions,
): ClaimRefusal | undefined {
  if (task.state !== 'queued' || task.attempt !== options.expectedAttempt) return 'taken'
  const limits = options.limits
  if (limits === undefined) return undefined
  if (limits.global !== undefined && running.global >= limits.global) return 'global'
  if (limits.perSession !== undefined && running.session >= limits.perSession) return 'perSession'
  if (limits.perKind !== undefined && running.kind >= limits.perKind) return 'perKind'
  return undefined
}

/**
 * What a claim of `task` does, decided on the record and the running counts
 * read in one atomic step: the update to apply (the claim, or the cancel a
 * request already asked for) and, when it is not a claim, why. Pure.
 */
export function claimDecision(
  task: SessionTask,
  running: RunningCounts,
  options: ClaimOptions,
  now: Date,
): { update?: SessionTaskUpdate; refusal?: ClaimRefusal } {
  const refusal = claimRefusal(task, running, options)
  if (refusal === 'taken') return { refusal }
  // A cancel was asked for before anyone started it (its canceller may have
  // died before its compare-and-set): finish the cancel instead of starting.
  if (task.cancelRequestedAt !== undefined) {
    return {
      refusal: 'taken',
      update: {
        state: 'canceled',
        stateDetail: 'canceled before it started',
        expectedState: 'queued',
        expectedAttempt: task.attempt,
      },
    }
  }
  if (refusal !== undefined) return { refusal }
  return { update: claimUpdate(task, options, now) }
}

/**
 * The write a granted claim makes: running, a fresh heartbeat (the reaper
 * then gives the new worker a full window), the claimer's worker id, and
 * no "waiting" detail left over. Fenced like any compare-and-set.
 */
export function claimUpdate(
  task: SessionTask,
  options: ClaimOptions,
  now: Date,
): SessionTaskUpdate {
  return {
    state: 'running',
    heartbeatAt: isoString(now),
    expectedState: 'queued',
    expectedAttempt: options.expectedAttempt,
    // Text fields cannot be cleared, only overwritten.
    ...(task.stateDetail === undefined ? {} : { stateDetail: '' }),
    ...(options.workerId === undefined ? {} : { workerId: options.workerId }),
  }
}
