import { ValidationError } from '../model/errors.js'
import { registryWith } from '../model/registry-shape.js'
import {
  AttemptSchema,
  NewSinkMessageSchema,
  SessionIdSchema,
  type SessionTaskUpdate,
  type TaskArtifact,
  TaskIdSchema,
  type TaskInputRequest,
  type TaskMessagePart,
  type TaskProgress,
} from '../model/schemas.js'
import { isTerminalState, type SessionTaskState } from '../model/state.js'
import { isoString } from '../model/time.js'
import { parseInput } from '../model/validate.js'
import type { SessionTaskRegistry } from '../registry/registry.js'

// What a sink calls on its registry, checked before the first report.
const SinkRegistrySchema = registryWith([
  'update',
  'updateWithOutcome',
  'recordMessage',
  'publishOutput',
  'now',
])

/** A message as running work posts it: always outbound, fenced by the sink. */
export type SinkMessage = {
  /** Optional; a sink only posts `outbound`. */
  direction?: 'outbound' | undefined
  content: readonly TaskMessagePart[]
  inReplyTo?: string | undefined
  /** Ignored: the sink fences on its own attempt. */
  expectedAttempt?: number | undefined
}

/**
 * Report plane handed to running work. Writes are fenced on the sink's
 * attempt: after the task moved on (re-attach, reap) they are ignored, except
 * `post`, which fails loudly with `StaleAttemptError`.
 */
export interface TaskSink {
  /** Moves the task to `state`, optionally with a detail line. */
  state(state: SessionTaskState, detail?: string): Promise<void>
  /** Replaces the task's progress. */
  progress(progress: TaskProgress): Promise<void>
  /** Emits live output (`task.output`); not stored. */
  output(stream: string, delta: string): Promise<void>
  /** Posts an outbound message to the session. */
  post(message: SinkMessage): Promise<void>
  /** Asks the session for input; the task becomes `awaiting_input`. */
  requestInput(request: TaskInputRequest): Promise<void>
  /** Appends an artifact atomically (concurrent sinks lose nothing). */
  artifact(artifact: TaskArtifact): Promise<void>
  /** Stamps `heartbeatAt` with the registry's clock; a no-op once the task is terminal. */
  heartbeat(): Promise<void>
  /**
   * Any other fenced update (summary, resultPath, error, ...); the sink sets
   * `expectedAttempt` itself.
   */
  update(update: SessionTaskUpdate): Promise<void>
}

/** Options of {@link RegistryTaskSink}. */
export type RegistryTaskSinkOptions = {
  /**
   * Also receives every write that failed (a `ValidationError` for a bad
   * value, a registry failure, a stale `post`), so the failure of a write
   * whose promise was discarded is not lost. The supervisor's sinks pass
   * the write rejected for a bad value (`ValidationError`, a bug in the
   * executor) to the supervisor's `onError`.
   * @default none: a failure only rejects the write's promise
   */
  onError?: ((error: unknown, context: string) => void) | undefined
}

// The states a heartbeat tries in turn: running first, the usual one.
const HEARTBEAT_TRIES = 3

/**
 * A {@link TaskSink} that writes into a registry, fenced on one attempt.
 * A failed write rejects its promise, but that promise is already handled:
 * running work that discards it (`ctx.sink.progress(p)` without `await`)
 * never causes an unhandled rejection.
 */
export class RegistryTaskSink implements TaskSink {
  /** The attempt every write is fenced on. */
  readonly attempt: number
  private readonly registry: SessionTaskRegistry
  private readonly sessionId: string
  private readonly taskId: string
  private readonly onError: RegistryTaskSinkOptions['onError']

  constructor(
    registry: SessionTaskRegistry,
    sessionId: string,
    taskId: string,
    attempt = 1,
    options: RegistryTaskSinkOptions = {},
  ) {
    this.registry = parseInput(SinkRegistrySchema, registry, 'registry') as SessionTaskRegistry
    this.sessionId = parseInput(SessionIdSchema, sessionId, 'sessionId')
    this.taskId = parseInput(TaskIdSchema, taskId, 'taskId')
    this.attempt = parseInput(AttemptSchema, attempt, 'attempt')
    const onError: unknown = options.onError
    if (onError !== undefined && typeof onError !== 'function') {
      throw new ValidationError('invalid RegistryTaskSinkOptions: onError: must be a function', [
        { path: ['onError'], message: 'must be a function' },
      ])
    }
    this.onError = options.onError
  }

