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
} from './events.js'
import { toPublicTask } from './public-task.js'
import type { SessionTask, TaskMessage, TaskWake } from './schemas.js'
import { cloneMessage } from './snapshot.js'

/** The internal form of an event: references to immutable stored values, projected on delivery. */
export type RawEvent =
  | { type: 'task.created' | 'task.updated'; data: SessionTask }
  | { type: 'task.message.sent' | 'task.message.received'; data: TaskMessage }
  | { type: 'task.output'; data: { taskId: string; stream: string; delta: string } }
  | { type: 'task.wake'; data: TaskWake }

/** A raw event with its per-session sequence number. */
export type SequencedEvent = RawEvent & { seq: number }

/** The public payload of a raw event: a fresh copy, secrets redacted. */
export function materialize(event: RawEvent): SessionTaskEvents[SessionTaskEventType] {
  switch (event.type) {
    case 'task.created':
    case 'task.updated':
      return { task: toPublicTask(event.data) }
    case 'task.message.sent':
    case 'task.message.received':
      return { taskId: event.data.taskId, message: cloneMessage(event.data) }
    case 'task.output':
      return { ...event.data }
    case 'task.wake':
      return { ...event.data }
  }
}

/** A live consumer of one session's sequenced events (streams). */
export type EventTap = {
  push(event: SequencedEvent): void
  /** The session was deleted: end without error. */
  end(): void
}

type HubSession = {
  emitter: SessionTaskEmitter | undefined
  seq: number
  // Ring buffer of the last `capacity` events, oldest at `head`.
  ring: (SequencedEvent | undefined)[]
  head: number
  size: number
  taps: Set<EventTap>
  deleted: boolean
}

type Queued = { session: HubSession; sessionId: string; event: SequencedEvent }

/** Options of {@link SessionEventHub}. */
export type SessionEventHubOptions = {
  onListenerError?: ListenerErrorHandler | undefined
  replayBuffer?: number | undefined
}

const defaultListenerError: ListenerErrorHandler = (error, type) => {
  console.error(`session-tasks: a '${type}' listener threw`, error)
}

/**
 * Per-session emitters, sequence numbers, replay buffers and the dispatch
 * queue. Events raised while another is being dispatched (a listener writing
 * back into the registry) are queued, so every listener sees every session's
 * events in one order.
 */
export class SessionEventHub {
  private readonly sessions = new Map<string, HubSession>()
  private globals: AllSessionsListener[] = []
  private readonly queue: Queued[] = []
  private dispatching = false
  private readonly capacity: number
  private readonly onListenerError: ListenerErrorHandler
  private readonly deletionHooks = new Set<(sessionId: string) => void>()

  constructor(options: SessionEventHubOptions = {}) {
    this.capacity = options.replayBuffer ?? 1000
    this.onListenerError = options.onListenerError ?? defaultListenerError
  }

  private session(sessionId: string): HubSession {
    let session = this.sessions.get(sessionId)
    if (session === undefined) {
      session = {
        emitter: undefined,
        seq: 0,
        ring: [],
        head: 0,
        size: 0,
        taps: new Set(),
        deleted: false,
      }
      this.sessions.set(sessionId, session)
    }
    return session
  }

  /** The session's emitter, created on first use. */
  emitter(sessionId: string): SessionTaskEmitter {
    const session = this.session(sessionId)
    session.emitter ??= createSessionEmitter()
    return session.emitter
  }

  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: SessionTaskListener): () => void {
    const emitter = this.emitter(sessionId)
    emitter.on('*', listener)
    return () => emitter.off('*', listener)
  }

  /** Listens to every session's events; returns the unsubscribe function. */
  subscribeAll(listener: AllSessionsListener): () => void {
    // Copy on write: a dispatch in progress keeps iterating its own array.
    this.globals = [...this.globals, listener]
    return () => {
      const index = this.globals.indexOf(listener)
      if (index !== -1) this.globals = this.globals.filter((_, i) => i !== index)
    }
  }

  /** Runs `hook` whenever a session is deleted (wake queues drop its pending wakes). */
  onSessionDeleted(hook: (sessionId: string) => void): () => void {
    this.deletionHooks.add(hook)
    return () => this.deletionHooks.delete(hook)
  }

  /** Sequences, buffers and dispatches one event of a session. */
  emit(sessionId: string, event: RawEvent): void {
    const session = this.session(sessionId)
    const sequenced = { ...event, seq: ++session.seq } as SequencedEvent
    if (this.capacity > 0) {
      if (session.size < this.capacity) {
        session.ring.push(sequenced)
        session.size++
      } else {
        session.ring[session.head] = sequenced
        session.head = (session.head + 1) % this.capacity
      }
    }
    this.queue.push({ session, sessionId, event: sequenced })
    if (!this.dispatching) this.drain()
  }

  private drain(): void {
    this.dispatching = true
    try {
      for (let i = 0; i < this.queue.length; i++) this.deliver(this.queue[i] as Queued)
    } finally {
      this.queue.length = 0
      this.dispatching = false
    }
  }

  private deliver({ session, sessionId, event }: Queued): void {
    if (session.deleted) return
    for (const tap of [...session.taps]) tap.push(event)
    const emitter = session.emitter
    const globals = this.globals
    const local = emitter !== undefined && hasHandlers(emitter)
    if (!local && globals.length === 0) return
    const payload = materialize(event)
    const report = (error: unknown) => this.report(error, event.type, payload)
    if (local) dispatchIsolated(emitter, event.type, payload, report)
    for (const listener of globals) {
      try {
        listener(sessionId, event.type, payload)
      } catch (error) {
        report(error)
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

  /** The session's latest sequence number (0 before its first event). */
  lastSeq(sessionId: string): number {
    return this.sessions.get(sessionId)?.seq ?? 0
  }

  /**
   * The buffered events after `since`, or `undefined` when the buffer cannot
   * serve that cursor (too old, or ahead of the latest event).
   */
  replay(sessionId: string, since: number): SequencedEvent[] | undefined {
    const session = this.sessions.get(sessionId)
    const last = session?.seq ?? 0
    if (since > last || since < 0) return undefined
    if (since === last) return []
    if (session === undefined || session.size === 0) return undefined
    const first = last - session.size + 1
    if (since < first - 1) return undefined
    const out: SequencedEvent[] = []
    for (let seq = since + 1; seq <= last; seq++) {
      const index = (session.head + (seq - first)) % session.ring.length
      out.push(session.ring[index] as SequencedEvent)
    }
    return out
  }

  /** Attaches a live consumer of one session's events. */
  tap(sessionId: string, tap: EventTap): () => void {
    const session = this.session(sessionId)
    session.taps.add(tap)
    return () => session.taps.delete(tap)
  }

  /** Forgets a session: emitter, listeners, buffer and taps; nothing is emitted. */
  deleteSession(sessionId: string): void {
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

  /** Number of sessions with hub state (emitter, sequence or buffer); for leak checks. */
  get sessionCount(): number {
    return this.sessions.size
  }
}
