import type { SessionTask, TaskMessage, TaskWake } from '../model/schemas.js'
import { toPublicTask } from '../rules/projection.js'
import { cloneMessage } from '../rules/snapshot.js'
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
  // Buffered events in seq order from index `start`; the slots before it are
  // spent and reclaimed in batches, so trimming the oldest is O(1).
  buffer: (SequencedEvent | undefined)[]
  start: number
  // Highest seq dropped from the buffer (by capacity or by prune): a replay
  // from below it could miss an event, so it gets a snapshot instead.
  floor: number
  taps: Set<EventTap>
  deleted: boolean
}

/** The task an event is about. */
function taskIdOf(event: RawEvent): string {
  switch (event.type) {
    case 'task.created':
    case 'task.updated':
      return event.data.id
    default:
      return event.data.taskId
  }
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
        buffer: [],
        start: 0,
        floor: 0,
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
    // A wrapper per registration: unsubscribing twice, or one of two
    // registrations of the same function, removes only this one.
    const registration: SessionTaskListener = (type, payload) => listener(type, payload)
    emitter.on('*', registration)
    let active = true
    return () => {
      if (!active) return
      active = false
      emitter.off('*', registration)
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

  /**
   * Sequences, buffers and dispatches one event of a session. A backend that
   * numbers events itself (a database) passes `seq`: an event at or below the
   * session's latest seq is a duplicate and is dropped; a jump over missing
   * seqs raises the replay floor, so no replay can skip them silently.
   */
  emit(sessionId: string, event: RawEvent, seq?: number): void {
    this.enqueue(sessionId, event, seq)
    this.flush()
  }

  /**
   * Sequences and buffers an event without dispatching it yet. An operation
   * enqueues all its events (a record event and its wake, a message and the
   * resume it caused) and then calls {@link flush}, so no listener write-back
   * can land between them.
   */
  enqueue(sessionId: string, event: RawEvent, seq?: number): void {
    const session = this.session(sessionId)
    let next = session.seq + 1
    if (seq !== undefined) {
      if (seq <= session.seq) return
      if (seq > next) session.floor = Math.max(session.floor, seq - 1)
      next = seq
    }
    session.seq = next
    // Built field by field: spreading and adding `seq` is a V8 slow path.
    const sequenced = { type: event.type, data: event.data, seq: next } as SequencedEvent
    session.buffer.push(sequenced)
    if (session.buffer.length - session.start > this.capacity) {
      session.floor = (session.buffer[session.start] as SequencedEvent).seq
      session.buffer[session.start++] = undefined
      if (session.start > 1024 && session.start * 2 > session.buffer.length) {
        session.buffer = session.buffer.slice(session.start)
        session.start = 0
      }
    }
    this.queue.push({ session, sessionId, event: sequenced })
  }

  /** Dispatches everything enqueued, unless a dispatch is already running (it will). */
  flush(): void {
    if (!this.dispatching && this.queue.length > 0) this.drain()
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
    // Every listener gets its own copy: one that mutates its payload cannot
    // change what the next listener (the supervisor, say) sees.
    const payload = () => materialize(event)
    const report = (error: unknown, value: unknown) => this.report(error, event.type, value)
    if (local) dispatchIsolated(emitter, event.type, payload, report)
    for (const listener of globals) {
      const value = payload()
      try {
        listener(sessionId, event.type, value)
      } catch (error) {
        report(error, value)
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
    if (session === undefined || since < session.floor) return undefined
    const { buffer } = session
    // Binary search for the first buffered event after `since`.
    let lo = session.start
    let hi = buffer.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((buffer[mid] as SequencedEvent).seq <= since) lo = mid + 1
      else hi = mid
    }
    return buffer.slice(lo) as SequencedEvent[]
  }

  /**
   * Drops the buffered events of deleted tasks so that pruning frees their
   * memory; replays from before the last dropped event fall back to a snapshot.
   */
  forgetTasks(sessionId: string, taskIds: ReadonlySet<string>): void {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return
    const kept: SequencedEvent[] = []
    for (let i = session.start; i < session.buffer.length; i++) {
      const event = session.buffer[i] as SequencedEvent
      if (taskIds.has(taskIdOf(event))) session.floor = Math.max(session.floor, event.seq)
      else kept.push(event)
    }
    session.buffer = kept
    session.start = 0
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
