import type { SessionTask, TaskMessage, TaskMessagePart } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { TaskExecutionContext } from './executor.js'
import type { TaskExecutorRegistry } from './executor-registry.js'
import { type AskedRequest, forwardedMessageId } from './forwarding.js'
import type { MessageDelivery } from './supervisor-options.js'

/** What {@link deliverMessage} needs from the supervisor. */
export type DeliveryDeps = {
  registry: SessionTaskRegistry
  executors: TaskExecutorRegistry
  contextFor: (task: SessionTask) => TaskExecutionContext
}

/** A validated `supervisor.message` body. */
export type InboundMessage = {
  content: TaskMessagePart[]
  inReplyTo?: string | undefined
  /** Checked right before the message is recorded: an abort until then records nothing. */
  signal?: AbortSignal | undefined
  /** Another process runs the task: record it as forwarded, for that process to deliver. */
  forward?: boolean | undefined
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Records an inbound message and hands it to the task's executor (see
 * {@link handOver}). An answer
 * to a pending input request resumes the task when it is recorded; when it
 * then cannot be delivered, the task goes back to `awaiting_input` with the
 * same request (fenced on the attempt and on the resumed state, so a worker
 * that moved the task meanwhile keeps its write).
 */
export async function deliverMessage(
  deps: DeliveryDeps,
  sid: string,
  tid: string,
  body: InboundMessage,
): Promise<{ message: TaskMessage; delivery: MessageDelivery }> {
  const { registry } = deps
  const before = await registry.get(sid, tid)
  body.signal?.throwIfAborted()
  const message = await registry.recordMessage(sid, tid, {
    ...(body.forward === true ? { id: forwardedMessageId() } : {}),
    direction: 'inbound',
    content: body.content,
    ...(body.inReplyTo === undefined ? {} : { inReplyTo: body.inReplyTo }),
  })
  const asked =
    before?.state === 'awaiting_input' && before.inputRequest !== undefined
      ? { request: before.inputRequest, attempt: before.attempt }
      : undefined
  // Recording it was the hand-over: the process that runs the task may have
  // delivered it, and even finished the task, before this line runs.
  const live = before !== undefined && !isTerminalState(before.state)
  if (body.forward === true && live) return { message, delivery: 'delivered' }
  return handOver(deps, sid, tid, message, asked)
}

/**
 * Hands a recorded inbound message to the task's executor; an answer to
 * `asked` whose delivery fails puts that request back.
 */
export async function handOver(
  deps: DeliveryDeps,
  sid: string,
  tid: string,
  message: TaskMessage,
  asked: AskedRequest | undefined,
): Promise<{ message: TaskMessage; delivery: MessageDelivery }> {
  const { registry, executors } = deps
  const task = await registry.get(sid, tid)
  if (task === undefined) return { message, delivery: { failed: 'task no longer exists' } }
  if (isTerminalState(task.state))
    return { message, delivery: { failed: `task is already ${task.state}` } }
  const failed = async (
    reason: string,
  ): Promise<{ message: TaskMessage; delivery: MessageDelivery }> => {
    // Only an answer to that request puts it back. Answers of one task are
    // delivered one at a time by the supervisor, so a second answer racing
    // a delivered first one sees the task running and leaves it so.
    const resumedByThis = asked !== undefined && message.inReplyTo === asked.request.id
    if (resumedByThis && task.state === 'running' && asked.attempt === task.attempt) {
      await registry.update(sid, tid, {
        inputRequest: asked.request,
        expectedAttempt: task.attempt,
        expectedState: 'running',
      })
    }
    return { message, delivery: { failed: reason } }
  }
  const executor = executors.find(task.kind)
  if (executor === undefined) {
    return failed(`no executor is registered for task kind '${task.kind}'`)
  }
  try {
    await executor.deliver(task, message, deps.contextFor(task))
    return { message, delivery: 'delivered' }
  } catch (error) {
    return failed(reasonOf(error))
  }
}

/** Runs the deliveries of one task one at a time, in call order; tasks are independent. */
export class DeliveryLine {
  private readonly turns = new Map<string, Promise<void>>()

  /** Runs `work` after the previous delivery of `key` settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.turns.get(key) ?? Promise.resolve()
    const turn = previous.then(work)
    const settled = turn.then(
      () => {},
      () => {},
    )
    this.turns.set(key, settled)
    void settled.then(() => {
      if (this.turns.get(key) === settled) this.turns.delete(key)
    })
    return turn
  }
}
