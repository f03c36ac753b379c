import { deepFreeze } from '../model/freeze.js'
import { toPublicTask } from '../rules/projection.js'
import {
  type AllSessionsListener,
  createSessionEmitter,
  dispatchIsolated,
  hasHandlers,
  type ListenerErrorHandler,
  type SessionTaskEmitter,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type SessionTaskListener,
} from './emitter.js'
import type { EventGap, SequencedEvent } from './event.js'

/** A public event payload. */
export type EventPayload = SessionTaskEvents[SessionTaskEventType]

/**
 * A sequenced event on its way to listeners and streams. Its public payload
 * is built on first use and then shared by everyone who sees the event.
 */
export type HubEvent = {
  readonly type: SequencedEvent['type']
  readonly data: SequencedEvent['data']
  readonly seq: number
  payload: EventPayload | undefined
}

/**
 * A store's event ready for delivery: used as it is when it already has a
 * payload slot (the in-memory store builds them so), else wrapped (field by
 * field: spreading is a V8 slow path).
 */
export function hubEvent(event: SequencedEvent): HubEvent {
  if ('payload' in event) return event as HubEvent
  return { type: event.type, data: event.data, seq: event.seq, payload: undefined }
}

/** The event's public payload, frozen and built once: task snapshots have their secrets redacted. */
export function payloadOf(event: HubEvent): EventPayload {
  let payload = event.payload
  if (payload === undefined) {
    switch (event.type) {
      case 'task.created':
      case 'task.updated':
        payload = Object.freeze({
          task: toPublicTask(event.data as SessionTaskEvents['task.created']['task']),
        })
        break
      case 'task.message.sent':
      case 'task.message.received': {
        const message = event.data as SessionTaskEvents['task.message.sent']['message']
        payload = Object.freeze({ taskId: message.taskId, message: deepFreeze(message) })
        break
      }
      default:
        payload = deepFreeze(event.data as EventPayload)
    }
    event.payload = payload
  }
  return payload
}

/** A live consumer of one session's sequenced events (streams). */
export type EventTap = {
  push(event: HubEvent): void
  /** Events of the session were lost before reaching this process. */
  gap(gap: EventGap): void
  /** The session was deleted: end without error. */
  end(): void
}

type HubSession = {
  emitter: SessionTaskEmitter | undefined
  // True once `events()` handed the emitter out: it must then live as long
  // as the session, since its holder may attach handlers at any time.
  exposed: boolean
  taps: Set<EventTap>
  deleted: boolean
}

/** Options of {@link SessionEventHub}. */
export type SessionEventHubOptions = {
  onListenerError?: ListenerErrorHandler | undefined
  /** Told of every gap after the taps and hooks. */
  onEventGap?: ((gap: EventGap) => void) | undefined
}

/** Reports a gap where an operator sees it: lost events are never silent. */
export const defaultEventGapHandler = (gap: EventGap): void => {
  const range =
    gap.through === undefined ? `after seq ${gap.after}` : `${gap.after + 1}..${gap.through}`
  console.warn(
    `session-tasks: events ${range} of session '${gap.sessionId}' could not be delivered; readers resynchronise from the records`,
  )
}

// Marks a gap's place in the dispatch queue, in order with the events.
const GAP = 'gap' as SequencedEvent['type']

const defaultListenerError: ListenerErrorHandler = (error, type) => {
  console.error(`session-tasks: a '${type}' listener threw`, error)
}

/**
 * Per-session emitters, live taps and the dispatch queue. Events delivered
 * while another is being dispatched (a listener writing back into the
 * registry) are queued, so every listener sees every session's events in one
 * order. A session has hub state only while something listens to it.
 */
