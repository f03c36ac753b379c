import type { Artifact, Message } from '@a2a-js/sdk'
import type { AgentExecutionEvent } from '@a2a-js/sdk/server'
import type { TaskExecutionContext } from '../../execution/executor.js'
import { TaskConflictError, ValidationError } from '../../model/errors.js'
import { InputRequestIdSchema, type SessionTask } from '../../model/schemas.js'
import {
  A2A_STATE,
  AUTH_REQUIRED_ID,
  a2aArtifact,
  INPUT_REQUIRED_ID,
  messageToJson,
  storedArtifact,
  storedMessage,
} from './codec.js'

/** Where a turn stands after an event: still going, waiting for an answer, or over. */
export type A2ATurnState = 'going' | 'waiting' | 'finished'

/** How an {@link A2AEventWriter} names what went wrong. */
export type A2AEventWriterOptions = {
  /** `error.kind` of a task the agent reported `failed`. */
  failedKind: string
  /** What a status with no mapping does: nothing, or fail the task with `invalid_remote`. */
  unknownState: 'ignore' | 'fail'
  /** An artifact whose JSON grows past this many characters fails the task `invalid_remote`. @default no limit */
  maxArtifactChars?: number | undefined
}

const textOf = (message: Message | undefined) =>
  (message?.parts ?? [])
    .map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
    .filter((t) => t !== '')
    .join('\n')

// A remote's message id is kept as the record's message id when the
// registry can hold it, so a status read again after a re-attach is not
// posted twice; otherwise the registry names the message.
const keepableId = (id: string) =>
  !id.startsWith('tmsg_') && InputRequestIdSchema.safeParse(id).success

/**
 * Writes the events of one A2A task (an agent in this process, or a remote
 * agent's stream) into its session task, through the fenced sink: statuses
 * become states, status messages outbound messages, artifact updates
 * (chunked appends merged) artifacts by id. Shared by both A2A executors.
 */
export class A2AEventWriter {
  private readonly artifacts: Map<string, Artifact>
  // The JSON length of each artifact so far: appends add to it, not re-measure it.
  private readonly sizes = new Map<string, number>()

  constructor(
    private readonly task: SessionTask,
    private readonly ctx: TaskExecutionContext,
    private readonly options: A2AEventWriterOptions,
  ) {
    this.artifacts = new Map(task.artifacts.map((a) => [a.id ?? a.name, a2aArtifact(a)]))
  }

  /** Writes one event; says whether the turn goes on. */
  async write(event: AgentExecutionEvent): Promise<A2ATurnState> {
    const { sink } = this.ctx
    switch (event.kind) {
      case 'message':
        await this.post(event.data)
        await sink.update({ state: 'succeeded', result: messageToJson(event.data) })
        return 'finished'
      case 'task': {
        // A task event may carry a status already past submitted (an agent
        // that answers with one finished task): treat it as a status update.
        for (const artifact of event.data.artifacts) await this.artifact(artifact, false)
        const { id: taskId, contextId, status } = event.data
        if (status === undefined) return 'going'
        return this.write({
          kind: 'statusUpdate',
          data: { taskId, contextId, status, metadata: {} },
        })
      }
      case 'artifactUpdate': {
        const artifact = event.data.artifact
        if (artifact !== undefined) await this.artifact(artifact, event.data.append)
        return 'going'
      }
      case 'statusUpdate':
        return this.status(event.data.status)
    }
  }

  private async status(
    status: Extract<AgentExecutionEvent, { kind: 'statusUpdate' }>['data']['status'],
  ): Promise<A2ATurnState> {
    const { sink } = this.ctx
    if (status === undefined) return 'going'
    const message = status.message
    const text = textOf(message)
    const result = message === undefined ? null : messageToJson(message)
    switch (status.state as number) {
      // A task the remote still holds in its queue stays running here: put
      // back in the queue, a shared dispatcher would claim it again.
      case A2A_STATE.submitted:
        return 'going'
      case A2A_STATE.working:
        await sink.state('running')
        if (message !== undefined) await this.post(message)
        return 'going'
      case A2A_STATE.inputRequired:
      case A2A_STATE.authRequired: {
        const auth = status.state === A2A_STATE.authRequired
        await sink.requestInput({
          id: auth ? AUTH_REQUIRED_ID : INPUT_REQUIRED_ID,
          prompt: text || (auth ? 'authentication required' : 'input required'),
        })
        return 'waiting'
      }
      case A2A_STATE.completed:
        await sink.update({ state: 'succeeded', result })
        return 'finished'
      case A2A_STATE.canceled:
        await sink.update({ state: 'canceled', result })
        return 'finished'
      case A2A_STATE.failed:
      case A2A_STATE.rejected: {
        const rejected = status.state === A2A_STATE.rejected
        await sink.update({
          state: 'failed',
          result,
          error: {
            kind: rejected ? 'rejected' : this.options.failedKind,
            message: text || (rejected ? 'rejected by the agent' : 'the agent failed'),
          },
        })
        return 'finished'
      }
      default: {
        if (this.options.unknownState === 'ignore') return 'going'
        await this.fail(
          'invalid_remote',
          `the agent sent a task state this library does not know: ${String(status.state)}`,
        )
        return 'finished'
      }
    }
  }

  /** Ends the task `failed` with `kind` (no-op on a finished task). */
  async fail(kind: string, message: string): Promise<void> {
    await this.ctx.sink.update({ state: 'failed', error: { kind, message } })
  }

  private async artifact(update: Artifact, append: boolean): Promise<void> {
    const before = this.artifacts.get(update.artifactId)
    const appended = append && before !== undefined
    const merged = appended ? { ...before, parts: [...before.parts, ...update.parts] } : update
    const limit = this.options.maxArtifactChars
    if (limit !== undefined) {
      const grown = appended
        ? (this.sizes.get(update.artifactId) ?? JSON.stringify(before).length) +
          JSON.stringify(update.parts).length
        : JSON.stringify(update).length
      if (grown > limit) {
        const problem = `is ${grown} characters of JSON, more than the limit of ${limit}`
        throw new ValidationError(`artifact '${update.artifactId}' ${problem}`, [
          { path: ['artifact', update.artifactId], message: problem },
        ])
      }
      this.sizes.set(update.artifactId, grown)
    }
    await this.ctx.sink.artifact(storedArtifact(merged))
    this.artifacts.set(update.artifactId, merged)
  }

  private async post(message: Message): Promise<void> {
    const { content } = storedMessage(message)
    if (!keepableId(message.messageId)) return this.ctx.sink.post({ content })
    try {
      await this.ctx.registry.recordMessage(this.task.sessionId, this.task.id, {
        id: message.messageId,
        direction: 'outbound',
        content,
        expectedAttempt: this.task.attempt,
      })
    } catch (error) {
      // Another task of the session holds that id: keep the message, unnamed.
      if (!(error instanceof TaskConflictError)) throw error
      await this.ctx.sink.post({ content })
    }
  }
}
