import mittModule, { type Emitter } from 'mitt'
import type { SessionTask, TaskMessage, TaskWake } from '../model/schemas.js'

// mitt ships CommonJS-style typings; under NodeNext its default import is typed
// as the module object although at run time it is the factory itself.
const mitt = mittModule as unknown as typeof mittModule.default

/** Every event a session's emitter carries, with its payload (deeply frozen, shared by every listener). */
export type SessionTaskEvents = {
  /** A real insert. */
  'task.created': { readonly task: SessionTask }
  /** An update or cancel request that changed the record. */
  'task.updated': { readonly task: SessionTask }
  /** An inbound (session -> task) message was recorded. */
  'task.message.sent': { readonly taskId: string; readonly message: TaskMessage }
  /** An outbound (task -> session) message was recorded. */
  'task.message.received': { readonly taskId: string; readonly message: TaskMessage }
  /** Live output from a sink; never stored. */
  'task.output': { readonly taskId: string; readonly stream: string; readonly delta: string }
  /** The wake policy says the session's agent should wake. */
  'task.wake': TaskWake
  /** `registry.delete` removed the task (and its messages). */
  'task.deleted': { readonly taskId: string }
}

/** The name of a session event. */
export type SessionTaskEventType = keyof SessionTaskEvents

/** A session event as a discriminated union of `{ type, payload }`. */
export type SessionTaskEvent = {
  [K in SessionTaskEventType]: { type: K; payload: SessionTaskEvents[K] }
}[SessionTaskEventType]

/** A listener of all of one session's events (a mitt wildcard handler). */
export type SessionTaskListener = (
  type: SessionTaskEventType,
  payload: SessionTaskEvents[SessionTaskEventType],
) => void

/** A listener of every session's events. */
export type AllSessionsListener = (
  sessionId: string,
  type: SessionTaskEventType,
  payload: SessionTaskEvents[SessionTaskEventType],
) => void

/** Receives the errors thrown by listeners; the operation itself never fails. */
export type ListenerErrorHandler = (error: unknown, type: string, payload: unknown) => void

/** A per-session emitter (mitt). */
export type SessionTaskEmitter = Emitter<SessionTaskEvents>

/** Creates one session's emitter. */
export function createSessionEmitter(): SessionTaskEmitter {
  return mitt<SessionTaskEvents>()
}

type AnyHandler = (...args: unknown[]) => void

/**
 * Calls the emitter's handlers like mitt's `emit` (typed ones, then `'*'`),
 * except that each handler is isolated: one that throws is reported and the
 * rest still run. Every handler gets the same frozen payload. Both handler
 * lists are copied before the first call: (un)subscribing during dispatch
 * takes effect from the next event.
 */
export function dispatchIsolated(
  emitter: SessionTaskEmitter,
  type: SessionTaskEventType,
  payload: unknown,
  report: (error: unknown, payload: unknown) => void,
): void {
  const typedList = emitter.all.get(type)
  const wildcardList = emitter.all.get('*')
  const typed = typedList !== undefined && typedList.length > 0 ? typedList.slice() : undefined
  const wildcard =
    wildcardList !== undefined && wildcardList.length > 0 ? wildcardList.slice() : undefined
  if (typed !== undefined) {
    for (const handler of typed as AnyHandler[]) {
      try {
        handler(payload)
      } catch (error) {
        report(error, payload)
      }
    }
  }
  if (wildcard !== undefined) {
    for (const handler of wildcard as AnyHandler[]) {
      try {
        handler(type, payload)
      } catch (error) {
        report(error, payload)
      }
    }
  }
}

/** True when the emitter has at least one handler. */
export function hasHandlers(emitter: SessionTaskEmitter): boolean {
  for (const list of emitter.all.values()) if (list.length > 0) return true
  return false
}