export class SessionEventHub {
  private readonly sessions = new Map<string, HubSession>()
  private globals: AllSessionsListener[] = []
  // The dispatch queue as two parallel arrays: no wrapper object per event.
  private readonly queuedSessions: string[] = []
  private readonly queue: HubEvent[] = []
  private dispatching = false
  // During a dispatch: the queue length at which a session was deleted; its
  // events queued before that belong to the deleted session and are dropped.
  private readonly deletedAt = new Map<string, number>()
  private readonly onListenerError: ListenerErrorHandler
  private readonly deletionHooks = new Set<(sessionId: string) => void>()
  private readonly gapHooks = new Set<(gap: EventGap) => void>()
  private readonly onEventGap: (gap: EventGap) => void

  constructor(options: SessionEventHubOptions = {}) {
    this.onListenerError = options.onListenerError ?? defaultListenerError
    this.onEventGap = options.onEventGap ?? defaultEventGapHandler
  }

  private session(sessionId: string): HubSession {
    let session = this.sessions.get(sessionId)
    if (session === undefined) {
      session = { emitter: undefined, exposed: false, taps: new Set(), deleted: false }
      this.sessions.set(sessionId, session)
    }
    return session
  }

  // Forgets a session nobody listens to any more, so memory follows live use.
  private release(sessionId: string, session: HubSession): void {
    if (session.exposed || session.taps.size > 0) return
    if (session.emitter !== undefined && hasHandlers(session.emitter)) return
    if (this.sessions.get(sessionId) === session) this.sessions.delete(sessionId)
  }

