import type { SessionTaskEvents } from '../events/emitter.js'
import { generateProcessId } from '../model/ids.js'
import type { SessionTask, TaskInputRequest, TaskMessage } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { MessageDelivery } from './supervisor-options.js'
import { taskIdOfKey, taskKey } from './task-key.js'

/**
 * The id prefix of an inbound message that a supervisor recorded for a task
 * it does not run (shared dispatch): the process that runs the task hands
 * it to its executor.
 */
export const FORWARDED_MESSAGE_PREFIX = 'fwd_'

/** A new id for a forwarded message: the prefix and 24 random characters. */
export function forwardedMessageId(): string {
  return `${FORWARDED_MESSAGE_PREFIX}${generateProcessId()}${generateProcessId()}`
}

/** The input request a task running here last asked, to put back if its answer fails. */
export type AskedRequest = { readonly request: TaskInputRequest; readonly attempt: number }

type Deliver = (
  sessionId: string,
  taskId: string,
  message: TaskMessage,
  asked: AskedRequest | undefined,
) => Promise<{ delivery: MessageDelivery }>

/**
 * Watches for forwarded messages of tasks that run in this process and
 * hands each to `deliver`, once, with the request the task had asked (a
 * forwarded answer's delivery that fails puts it back, as a local one
 * does). After lost events, the answer to a question a task here still
 * waits on is looked up in its messages, so a gap cannot strand it. Only
 * tasks running here are remembered, until they end or their session goes.
 */
export class ForwardedMessages {
  // With when it was asked: an older answer (to an earlier ask of the same id) is no answer.
  private readonly asked = new Map<string, AskedRequest & { readonly since: string }>()
  // Forwarded messages handed over per task, so a late event and a gap's read deliver once.
  private readonly handed = new Map<string, Set<string>>()
  private readonly stops: (() => void)[] = []

  constructor(
    private readonly registry: SessionTaskRegistry,
    private readonly runsHere: (key: string) => boolean,
    private readonly onError: (error: unknown, context: string) => void,
    private readonly deliver: Deliver,
  ) {
    this.stops.push(
      registry.subscribeAll((sessionId, type, payload) => {
        if (type === 'task.deleted') {
          this.forget(taskKey(sessionId, (payload as { taskId: string }).taskId))
        } else if (type === 'task.updated') {
          const { task } = payload as { task: SessionTask }
          const key = taskKey(sessionId, task.id)
          if (isTerminalState(task.state)) this.forget(key)
          else if (
            task.state === 'awaiting_input' &&
            task.inputRequest !== undefined &&
            runsHere(key)
          )
            this.asked.set(key, {
              request: task.inputRequest,
              attempt: task.attempt,
              since: task.stateChangedAt,
            })
        } else if (type === 'task.message.sent') {
          // Sent to the task: an inbound message.
          const { taskId, message } = payload as SessionTaskEvents['task.message.sent']
          this.handOver(sessionId, taskId, message)
        }
      }),
    )
    const deleted = registry.onSessionDeleted?.((sessionId) => {
      const prefix = taskKey(sessionId, '')
      for (const key of [...this.asked.keys(), ...this.handed.keys()])
        if (key.startsWith(prefix)) this.forget(key)
    })
    if (deleted !== undefined) this.stops.push(deleted)
    const gaps = registry.onEventGap?.((gap) => this.recover(gap.sessionId))
    if (gaps !== undefined) this.stops.push(gaps)
  }

  /** Stops watching and forgets every request. */
  close(): void {
    for (const stop of this.stops.splice(0)) stop()
    this.asked.clear()
    this.handed.clear()
  }

  private forget(key: string): void {
    this.asked.delete(key)
    this.handed.delete(key)
  }

  private handOver(sessionId: string, taskId: string, message: TaskMessage): void {
    const key = taskKey(sessionId, taskId)
    if (!message.id.startsWith(FORWARDED_MESSAGE_PREFIX) || !this.runsHere(key)) return
    const handed = this.handed.get(key) ?? new Set<string>()
    if (handed.has(message.id)) return
    handed.add(message.id)
    this.handed.set(key, handed)
    const asked = this.asked.get(key)
    if (asked !== undefined && message.inReplyTo === asked.request.id) this.asked.delete(key)
    const context = `delivering forwarded message '${message.id}' of task '${taskId}'`
    this.deliver(sessionId, taskId, message, asked).then(
      ({ delivery }) => {
        if (typeof delivery === 'object') this.onError(new Error(delivery.failed), context)
      },
      (error: unknown) => this.onError(error, context),
    )
  }

  // The events lost may have held the answer to a question still open here.
  private recover(sessionId: string): void {
    const prefix = taskKey(sessionId, '')
    for (const [key, asked] of this.asked) {
      if (!key.startsWith(prefix)) continue
      const taskId = taskIdOfKey(sessionId, key)
      this.registry.listMessages(sessionId, taskId).then(
        (messages) => {
          const answer = messages.find(
            (m) => m.id.startsWith(FORWARDED_MESSAGE_PREFIX) && m.inReplyTo === asked.request.id,
          )
          if (answer !== undefined) this.handOver(sessionId, taskId, answer)
        },
        (error: unknown) => this.onError(error, `reading task '${taskId}' after lost events`),
      )
    }
  }
}
