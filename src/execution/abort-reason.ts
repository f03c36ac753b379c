/** Why a run's signal was aborted. */
export const TASK_ABORT_KINDS = ['canceled', 'timeout', 'superseded', 'closed', 'deleted'] as const

/** Why a run's signal was aborted (SPEC 12.4). */
export type TaskAbortKind = (typeof TASK_ABORT_KINDS)[number]

/**
 * The `reason` of an aborted `ctx.signal`: an Error whose `kind` says why —
 * the task was canceled, timed out, superseded (a new attempt took over, or
 * another writer settled it), the supervisor closed, or its session was
 * deleted.
 */
export class TaskAbortReason extends Error {
  /** Why the run was aborted. */
  readonly kind: TaskAbortKind

  constructor(kind: TaskAbortKind, message: string) {
    super(message)
    this.name = 'TaskAbortReason'
    this.kind = kind
  }
}