  /** The session's emitter, created on first use; it lives until the session is deleted. */
  emitter(sessionId: string): SessionTaskEmitter {
    const session = this.session(sessionId)
    session.exposed = true
    session.emitter ??= createSessionEmitter()
    return session.emitter
  }

  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: SessionTaskListener): () => void {
    const session = this.session(sessionId)
    session.emitter ??= createSessionEmitter()
    const emitter = session.emitter
    // A wrapper per registration: unsubscribing twice, or one of two
    // registrations of the same function, removes only this one.
    const registration: SessionTaskListener = (type, payload) => listener(type, payload)
    emitter.on('*', registration)
    let active = true
    return () => {
      if (!active) return
      active = false
      emitter.off('*', registration)
      this.release(sessionId, session)
    }
  }

  /** Listens to every session's events; returns the unsubscribe function. */
  subscribeAll(listener: AllSessionsListener): () => void {
    const registration: AllSessionsListener = (sessionId, type, payload) =>
      listener(sessionId, type, payload)
    // Copy on write: a dispatch in progress keeps iterating its own array.
    this.globals = [...this.globals, registration]
    return () => {
      this.globals = this.globals.filter((g) => g !== registration)
    }
  }

  /** Runs `hook` whenever a session is deleted (wake queues drop its pending wakes). */
  onSessionDeleted(hook: (sessionId: string) => void): () => void {
    this.deletionHooks.add(hook)
    return () => this.deletionHooks.delete(hook)
  }

  /** Runs `hook` for every gap (supervisors and wake queues resynchronise). */
  onGap(hook: (gap: EventGap) => void): () => void {
    const registration = (gap: EventGap) => hook(gap)
    this.gapHooks.add(registration)
    return () => this.gapHooks.delete(registration)
  }

  /**
   * Tells everyone who follows the session that events were lost: its
   * streams (they re-read a snapshot), the gap hooks, then `onEventGap`. In
   * order with the events around it.
   */
  gap(gap: EventGap): void {
    const seq = gap.through ?? gap.after
    const mark: HubEvent = { type: GAP, data: gap as never, seq, payload: undefined }
    if (this.dispatching) {
      this.queuedSessions.push(gap.sessionId)
      this.queue.push(mark)
      return
    }
    this.drain(gap.sessionId, [mark as unknown as SequencedEvent])
  }

  private dispatchGap(gap: EventGap): void {
    const session = this.sessions.get(gap.sessionId)
    if (session !== undefined) {
      for (const tap of [...session.taps]) {
        try {
          tap.gap(gap)
        } catch (error) {
          this.report(error, 'gap', gap)
        }
      }
    }
    for (const hook of [...this.gapHooks]) {
      try {
        hook(gap)
      } catch (error) {
        this.report(error, 'gap', gap)
      }
    }
    try {
      this.onEventGap(gap)
    } catch (error) {
      this.report(error, 'gap', gap)
    }
  }

  /**
   * Dispatches one operation's committed events, in order. When a dispatch
   * is already running (a listener wrote back), they wait their turn, so no
   * listener sees a write-back between an operation's own events.
   */
  deliver(sessionId: string, events: readonly SequencedEvent[]): void {
    if (this.globals.length === 0 && !this.sessions.has(sessionId)) return
    if (this.dispatching) {
      for (let i = 0; i < events.length; i++) {
        this.queuedSessions.push(sessionId)
        this.queue.push(hubEvent(events[i] as SequencedEvent))
      }
      return
    }
    this.drain(sessionId, events)
  }

  // Dispatches an operation's own events directly (no queueing on the common
  // path), then whatever listeners wrote back meanwhile, in order.
  private drain(sessionId: string, events: readonly SequencedEvent[]): void {
    this.dispatching = true
    try {
      for (let i = 0; i < events.length; i++) {
        // Deleted by a listener: the rest of the batch belonged to the old session.
        if (this.deletedAt.size > 0 && this.deletedAt.has(sessionId)) break
        this.dispatch(sessionId, hubEvent(events[i] as SequencedEvent))
      }
      for (let i = 0; i < this.queue.length; i++) {
        const sessionId = this.queuedSessions[i] as string
        const cut = this.deletedAt.size > 0 ? this.deletedAt.get(sessionId) : undefined
        if (cut === undefined || i >= cut) this.dispatch(sessionId, this.queue[i] as HubEvent)
      }
    } finally {
      // Guarded: resetting an empty array or Map still costs (a Map allocates a fresh table).
      if (this.queue.length > 0) {
        this.queue.length = 0
        this.queuedSessions.length = 0
      }
      if (this.deletedAt.size > 0) this.deletedAt.clear()
      this.dispatching = false
    }
  }

  private dispatch(sessionId: string, event: HubEvent): void {
    if (event.type === GAP) {
      this.dispatchGap(event.data as unknown as EventGap)
      return
    }
    // Read before any listener runs: (un)subscribing mid-dispatch takes effect from the next event.
    const globals = this.globals
    const session = this.sessions.get(sessionId)
    if (session !== undefined) {
      if (session.taps.size > 0) for (const tap of [...session.taps]) tap.push(event)
      const emitter = session.emitter
      if (emitter !== undefined && hasHandlers(emitter)) {
        const payload = payloadOf(event)
        dispatchIsolated(emitter, event.type as SessionTaskEventType, payload, (error, value) =>
          this.report(error, event.type, value),
        )
      }
    }
    if (globals.length === 0) return
    const payload = payloadOf(event)
    for (const listener of globals) {
      try {
        listener(sessionId, event.type as SessionTaskEventType, payload)
      } catch (error) {
        this.report(error, event.type, payload)
      }
    }
  }

  private report(error: unknown, type: string, payload: unknown): void {
    try {
      this.onListenerError(error, type, payload)
    } catch {
      // The error handler is the last resort; its own failure has nowhere to go.
    }
  }

  /** Attaches a live consumer of one session's events. */
  tap(sessionId: string, tap: EventTap): () => void {
    const session = this.session(sessionId)
    session.taps.add(tap)
    return () => {
      session.taps.delete(tap)
      this.release(sessionId, session)
    }
  }

  /** Forgets a session: emitter, listeners and taps; nothing is emitted. */
  deleteSession(sessionId: string): void {
    if (this.dispatching) this.deletedAt.set(sessionId, this.queue.length)
    const session = this.sessions.get(sessionId)
    if (session !== undefined) {
      session.deleted = true
      session.emitter?.all.clear()
      this.sessions.delete(sessionId)
      for (const tap of [...session.taps]) tap.end()
      session.taps.clear()
    }
    for (const hook of [...this.deletionHooks]) hook(sessionId)
  }

  /** Number of sessions with hub state (emitter or taps); for leak checks. */
  get sessionCount(): number {
    return this.sessions.size
  }
}
