import type { ModelMessage, PrepareStepFunction, PrepareStepResult, ToolSet } from 'ai'
import type { WakeQueue } from '../../execution/wake-queue.js'
import { ValidationError } from '../../model/errors.js'
import type { TaskWake } from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'

/** Options of {@link wakeSteps}. */
export type WakeStepsOptions<TOOLS extends ToolSet> = {
  /** The wake queue of the registry (`createWakeQueue(registry)`). */
  queue: WakeQueue
  /** The chat session whose wakes reach this loop. */
  sessionId: string
  /** Your own step preparation, run first; the wakes are added to the messages it returns. */
  prepareStep?: PrepareStepFunction<TOOLS> | undefined
  /** Turns the wakes into the message the model sees. @default a user message listing their texts */
  format?: ((wakes: readonly TaskWake[]) => ModelMessage) | undefined
  /**
   * Told of each wake message as it is added: the SDK's `response.messages`
   * hold only what the model said, so a runtime that keeps the history adds
   * this message to it (before that step's response).
   */
  onMessage?: ((message: ModelMessage, wakes: readonly TaskWake[]) => void) | undefined
}

/**
 * The default message of a batch of wakes: one user message, one line per
 * wake (`describe` gives a wake's text; {@link wakeSteps} passes the
 * queue's, which adds a failed task's error).
 */
export function wakeMessage(
  wakes: readonly TaskWake[],
  describe: (wake: TaskWake) => string = (wake) => wake.text,
): ModelMessage {
  const lines = wakes.map((w) => `- ${describe(w)}`)
  return { role: 'user', content: `Background task updates:\n${lines.join('\n')}` }
}

/**
 * A `prepareStep` for `generateText`/`streamText` that, before each step,
 * hands the session's pending wakes (a task finished, asks something, or
 * sent a message) to the model as one message. The queue gives each wake
 * out once, and the message is added through the messages override, so
 * later steps keep it: every wake reaches the model exactly once.
 */
export function wakeSteps<TOOLS extends ToolSet>(
  options: WakeStepsOptions<TOOLS>,
): PrepareStepFunction<TOOLS> {
  const queue = options.queue
  // A hand-made queue may have no describe: the wake's own text then.
  const describe = (wake: TaskWake) =>
    typeof queue.describe === 'function' ? queue.describe(wake) : wake.text
  const byDefault = (wakes: readonly TaskWake[]) => wakeMessage(wakes, describe)
  const format = options.format ?? byDefault
  return async (step) => {
    const mine: PrepareStepResult<TOOLS> | undefined = await options.prepareStep?.(step)
    const wakes = options.queue.drain(options.sessionId)
    if (wakes.length === 0) return mine
    const messages = mine?.messages ?? step.messages
    // The wakes are drained: a format or a listener that throws must not lose them.
    let message: ModelMessage
    try {
      message = format(wakes)
    } catch {
      message = byDefault(wakes)
    }
    try {
      options.onMessage?.(message, wakes)
    } catch {
      // The runtime's history misses this message; the model still gets it.
    }
    return { ...(mine ?? {}), messages: [...messages, message] } as PrepareStepResult<TOOLS>
  }
}

/**
 * Resolves with the session's pending wakes once there is at least one
 * (at once if some are pending), or with none after `timeoutMs` or when
 * `signal` aborts: how a runtime keeps its loop going, or resumes it, while
 * tasks are still out.
 */
export async function nextWakes(
  queue: WakeQueue,
  sessionId: string,
  options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal },
): Promise<TaskWake[]> {
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs < 0) {
    const problem = 'must be a finite number of milliseconds, 0 or more'
    throw new ValidationError(`invalid nextWakes options: timeoutMs: ${problem}`, [
      { path: ['timeoutMs'], message: problem },
    ])
  }
  // A function, not a field read: the signal may abort while this waits.
  const aborted = () => options.signal?.aborted === true
  if (queue.pending(sessionId) > 0) return queue.drain(sessionId)
  if (options.timeoutMs === 0 || aborted()) return []
  // Woken by the queue itself; a hand-made queue without `next` is polled.
  if (typeof queue.next === 'function') {
    let first: TaskWake | undefined
    try {
      first = await queue.next(sessionId, {
        timeoutMs: Math.min(Math.ceil(options.timeoutMs), Number.MAX_SAFE_INTEGER),
        signal: options.signal,
      })
    } catch (error) {
      if (aborted()) return []
      throw error
    }
    return first === undefined ? [] : [first, ...queue.drain(sessionId)]
  }
  const until = Date.now() + options.timeoutMs
  for (;;) {
    if (queue.pending(sessionId) > 0) return queue.drain(sessionId)
    if (Date.now() >= until || aborted()) return []
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(options.pollMs ?? 25, until - Date.now())),
    )
  }
}

/** Options of {@link runWhileTasksOpen}. */
export type RunWhileTasksOpenOptions = {
  registry: SessionTaskRegistry
  queue: WakeQueue
  sessionId: string
  /** How long to wait for the next wake before giving up. @default 300000 */
  idleTimeoutMs?: number | undefined
  /** The most turns to run. @default 20 */
  maxTurns?: number | undefined
  signal?: AbortSignal | undefined
}

/**
 * Keeps the agent loop going until the session's tasks have settled: runs
 * `turn` (your `generateText`/`streamText` call with {@link wakeSteps}),
 * then, while any task of the session is unfinished, waits for the next
 * wake and runs `turn` again, which hands the wakes to the model. Stops
 * when no task is open, after `maxTurns`, or when no wake came within
 * `idleTimeoutMs`. The wakes are left in the queue for `turn` to take.
 */
export async function runWhileTasksOpen(
  options: RunWhileTasksOpenOptions,
  turn: (index: number) => Promise<void>,
): Promise<{ turns: number; open: number }> {
  const { registry, queue, sessionId } = options
  const maxTurns = options.maxTurns ?? 20
  const idle = options.idleTimeoutMs ?? 300_000
  // A function, not a field read: the signal may abort while this waits.
  const aborted = () => options.signal?.aborted === true
  let turns = 0
  for (;;) {
    await turn(turns)
    turns++
    const open = (await registry.list(sessionId)).filter((t) => !isTerminalState(t.state)).length
    if (open === 0 || turns >= maxTurns || aborted()) return { turns, open }
    const until = Date.now() + idle
    while (queue.pending(sessionId) === 0 && Date.now() < until && !aborted()) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(25, Math.max(1, until - Date.now()))),
      )
    }
    if (queue.pending(sessionId) === 0) return { turns, open }
  }
}
