import type { SessionTask } from '../model/schemas.js'
import { isoString } from '../model/time.js'

/**
 * True when `task` has expired at `now` (SPEC 12.2): from its `expiresAt`
 * on, a task is absent to every read and write, whatever its state, until
 * `prune` deletes it. Records without `expiresAt` never read the clock.
 */
export function isExpired(task: SessionTask, now: () => Date): boolean {
  return task.expiresAt !== undefined && task.expiresAt <= isoString(now())
}
