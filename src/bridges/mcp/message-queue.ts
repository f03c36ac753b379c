import type {
  QueuedMessage,
  TaskMessageQueue,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask, TaskMessage } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'

/** Options of {@link SessionTasksMcpMessageQueue}. */
export type SessionTasksMcpMessageQueueOptions = {
  /** Where the queues live: any registry. */
  registry: SessionTaskRegistry
}

/** The registry session that holds every task's message queue. */
export const MCP_QUEUE_SESSION = 'mcp/queues'
const QUEUE_KIND = 'mcp.queue'
const CALLER_ID = /^[A-Za-z0-9_-]{1,120}$/
// Bounds the compare-and-set loop of one dequeue under contention.
const POP_TRIES = 50

/**
 * The `@modelcontextprotocol/sdk` 1.x experimental-tasks `TaskMessageQueue`
 * over any registry: one queue record per task (id `q-<taskId>` in the
 * session `mcp/queues`), its messages the queue in order, and its `attempt`
 * the count of messages taken plus one. A dequeue takes the next message by
 * a compare-and-set on that attempt, so two processes never take the same
 * message. Keyed by task only, as the SDK's in-memory queue is.
 */
export class SessionTasksMcpMessageQueue implements TaskMessageQueue {
  private readonly registry: SessionTaskRegistry

  constructor(options: SessionTasksMcpMessageQueueOptions) {
    this.registry = options.registry
  }

  private queueId(taskId: string): string {
    if (!CALLER_ID.test(taskId)) {
      throw new Error(`taskId: '${taskId}' must be 1-120 characters of A-Z, a-z, 0-9, _ or -`)
    }
    return `q-${taskId}`
  }

  private queueOf(taskId: string): Promise<SessionTask> {
    return this.registry.create({
      sessionId: MCP_QUEUE_SESSION,
      id: this.queueId(taskId),
      kind: QUEUE_KIND,
      displayName: `MCP messages of ${taskId}`,
      state: 'running',
    })
  }

  // Messages not taken yet, oldest first.
  private async waiting(queue: SessionTask): Promise<TaskMessage[]> {
    const all = await this.registry.listMessages(MCP_QUEUE_SESSION, queue.id)
    return all.slice(queue.attempt - 1)
  }

  /** Appends a message; throws when `maxSize` messages already wait. */
  async enqueue(
    taskId: string,
    message: QueuedMessage,
    _sessionId?: string,
    maxSize?: number,
  ): Promise<void> {
    const queue = await this.queueOf(taskId)
    if (maxSize !== undefined) {
      const size = (await this.waiting(queue)).length
      if (size >= maxSize) {
        throw new Error(
          `Task message queue overflow: queue size (${size}) exceeds maximum (${maxSize})`,
        )
      }
    }
    await this.registry.recordMessage(MCP_QUEUE_SESSION, queue.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: message as unknown as JsonValue }],
    })
  }

  /** Takes the oldest waiting message, or undefined. */
  async dequeue(taskId: string, _sessionId?: string): Promise<QueuedMessage | undefined> {
    const id = this.queueId(taskId)
    for (let i = 0; i < POP_TRIES; i++) {
      const queue = await this.registry.get(MCP_QUEUE_SESSION, id)
      if (queue === undefined) return undefined
      const next = (await this.waiting(queue))[0]
      if (next === undefined) return undefined
      const taken = await this.registry.updateWithOutcome(MCP_QUEUE_SESSION, id, {
        expectedAttempt: queue.attempt,
        incrementAttempt: true,
      })
      if (taken?.applied === true) {
        const part = next.content[0]
        return (part?.type === 'data' ? part.data : undefined) as unknown as QueuedMessage
      }
    }
    throw new Error(`the message queue of task ${taskId} stayed contended`)
  }

  /** Takes every waiting message, oldest first. */
  async dequeueAll(taskId: string, sessionId?: string): Promise<QueuedMessage[]> {
    const out: QueuedMessage[] = []
    // Bounded: messages enqueued while this drains wait for the next call.
    const waiting = await this.registry.get(MCP_QUEUE_SESSION, this.queueId(taskId))
    const count = waiting === undefined ? 0 : (await this.waiting(waiting)).length
    for (let i = 0; i < count; i++) {
      const message = await this.dequeue(taskId, sessionId)
      if (message === undefined) break
      out.push(message)
    }
    return out
  }
}
