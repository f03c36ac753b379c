import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  ElicitRequestSchema,
  type ElicitResult,
  ErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js'
import type { TaskExecutionContext } from '../../execution/executor.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask, TaskMessage } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { type ElicitationSchema, elicitResultOf } from './elicitation.js'

/** The input request id of an elicitation: `mcp-elicitation-<remote task id>`. */
export const elicitationRequestId = (remoteTaskId: string) => `mcp-elicitation-${remoteTaskId}`

/** A task followed here, whose elicitations this process answers. */
export type FollowedTask = {
  task: SessionTask
  ctx: TaskExecutionContext
  /** Aborted when this process stops following the task. */
  signal: AbortSignal
}

type Asked = { mcpElicitation?: { id?: unknown; schema?: unknown } } | null

/** The form of the newest question `id` on record for `task`, if any. */
export async function questionSchema(
  registry: SessionTaskRegistry,
  task: SessionTask,
  id: string,
): Promise<ElicitationSchema | undefined> {
  const said = await registry.listMessages(task.sessionId, task.id, { limit: 50 })
  let schema: ElicitationSchema | undefined
  for (const m of said) {
    if (m.direction !== 'outbound') continue
    for (const part of m.content) {
      const asked = part.type === 'data' ? (part.data as Asked)?.mcpElicitation : undefined
      if (asked?.id === id) schema = asked.schema as ElicitationSchema
    }
  }
  return schema
}

/**
 * The MCP server's questions (elicitations) about tasks followed in this
 * process: each is asked of the session as an input request, and answered
 * with the first answer recorded in the registry (by any process) that fits
 * its form. The SDK keeps the pending question in this client, so only this
 * process can answer the server.
 */
export class McpQuestions {
  private readonly followed = new Map<string, FollowedTask>()
  private readonly wired = new WeakSet<Client>()

  /** Answers the elicitations `client` receives (once per client; it replaces the client's own elicitation handler). */
  wire(client: Client): void {
    if (this.wired.has(client)) return
    this.wired.add(client)
    client.setRequestHandler(ElicitRequestSchema, async (request, extra) => {
      const meta = request.params._meta as
        | { [RELATED_TASK_META_KEY]?: { taskId?: string } }
        | undefined
      const remoteId = meta?.[RELATED_TASK_META_KEY]?.taskId
      const waiting = remoteId === undefined ? undefined : this.followed.get(remoteId)
      if (
        remoteId === undefined ||
        waiting === undefined ||
        !('requestedSchema' in request.params)
      ) {
        throw new McpError(
          ErrorCode.InvalidRequest,
          'no session task here asked for this elicitation',
        )
      }
      // The server may withdraw its question (a cancelled request): stop waiting then too.
      const signal = AbortSignal.any([waiting.signal, extra.signal])
      return this.ask(
        { ...waiting, signal },
        remoteId,
        request.params.message,
        request.params.requestedSchema,
      )
    })
  }

  /** Routes the elicitations of remote task `remoteId` to `task`. */
  follow(remoteId: string, followed: FollowedTask): void {
    this.followed.set(remoteId, followed)
  }

  /** Stops routing them, unless a newer run of the task took over. */
  unfollow(remoteId: string, task: SessionTask): void {
    if (this.followed.get(remoteId)?.task === task) this.followed.delete(remoteId)
  }

  // Asks the session; resolves with the first answer that fits the form.
  private ask(waiting: FollowedTask, remoteId: string, prompt: string, schema: ElicitationSchema) {
    const { task, ctx, signal } = waiting
    const id = elicitationRequestId(remoteId)
    return new Promise<ElicitResult>((resolve, reject) => {
      const off = ctx.registry.subscribe(task.sessionId, (type, payload) => {
        const sent = payload as { taskId?: string; message?: TaskMessage }
        if (type !== 'task.message.sent' || sent.taskId !== task.id) return
        if (sent.message?.inReplyTo !== id) return
        try {
          const result = elicitResultOf(sent.message, schema)
          done()
          resolve(result)
        } catch {
          // Not an answer that fits: deliver refused it, and the task waits again.
        }
      })
      const abort = () => {
        done()
        reject(new McpError(ErrorCode.ConnectionClosed, 'the task stopped waiting for an answer'))
      }
      const done = () => {
        off()
        signal.removeEventListener('abort', abort)
      }
      if (signal.aborted) return abort()
      signal.addEventListener('abort', abort, { once: true })
      const expected = schema as unknown as { [key: string]: JsonValue }
      // The question is also a message, so that any process can check an answer against its form.
      ctx.sink
        .post({
          content: [
            { type: 'text', text: prompt },
            { type: 'data', data: { mcpElicitation: { id, schema: expected } } },
          ],
        })
        .then(() => ctx.sink.requestInput({ id, prompt, expected }))
        .catch((error: unknown) => {
          done()
          reject(error)
        })
    })
  }
}
