import { SessionTaskError, StaleAttemptError, TaskNotFoundError } from '../model/errors.js'
import type { SessionTask } from '../model/schemas.js'
import { pause } from './abort.js'
import type { TaskExecutionContext } from './executor.js'
import { taskKey } from './task-key.js'

/** Where a remote task's turn stands: still going, waiting for an answer, or over. */
export type RemoteTurnState = 'going' | 'waiting' | 'finished'

/** The steps of one followed turn, built by a client executor. */
export type RemoteTurnSteps = {
  /** The turn's first step (send the request, or find the remote task). */
  first: () => Promise<RemoteTurnState>
  /** Each later step: one look at the remote task and its stream or poll. */
  next: () => Promise<RemoteTurnState>
  /** Ends the task `failed` with `kind`. */
  fail: (kind: string, message: string) => Promise<void>
}

/** Options of a {@link RemoteFollower}. */
export type RemoteFollowerOptions = {
  heartbeatMs: number
  retries: number
  pollIntervalMs: number
  /** True for a failure worth another try (the network, not the remote's answer). */
  isRetryable: (error: unknown) => boolean
  /** True for an answer of the remote that its own client refused (say, a schema it breaks). */
  isInvalid?: ((error: unknown) => boolean) | undefined
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

// A write the registry refuses is the remote's value, not the network: the
// task fails. A fenced or vanished task belongs to someone else: stop.
const isGone = (error: unknown) =>
  error instanceof StaleAttemptError || error instanceof TaskNotFoundError

/**
 * Follows the remote tasks of a client executor, one turn per local task:
 * heartbeats while it follows, retries what the network broke with a
 * growing pause, fails the task with a named `error.kind` otherwise, and
 * stops when the run is aborted or a newer turn of the same task begins.
 */
export class RemoteFollower {
  private readonly runs = new Map<string, AbortController>()
  // Runs still waiting for the remote to name its task, and who waits with them.
  private readonly unnamed = new Map<string, Set<() => void>>()

  constructor(private readonly options: RemoteFollowerOptions) {}

  /** Tells those waiting in {@link whenNamed} that the run of `task` knows its remote task. */
  named(task: SessionTask): void {
    const key = taskKey(task.sessionId, task.id)
    for (const wake of this.unnamed.get(key) ?? []) wake()
    this.unnamed.delete(key)
  }

  /**
   * Resolves once the run of `task` here knows its remote task, has ended,
   * or `timeoutMs` passed (at once without a run): a cancel made while the
   * request is on its way then reaches the task it creates.
   */
  whenNamed(task: SessionTask, timeoutMs: number): Promise<void> {
    const key = taskKey(task.sessionId, task.id)
    const waiting = this.unnamed.get(key)
    if (waiting === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        waiting.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, timeoutMs)
      waiting.add(wake)
    })
  }

  /** Stops following `task` here. */
  stop(task: SessionTask): void {
    const key = taskKey(task.sessionId, task.id)
    this.runs.get(key)?.abort()
    this.runs.delete(key)
  }

  /**
   * Follows one turn in the background. With `acknowledge`, resolves once
   * the remote took the turn's first step, and rejects (failing nothing)
   * when that step failed; otherwise resolves at once.
   */
  run(
    task: SessionTask,
    ctx: TaskExecutionContext,
    build: (signal: AbortSignal, acked: () => void) => Promise<RemoteTurnSteps>,
    acknowledge = false,
  ): Promise<void> {
    const key = taskKey(task.sessionId, task.id)
    this.runs.get(key)?.abort()
    const local = new AbortController()
    this.runs.set(key, local)
    if (task.links.remoteTaskId === undefined && !this.unnamed.has(key))
      this.unnamed.set(key, new Set())
    const abort = () => {
      // A cancel (or a deadline) lets a request on its way name its remote
      // task first: the executor's cancel waits for that, then stops the run.
      const kind = (ctx.signal.reason as { kind?: unknown } | undefined)?.kind
      if ((kind === 'canceled' || kind === 'timeout') && this.unnamed.has(key)) return
      local.abort()
    }
    if (ctx.signal.aborted) local.abort()
    else ctx.signal.addEventListener('abort', abort, { once: true })
    // A beat at once: a task that never beat is not one the reaper watches.
    const heartbeat = () => void ctx.sink.heartbeat().catch(() => {})
    heartbeat()
    const beat = setInterval(heartbeat, this.options.heartbeatMs)
    ;(beat as { unref?: () => void }).unref?.()

    let acked = !acknowledge
    let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined
    const ack = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject }
    })
    // Without an acknowledgement nobody awaits it: a failure is the task's, not the caller's.
    if (!acknowledge) ack.catch(() => {})
    const onAck = () => {
      acked = true
      settle?.resolve()
    }

    // A client that could not even be built fails the task as well.
    const failTask = (kind: string, message: string) =>
      ctx.sink.update({ state: 'failed', error: { kind, message } })

    const loop = async () => {
      const signal = local.signal
      let steps: RemoteTurnSteps | undefined
      let failures = 0
      let step: 'first' | 'next' = 'first'
      while (!signal.aborted) {
        try {
          steps ??= await build(signal, onAck)
          const state = await steps[step]()
          onAck()
          if (state !== 'going') return
          step = 'next'
          failures = 0
        } catch (error) {
          if (signal.aborted || isGone(error)) return
          if (!acked) throw error
          const message = messageOf(error)
          if (error instanceof SessionTaskError || this.options.isInvalid?.(error) === true) {
            await (steps?.fail ?? failTask)(
              'invalid_remote',
              `the remote sent what the task cannot hold: ${message}`,
            )
            return
          }
          if (!this.options.isRetryable(error)) {
            await (steps?.fail ?? failTask)('remote_error', message)
            return
          }
          failures++
          if (failures > this.options.retries) {
            await (steps?.fail ?? failTask)(
              'unreachable',
              `gave up after ${failures} tries: ${message}`,
            )
            return
          }
          // A step that failed before its first event is retried as a later
          // step, which finds the remote task rather than sending twice.
          step = 'next'
          await pause(Math.min(this.options.pollIntervalMs * 2 ** (failures - 1), 30_000), signal)
        }
      }
    }

    loop()
      .catch((error: unknown) => {
        settle?.reject(error)
      })
      .finally(() => {
        // Whatever request of the turn is still open (a stream left early) is closed.
        local.abort()
        clearInterval(beat)
        ctx.signal.removeEventListener('abort', abort)
        if (this.runs.get(key) === local) {
          this.runs.delete(key)
          this.named(task)
        }
        settle?.resolve()
      })
    return acknowledge ? ack : Promise.resolve()
  }
}
