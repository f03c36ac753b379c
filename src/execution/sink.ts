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
import type { SessionTaskState } from '../model/state.js'
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
  /** Stamps `heartbeatAt` with the registry's clock. */
  heartbeat(): Promise<void>
  /**
   * Any other fenced update (summary, resultPath, error, ...); the sink sets
   * `expectedAttempt` itself.
   */
  update(update: SessionTaskUpdate): Promise<void>
}

/** A {@link TaskSink} that writes into a registry, fenced on one attempt. */
export class RegistryTaskSink implements TaskSink {
  /** The attempt every write is fenced on. */
  readonly attempt: number
  private readonly registry: SessionTaskRegistry
  private readonly sessionId: string
  private readonly taskId: string

  constructor(registry: SessionTaskRegistry, sessionId: string, taskId: string, attempt = 1) {
    this.registry = parseInput(SinkRegistrySchema, registry, 'registry') as SessionTaskRegistry
    this.sessionId = parseInput(SessionIdSchema, sessionId, 'sessionId')
    this.taskId = parseInput(TaskIdSchema, taskId, 'taskId')
    this.attempt = parseInput(AttemptSchema, attempt, 'attempt')
  }

  /** A sink for the same task fenced on attempt `attempt`. */
  withAttempt(attempt: number): RegistryTaskSink {
    return new RegistryTaskSink(this.registry, this.sessionId, this.taskId, attempt)
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
    return this.write(
      detail === undefined
        ? { state, expectedAttempt: attempt }
        : { state, stateDetail: detail, expectedAttempt: attempt },
    )
  }

  /** Replaces the progress (fenced). */
  progress(progress: TaskProgress): Promise<void> {
    return this.write({ progress, expectedAttempt: this.attempt })
  }

  /** Emits `task.output` (fenced; dropped when stale or unknown). */
  async output(stream: string, delta: string): Promise<void> {
    await this.registry.publishOutput(this.sessionId, this.taskId, {
      stream,
      delta,
      expectedAttempt: this.attempt,
    })
  }

  /** Posts an outbound message; throws `StaleAttemptError` when stale, `TaskNotFoundError` when unknown. */
  async post(message: SinkMessage): Promise<void> {
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
    return this.write({ inputRequest: request, expectedAttempt: this.attempt })
  }

  /** Appends one artifact (fenced, atomic). */
  artifact(artifact: TaskArtifact): Promise<void> {
    return this.write({ appendArtifact: artifact, expectedAttempt: this.attempt })
  }

  /** Stamps `heartbeatAt` with `registry.now()` (fenced). */
  heartbeat(): Promise<void> {
    return this.write({
      heartbeatAt: isoString(this.registry.now()),
      expectedAttempt: this.attempt,
    })
  }

  /** Any other update, fenced on this sink's attempt (a caller's `expectedAttempt` is replaced). */
  update(update: SessionTaskUpdate): Promise<void> {
    // Assign onto a fresh object (not spread-then-add, a V8 slow path); the fence wins.
    return this.write(Object.assign({}, update, { expectedAttempt: this.attempt }))
  }
}
