import type { SessionTask } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { holdsSlot, type RunningCounts } from '../rules/claim.js'
import { isLiveAt } from '../rules/expiry.js'

/** What the index keeps per task: the current record and its insertion order. */
export type IndexedTask = { readonly task: SessionTask; readonly order: number }

const bump = (map: Map<string, number>, key: string, delta: number) => {
  const next = (map.get(key) ?? 0) + delta
  if (next <= 0) map.delete(key)
  else map.set(key, next)
}

/**
 * The in-memory store's secondary indexes for the control plane: running
 * counts per session and kind (for claims), the queued tasks, and the
 * unfinished tasks that have a deadline, so that a claim is O(1) and a
 * sweep reads only what it may act on.
 */
export class TaskStateIndex<E extends IndexedTask> {
  private running = 0
  private readonly runningBySession = new Map<string, number>()
  private readonly runningByKind = new Map<string, number>()
  /** Queued entries, in insertion order. */
  readonly queued = new Set<E>()
  /** Unfinished entries with a `deadlineAt`. */
  readonly timed = new Set<E>()
  // Slot holders with an `expiresAt`: once expired they are absent, and hold no slot.
  private readonly expiring = new Set<E>()

  /** Counts `entry` (holding `task`) in, or out with `sign` -1. */
  private apply(entry: E, task: SessionTask, sign: 1 | -1): void {
    if (holdsSlot(task.state)) {
      this.running += sign
      bump(this.runningBySession, task.sessionId, sign)
      bump(this.runningByKind, task.kind, sign)
      if (task.expiresAt !== undefined) {
        if (sign === 1) this.expiring.add(entry)
        else this.expiring.delete(entry)
      }
    }
    const queued = task.state === 'queued'
    const timed = task.deadlineAt !== undefined && !isTerminalState(task.state)
    if (sign === 1) {
      if (queued) this.queued.add(entry)
      if (timed) this.timed.add(entry)
    } else {
      if (queued) this.queued.delete(entry)
      if (timed) this.timed.delete(entry)
    }
  }

  /** A new entry. */
  add(entry: E): void {
    this.apply(entry, entry.task, 1)
  }

  /** The entry's record changed from `before` to `entry.task`. */
  changed(entry: E, before: SessionTask): void {
    if (before === entry.task) return
    this.apply(entry, before, -1)
    this.apply(entry, entry.task, 1)
  }

  /** The entry is gone. */
  remove(entry: E): void {
    this.apply(entry, entry.task, -1)
  }

  /** The live tasks holding a slot at `liveAt`, overall and for `task`'s session and kind. */
  counts(task: SessionTask, liveAt: string): RunningCounts {
    const counts = {
      global: this.running,
      session: this.runningBySession.get(task.sessionId) ?? 0,
      kind: this.runningByKind.get(task.kind) ?? 0,
    }
    for (const { task: held } of this.expiring) {
      if (isLiveAt(held, liveAt)) continue
      counts.global--
      if (held.sessionId === task.sessionId) counts.session--
      if (held.kind === task.kind) counts.kind--
    }
    return counts
  }
}