  /** A sink for the same task fenced on attempt `attempt`. */
  withAttempt(attempt: number): RegistryTaskSink {
    return new RegistryTaskSink(this.registry, this.sessionId, this.taskId, attempt, {
      onError: this.onError,
    })
  }

  // Marks the write handled (an awaiting caller still gets the rejection)
  // and reports a failure to onError.
  private handled(method: string, write: Promise<void>): Promise<void> {
    write.catch((error: unknown) => {
      try {
        this.onError?.(error, `sink.${method} of task '${this.taskId}'`)
      } catch {
        // A throwing onError must not turn into the unhandled rejection this prevents.
      }
    })
    return write
  }

  private async write(update: SessionTaskUpdate): Promise<void> {
    await this.registry.update(this.sessionId, this.taskId, {
      ...update,
      expectedAttempt: this.attempt,
    })
  }

  /** Moves the task to `state` (fenced; ignored when stale or unknown). */
  state(state: SessionTaskState, detail?: string): Promise<void> {
    const attempt = this.attempt
    return this.handled(
      'state',
      this.write(
        detail === undefined
          ? { state, expectedAttempt: attempt }
          : { state, stateDetail: detail, expectedAttempt: attempt },
      ),
    )
  }

  /** Replaces the progress (fenced). */
  progress(progress: TaskProgress): Promise<void> {
    return this.handled('progress', this.write({ progress, expectedAttempt: this.attempt }))
  }

  /** Emits `task.output` (fenced; dropped when stale or unknown). */
  output(stream: string, delta: string): Promise<void> {
    return this.handled('output', this.publish(stream, delta))
  }

  private async publish(stream: string, delta: string): Promise<void> {
    await this.registry.publishOutput(this.sessionId, this.taskId, {
      stream,
      delta,
      expectedAttempt: this.attempt,
    })
  }

  /** Posts an outbound message; throws `StaleAttemptError` when stale, `TaskNotFoundError` when unknown. */
  post(message: SinkMessage): Promise<void> {
    return this.handled('post', this.record(message))
  }

  private async record(message: SinkMessage): Promise<void> {
    const parsed = parseInput(NewSinkMessageSchema, message, 'SinkMessage')
    await this.registry.recordMessage(this.sessionId, this.taskId, {
      direction: 'outbound',
      content: parsed.content,
      ...(parsed.inReplyTo === undefined ? {} : { inReplyTo: parsed.inReplyTo }),
      expectedAttempt: this.attempt,
    })
  }

  /** Asks for input (fenced); the task becomes `awaiting_input`. */
  requestInput(request: TaskInputRequest): Promise<void> {
    return this.handled(
      'requestInput',
      this.write({ inputRequest: request, expectedAttempt: this.attempt }),
    )
  }

  /** Appends one artifact (fenced, atomic). */
  artifact(artifact: TaskArtifact): Promise<void> {
    return this.handled(
      'artifact',
      this.write({ appendArtifact: artifact, expectedAttempt: this.attempt }),
    )
  }

  /**
   * Stamps `heartbeatAt` with `registry.now()` (fenced). A finished task is
   * left alone: no write, no event.
   */
  heartbeat(): Promise<void> {
    return this.handled('heartbeat', this.beat())
  }

  // A terminal task would take the stamp as content (SPEC 3, rule 2), so the
  // write is a compare-and-set on a live state: it lands only while the task
  // is in that state, and a finished task drops it whole.
  private async beat(): Promise<void> {
    const heartbeatAt = isoString(this.registry.now())
    let expectedState: SessionTaskState = 'running'
    for (let i = 0; i < HEARTBEAT_TRIES; i++) {
      const outcome = await this.registry.updateWithOutcome(this.sessionId, this.taskId, {
        heartbeatAt,
        expectedAttempt: this.attempt,
        expectedState,
      })
      if (outcome === undefined || outcome.applied) return
      const { task } = outcome
      if (task.attempt !== this.attempt || isTerminalState(task.state)) return
      if (task.state === expectedState) return
      expectedState = task.state
    }
  }

  /** Any other update, fenced on this sink's attempt (a caller's `expectedAttempt` is replaced). */
  update(update: SessionTaskUpdate): Promise<void> {
    // Assign onto a fresh object (not spread-then-add, a V8 slow path); the fence wins.
    return this.handled(
      'update',
      this.write(Object.assign({}, update, { expectedAttempt: this.attempt })),
    )
  }
}
