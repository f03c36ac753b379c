import type { SessionTask } from '../model/schemas.js'
import { isoString } from '../model/time.js'

// The latest instant a stored timestamp can hold: a later clock would print
// as "+010000-..." and sort before every stored one.
const LAST_ISO = '9999-12-31T23:59:59.999Z'
const LAST_MS = Date.parse(LAST_ISO)

/** An instant as stores compare it (clamped to what a stored timestamp can be). */
export function cutoffIso(date: Date): string {
  return date.getTime() > LAST_MS ? LAST_ISO : isoString(date)
}

/** True when `task` is live at `at` (an ISO instant): it has no `expiresAt`, or a later one. */
export function isLiveAt(task: SessionTask, at: string): boolean {
  return task.expiresAt === undefined || task.expiresAt > at
}

/**
 * True when `task` has expired at `now` (SPEC 12.2): from its `expiresAt`
 * on, a task is absent to every read and write, whatever its state, until
 * `prune` deletes it. Records without `expiresAt` never read the clock.
 */
export function isExpired(task: SessionTask, now: () => Date): boolean {
  return task.expiresAt !== undefined && !isLiveAt(task, cutoffIso(now()))
}
