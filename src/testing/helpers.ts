// Helpers for testing code that uses a registry: a manual clock, a test
// registry, an event recorder and a settle wait. Runner-free.
import type { SessionTaskEvents, SessionTaskEventType } from '../events/emitter.js'
import type { SessionTask } from '../model/schemas.js'
import { isTerminalState, type SessionTaskState } from '../model/state.js'
import {
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
} from '../registry/in-memory-registry.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { createManualClock, type ManualClock } from './manual-clock.js'

/**
 * An in-memory registry on a manual clock, for tests; listener errors are
 * collected in `listenerErrors` instead of being logged.
 */
export function createTestRegistry(
  options: Omit<InMemorySessionTaskRegistryOptions, 'now'> & {
    start?: Date | string | number
  } = {},
): { registry: InMemorySessionTaskRegistry; clock: ManualClock; listenerErrors: unknown[] } {
  const clock = createManualClock(options.start)
  const listenerErrors: unknown[] = []
  const registry = new InMemorySessionTaskRegistry({
    now: clock.now,
    onListenerError: options.onListenerError ?? ((error) => listenerErrors.push(error)),
    replayBuffer: options.replayBuffer,
  })
  return { registry, clock, listenerErrors }
}

/** What {@link recordEvents} collected. */
export type EventRecorder = {
  /** Every event so far, in order. */
  readonly events: {
    type: SessionTaskEventType
    payload: SessionTaskEvents[SessionTaskEventType]
  }[]
  /** The event types so far, in order. */
  types(): SessionTaskEventType[]
  /**
   * The states one task went through, in order: the state of each of its
   * `task.updated` events that changed it (progress, heartbeats and other
   * updates within one state add nothing).
   */
  states(taskId: string): SessionTaskState[]
  /** Stops recording. */
  stop(): void
}

/** Records every event of a session, for assertions on order and payloads. */
export function recordEvents(registry: SessionTaskRegistry, sessionId: string): EventRecorder {
  const events: EventRecorder['events'] = []
  const stop = registry.subscribe(sessionId, (type, payload) => events.push({ type, payload }))
  return {
    events,
    types: () => events.map((e) => e.type),
    states: (taskId) =>
      events
        .filter(
          (e) =>
            e.type === 'task.updated' && (e.payload as { task: SessionTask }).task.id === taskId,
        )
        .map((e) => (e.payload as { task: SessionTask }).task.state)
        .filter((state, i, all) => i === 0 || all[i - 1] !== state),
    stop,
  }
}

const DEFAULT_SETTLE_MS = 2000

/**
 * Waits (on events, no polling) until the task is terminal — or in `state`,
 * when that is `awaiting_input` — and asserts it is in `state`. Rejects with
 * a readable error on another outcome or after `timeoutMs` (default 2000,
 * below a test runner's usual 5 s limit, so this message is the one shown).
 */
export async function expectTaskToSettle(
  registry: SessionTaskRegistry,
  sessionId: string,
  taskId: string,
  state: SessionTaskState,
  options: { timeoutMs?: number } = {},
): Promise<SessionTask> {
  const settled = (task: SessionTask) => isTerminalState(task.state) || task.state === state
  const describe = (task: SessionTask) =>
    `${task.state}${task.error ? ` (${task.error.kind}: ${task.error.message})` : ''}${
      task.stateDetail ? ` - ${task.stateDetail}` : ''
    }`
  const task = await new Promise<SessionTask>((resolve, reject) => {
    let done = false
    const finish = (outcome: () => void) => {
      if (done) return
      done = true
      off()
      clearTimeout(timer)
      outcome()
    }
    const off = registry.subscribe(sessionId, (type, payload) => {
      if (type !== 'task.updated') return
      const { task: updated } = payload as { task: SessionTask }
      if (updated.id === taskId && settled(updated)) {
        finish(() => registry.get(sessionId, taskId).then((t) => resolve(t ?? updated), reject))
      }
    })
    const timer = setTimeout(() => {
      finish(() =>
        registry.get(sessionId, taskId).then((t) => {
          const now = t === undefined ? 'missing' : describe(t)
          reject(
            new Error(
              `task ${taskId} did not settle within ${options.timeoutMs ?? DEFAULT_SETTLE_MS} ms (it is ${now})`,
            ),
          )
        }, reject),
      )
    }, options.timeoutMs ?? DEFAULT_SETTLE_MS)
    registry.get(sessionId, taskId).then(
      (t) => {
        if (t === undefined)
          finish(() => reject(new Error(`task ${taskId} not found in session ${sessionId}`)))
        else if (settled(t)) finish(() => resolve(t))
      },
      (error: unknown) => finish(() => reject(error)),
    )
  })
  if (task.state !== state) {
    throw new Error(`expected task ${taskId} to settle as ${state}, but it is ${describe(task)}`)
  }
  return task
}
