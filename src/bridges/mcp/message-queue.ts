import type {
  QueuedMessage,
  TaskMessageQueue,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import { generateProcessId } from '../../model/ids.js'
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
// Bounds the positions one enqueue tries while others take them first.
const ENQUEUE_TRIES = 1000

// The id of a queue's message at position n (1, 2, ...).
const slotId = (queueId: string, n: number) => `mcpq:${queueId}:${n}`

// Of a queue's messages, how many are not taken yet.
const waitingIn = (queue: SessionTask, all: readonly TaskMessage[]) =>
  Math.max(0, all.length - (queue.attempt - 1))

// A stored message's nonce and the SDK's message.
function queued(stored: TaskMessage): { nonce: unknown; message: unknown } | undefined {
  const part = stored.content[0]
  if (part?.type !== 'data' || typeof part.data !== 'object' || part.data === null) return undefined
  return part.data as { nonce: unknown; message: unknown }
}

/**
 * The `@modelcontextprotocol/sdk` 1.x experimental-tasks `TaskMessageQueue`
 * over any registry: one queue record per task (id `q-<taskId>` in the
 * session `mcp/queues`), its messages the queue, and its `attempt` the count
 * of messages taken plus one. Each message has a position of its own, its
 * id `mcpq:<queue>:<n>`, which the registry's unique message ids settle
 * between racing enqueuers (a clock's order could not: processes' clocks
 * differ). A dequeue takes position `attempt` by a compare-and-set on that
 * attempt, so two processes never take the same message and none is
 * skipped. Keyed by task only, as the SDK's in-memory queue is.
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

  // How many messages wait: positions are dense, and `attempt - 1` are taken.
  private async waiting(queue: SessionTask): Promise<number> {
    const all = await this.registry.listMessages(MCP_QUEUE_SESSION, queue.id)
    return waitingIn(queue, all)
  }

  /** Appends a message; throws when `maxSize` messages already wait. */
  async enqueue(
    taskId: string,
    message: QueuedMessage,
    _sessionId?: string,
    maxSize?: number,
  ): Promise<void> {
    const queue = await this.queueOf(taskId)
    const all = await this.registry.listMessages(MCP_QUEUE_SESSION, queue.id)
    if (maxSize !== undefined) {
      const size = waitingIn(queue, all)
      if (size >= maxSize) {
        throw new Error(
          `Task message queue overflow: queue size (${size}) exceeds maximum (${maxSize})`,
        )
      }
    }
    // The next free position; a racing enqueuer that took it first has its
    // message returned instead of ours (another nonce), so try the next one.
    const nonce = generateProcessId()
    for (let n = all.length + 1, tries = 0; tries < ENQUEUE_TRIES; n++, tries++) {
      const stored = await this.registry.recordMessage(MCP_QUEUE_SESSION, queue.id, {
        id: slotId(queue.id, n),
        direction: 'outbound',
        content: [{ type: 'data', data: { nonce, message: message as unknown as JsonValue } }],
      })
      if (queued(stored)?.nonce === nonce) return
    }
    throw new Error(`the message queue of task ${taskId} stayed contended`)
  }

  /** Takes the oldest waiting message, or undefined. */
  async dequeue(taskId: string, _sessionId?: string): Promise<QueuedMessage | undefined> {
    const id = this.queueId(taskId)
    for (let i = 0; i < POP_TRIES; i++) {
      const queue = await this.registry.get(MCP_QUEUE_SESSION, id)
      if (queue === undefined) return undefined
      const all = await this.registry.listMessages(MCP_QUEUE_SESSION, id)
      const wanted = slotId(id, queue.attempt)
      const next = all.find((m) => m.id === wanted)
      if (next === undefined) return undefined
      const taken = await this.registry.updateWithOutcome(MCP_QUEUE_SESSION, id, {
        expectedAttempt: queue.attempt,
        incrementAttempt: true,
      })
      if (taken?.applied === true) return queued(next)?.message as QueuedMessage | undefined
    }
    throw new Error(`the message queue of task ${taskId} stayed contended`)
  }

  /** Takes every waiting message, oldest first. */
  async dequeueAll(taskId: string, sessionId?: string): Promise<QueuedMessage[]> {
    const out: QueuedMessage[] = []
    // Bounded: messages enqueued while this drains wait for the next call.
    const waiting = await this.registry.get(MCP_QUEUE_SESSION, this.queueId(taskId))
    const count = waiting === undefined ? 0 : await this.waiting(waiting)
    for (let i = 0; i < count; i++) {
      const message = await this.dequeue(taskId, sessionId)
      if (message === undefined) break
      out.push(message)
    }
    return out
  }
}
