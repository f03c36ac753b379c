import type { ListenerErrorHandler } from '../events/emitter.js'
import type { EventGap } from '../events/event.js'
import { asyncDisposeKey } from '../model/dispose.js'
import { RegistryOptionsSchema } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import { SessionTaskRegistryCore } from './core.js'
import { InMemoryTaskStore } from './memory-store.js'

const ASYNC_DISPOSE: typeof Symbol.asyncDispose = asyncDisposeKey()

/** Options of {@link InMemorySessionTaskRegistry}. */
export type InMemorySessionTaskRegistryOptions = {
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
   * (SPEC 12.5): streams re-read a snapshot and `onEventGap` hooks run first.
   * @default logs with console.warn
   */
  onEventGap?: ((gap: EventGap) => void) | undefined
  /**
   * Most recent events of one session kept for `stream({ since })`.
   * @default 1000
   */
  replayBuffer?: number | undefined
  /**
   * Most events kept for replay across all sessions, the oldest evicted
   * first; a cursor older than what is kept gets a snapshot.
   * @default 50000
   */
  replayBudget?: number | undefined
}

/**
 * The embedded default registry: the registry core over an
 * {@link InMemoryTaskStore}. No server, no setup.
 */
export class InMemorySessionTaskRegistry extends SessionTaskRegistryCore {
  private readonly memory: InMemoryTaskStore

  constructor(options: InMemorySessionTaskRegistryOptions = {}) {
    // Read the validated copy only: a getter must not answer differently twice.
    const o = parseInput(RegistryOptionsSchema, options, 'registry options')
    const store = new InMemoryTaskStore({
      replayBuffer: o.replayBuffer,
      replayBudget: o.replayBudget,
    })
    super(store, {
      now: o.now as (() => Date) | undefined,
      onListenerError: o.onListenerError as ListenerErrorHandler | undefined,
      onEventGap: o.onEventGap as ((gap: EventGap) => void) | undefined,
    })
    this.memory = store
  }

  /**
   * Does nothing (an in-memory registry holds no connection or timer); here
   * so shutdown code and `await using` read the same on every backend.
   */
  async close(): Promise<void> {}

  /** Calls `close()`: `await using registry = new ...` works as on the SQL backends. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.close()
  }

  /** Counts of what the registry holds, for leak checks and metrics. */
  stats(): { tasks: number; sessions: number; eventSessions: number; bufferedEvents: number } {
    const { tasks, sessions, bufferedEvents } = this.memory.stats()
    return { tasks, sessions, eventSessions: this.hub.sessionCount, bufferedEvents }
  }
}
