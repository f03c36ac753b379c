import type { SessionTask } from '../model/schemas.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { taskIdOfKey } from './task-key.js'

/**
 * Lost events (SPEC 12.5) may have held a terminal write that would free
 * what a supervisor holds: on every gap, reads again the tasks it holds in
 * that session (`held` gives their keys) and hands each record (or
 * `undefined` when it is gone) to `settle`. Returns the unhook, if the
 * registry reports gaps.
 */
export function recheckAfterGaps(
  registry: SessionTaskRegistry,
  held: (sessionId: string) => string[],
  settle: (key: string, task: SessionTask | undefined) => void,
  onError: (error: unknown, context: string) => void,
): (() => void) | undefined {
  return registry.onEventGap?.((gap) => {
    for (const key of held(gap.sessionId)) {
      const taskId = taskIdOfKey(gap.sessionId, key)
      registry.get(gap.sessionId, taskId).then(
        (task) => settle(key, task),
        (error: unknown) => onError(error, `re-reading task '${taskId}' after lost events`),
      )
    }
  })
}

/**
 * For a follower of one task: on every gap in its session, reads the task
 * again and hands the record (or `undefined`) to `onRecord`, unless an
 * event of the task came during the read (`heard` counts them), which is
 * newer than the read and already handled. Returns the unhook, if the
 * registry reports gaps.
 */
export function rereadAfterGaps(
  registry: SessionTaskRegistry,
  sessionId: string,
  taskId: string,
  heard: () => number,
  onRecord: (task: SessionTask | undefined) => void,
): (() => void) | undefined {
  return registry.onEventGap?.((gap) => {
    if (gap.sessionId !== sessionId) return
    const before = heard()
    registry.get(sessionId, taskId).then(
      (task) => {
        if (heard() === before) onRecord(task)
      },
      () => {},
    )
  })
}
