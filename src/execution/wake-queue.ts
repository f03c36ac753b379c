import { registryWith } from '../model/registry-shape.js'
import { SessionIdSchema, type TaskWake } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'

/** Collects wakes of every session until the agent loop drains them. */
export type WakeQueue = {
  /** Returns and removes the session's pending wakes, oldest first. */
  drain(sessionId: string): TaskWake[]
  /** Counts the session's pending wakes without removing them. */
  pending(sessionId: string): number
  /** Stops collecting; pending wakes stay drainable. */
  stop(): void
}

const WakeSourceSchema = registryWith(['subscribeAll'])

/**
 * Collects every `task.wake` of every session from now on (through
 * `subscribeAll`), so an agent loop can pick them up between turns. A deleted
 * session's pending wakes are dropped when the registry reports deletions.
 */
export function createWakeQueue(registry: SessionTaskRegistry): WakeQueue {
  parseInput(WakeSourceSchema, registry, 'registry')
  const pending = new Map<string, TaskWake[]>()
  const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
    if (type !== 'task.wake') return
    const list = pending.get(sessionId)
    const wake = { ...(payload as TaskWake) }
    if (list === undefined) pending.set(sessionId, [wake])
    else list.push(wake)
  })
  const unhook = registry.onSessionDeleted?.((sessionId) => pending.delete(sessionId))
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
    stop() {
      unsubscribe()
      unhook?.()
    },
  }
}
