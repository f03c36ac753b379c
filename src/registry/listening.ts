import type {
  AllSessionsListener,
  ListenerErrorHandler,
  SessionTaskEmitter,
  SessionTaskListener,
} from '../events/emitter.js'
import type { EventGap } from '../events/event.js'
import { SessionEventHub } from '../events/hub.js'
import { checkedClock } from '../model/clock.js'
import { type Subscription, toSubscription } from '../model/dispose.js'
import { FunctionSchema, SessionIdSchema, StreamOptionsSchema } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import { createSessionStream, type StreamItem, type StreamOptions } from '../stream/stream.js'
import type { SessionTaskStore } from './store.js'
import { storeStreamSource } from './stream-source.js'

/** Options of {@link SessionTaskRegistryCore}. */
export type SessionTaskRegistryCoreOptions = {
  /**
   * The clock that stamps records, messages and wakes.
   * @default () => new Date()
   */
  now?: (() => Date) | undefined
  /**
   * Receives errors thrown by event listeners; the operation never fails.
   * @default logs with console.error
   */
  onListenerError?: ListenerErrorHandler | undefined
  /**
   * Told when committed events could not be delivered to this process
   * (SPEC 12.5), after streams and `onEventGap` hooks were.
   * @default logs with console.warn
   */
  onEventGap?: ((gap: EventGap) => void) | undefined
}

/**
 * The listening side of the registry core: the store's committed events go
 * to per-session emitters, listeners, hooks and streams, and a session is
 * watched in the store while anyone here listens to it.
 */
export abstract class ListeningRegistry {
  /** The storage port this registry runs over. */
  protected readonly store: SessionTaskStore
  /** Per-session emitters and the dispatch queue. @internal */
  protected readonly hub: SessionEventHub
  /** The registry's clock, checked. @internal */
  protected readonly clock: () => Date

  constructor(store: SessionTaskStore, options: SessionTaskRegistryCoreOptions = {}) {
    this.store = store
    this.clock = options.now === undefined ? () => new Date() : checkedClock(options.now)
    this.hub = new SessionEventHub({
      onListenerError: options.onListenerError,
      onEventGap: options.onEventGap,
    })
    store.attach({
      deliver: (sessionId, events) => this.hub.deliver(sessionId, events),
      deleted: (sessionId) => this.hub.deleteSession(sessionId),
      gap: (gap) => this.hub.gap(gap),
    })
  }

  /** The registry's clock. */
  now(): Date {
    return this.clock()
  }

  /** The session's mitt emitter (created on first use). */
  events(sessionId: string): SessionTaskEmitter {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    // An emitter can be listened to at any time: the session stays watched.
    this.store.watch?.(sid)
    return this.hub.emitter(sid)
  }

  /** Listens to all of one session's events; returns the unsubscribe function (also `Disposable`). */
  subscribe(sessionId: string, listener: SessionTaskListener): Subscription {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    parseInput(FunctionSchema, listener, 'listener')
    return toSubscription(both(this.hub.subscribe(sid, listener), this.store.watch?.(sid)))
  }

  /** Listens to every session's events; returns the unsubscribe function (also `Disposable`). */
  subscribeAll(listener: AllSessionsListener): Subscription {
    parseInput(FunctionSchema, listener, 'listener')
    return toSubscription(both(this.hub.subscribeAll(listener), this.store.watch?.(undefined)))
  }

  /** Runs `hook` after a session is deleted. */
  onSessionDeleted(hook: (sessionId: string) => void): () => void {
    parseInput(FunctionSchema, hook, 'hook')
    return this.hub.onSessionDeleted(hook)
  }

  /** Runs `hook` whenever this process learns that committed events were lost (SPEC 12.5). */
  onEventGap(hook: (gap: EventGap) => void): () => void {
    parseInput(FunctionSchema, hook, 'hook')
    return this.hub.onGap(hook)
  }

  /** A replayable stream of one session's events: a snapshot (or a replay from `since`), then live events. */
  stream(sessionId: string, options?: StreamOptions): AsyncIterable<StreamItem> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const o = options === undefined ? {} : parseInput(StreamOptionsSchema, options, 'StreamOptions')
    return createSessionStream(this.hub, sid, storeStreamSource(this.store, sid, this.clock), o)
  }
}

function both(first: () => void, second: (() => void) | undefined): () => void {
  let active = true
  return () => {
    if (!active) return
    active = false
    first()
    second?.()
  }
}
