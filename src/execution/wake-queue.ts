import { registryWith } from '../model/registry-shape.js'
import { SessionIdSchema, type TaskWake } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { wakeForRecord } from '../rules/wake.js'

/** Collects wakes of every session until the agent loop drains them. */
export type WakeQueue = {
  /** Returns and removes the session's pending wakes, oldest first. */
  drain(sessionId: string): TaskWake[]
  /** Counts the session's pending wakes without removing them. */
  pending(sessionId: string): number
  /**
   * Drops the task's terminal wake, pending or still to come: for a caller
   * that already told the agent how the task ended (a quick tool call
   * answered in the foreground).
   */
  discardTerminal(sessionId: string, taskId: string): void
  /** Stops collecting; pending wakes stay drainable. */
  stop(): void
}

const WakeSourceSchema = registryWith(['subscribeAll'])

// Wakes of state changes remembered so a rebuild after lost events does not
// raise them twice; the oldest are forgotten first.
const REMEMBERED = 10_000

// A task ends once, so its terminal wake is known by its id alone; an
// awaiting-input wake by the time it was raised, which a rebuild can only
// estimate (the record's updatedAt): it may repeat such a wake, never lose one.
const wakeKey = (wake: TaskWake) =>
  wake.transition === 'terminal'
    ? `${wake.taskId}\u0000terminal`
    : `${wake.taskId}\u0000${wake.transition}\u0000${wake.createdAt}`

/**
 * Collects every `task.wake` of every session from now on (through
 * `subscribeAll`), so an agent loop can pick them up between turns. A deleted
 * session's pending wakes are dropped when the registry reports deletions.
 * When the registry reports lost events (`onEventGap`), the session's
 * records are read again and the terminal and awaiting-input wakes they
 * imply are added, unless seen already.
 */
export function createWakeQueue(registry: SessionTaskRegistry): WakeQueue {
  parseInput(WakeSourceSchema, registry, 'registry')
  const pending = new Map<string, TaskWake[]>()
  const seen = new Set<string>()
  // A registry-like object may lack a clock; wakes older than the queue are not its business.
  const since = (typeof registry.now === 'function' ? registry.now() : new Date()).toISOString()
  let stopped = false
  const add = (sessionId: string, wake: TaskWake) => {
    if (wake.transition !== 'message') {
      seen.add(wakeKey(wake))
      if (seen.size > REMEMBERED) seen.delete(seen.values().next().value as string)
    }
    const list = pending.get(sessionId)
    if (list === undefined) pending.set(sessionId, [wake])
    else list.push(wake)
  }
  const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
    if (type !== 'task.wake') return
    const wake = payload as TaskWake
    // A rebuild after a gap may have raised it already (the record was read
    // before the event arrived).
    if (wake.transition !== 'message' && seen.has(wakeKey(wake))) return
    add(sessionId, { ...wake })
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => pending.delete(sessionId))
  const unhookGap = registry.onEventGap?.((gap) => {
    registry.list(gap.sessionId).then(
      (tasks) => {
        if (stopped) return
        for (const task of tasks) {
          const wake = wakeForRecord(task)
          if (wake === undefined || wake.createdAt < since || seen.has(wakeKey(wake))) continue
          add(gap.sessionId, wake)
        }
      },
      (error: unknown) =>
        console.error(
          `session-tasks: rebuilding wakes of session '${gap.sessionId}' failed`,
          error,
        ),
    )
  })
  return {
    drain(sessionId) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const list = pending.get(sid) ?? []
      pending.delete(sid)
      return list
    },
    pending(sessionId) {
      return pending.get(parseInput(SessionIdSchema, sessionId, 'sessionId'))?.length ?? 0
    },
    discardTerminal(sessionId, taskId) {
      const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
      const key = `${taskId}\u0000terminal`
      // Remembered as seen, a terminal wake arriving later is ignored too.
      seen.add(key)
      if (seen.size > REMEMBERED) seen.delete(seen.values().next().value as string)
      const list = pending.get(sid)
      if (list === undefined) return
      const kept = list.filter((w) => !(w.taskId === taskId && w.transition === 'terminal'))
      if (kept.length === 0) pending.delete(sid)
      else pending.set(sid, kept)
    },
    stop() {
      stopped = true
      unsubscribe()
      unhook?.()
      unhookGap?.()
    },
  }
}
