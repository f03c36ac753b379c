import type { SessionTaskEvents } from '../events/emitter.js'
import { generateProcessId } from '../model/ids.js'
import type { SessionTask, TaskInputRequest, TaskMessage } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { MessageDelivery } from './supervisor-options.js'
import { taskKey } from './task-key.js'

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

/**
 * Watches for forwarded messages of tasks that run in this process and
 * hands each to `deliver`, once, with the request the task had asked (a
 * forwarded answer's delivery that fails puts it back, as a local one
 * does). Only tasks running here are remembered, until they end.
 */
export class ForwardedMessages {
  private readonly asked = new Map<string, AskedRequest>()
  private readonly stop: () => void

  constructor(
    registry: SessionTaskRegistry,
    runsHere: (key: string) => boolean,
    onError: (error: unknown, context: string) => void,
    deliver: (
      sessionId: string,
      taskId: string,
      message: TaskMessage,
      asked: AskedRequest | undefined,
    ) => Promise<{ delivery: MessageDelivery }>,
  ) {
    this.stop = registry.subscribeAll((sessionId, type, payload) => {
      if (type === 'task.deleted') {
        this.asked.delete(taskKey(sessionId, (payload as { taskId: string }).taskId))
      } else if (type === 'task.updated') {
        const { task } = payload as { task: SessionTask }
        const key = taskKey(sessionId, task.id)
        if (isTerminalState(task.state)) this.asked.delete(key)
        else if (
          task.state === 'awaiting_input' &&
          task.inputRequest !== undefined &&
          runsHere(key)
        )
          this.asked.set(key, { request: task.inputRequest, attempt: task.attempt })
      } else if (type === 'task.message.sent') {
        // Sent to the task: an inbound message.
        const { taskId, message } = payload as SessionTaskEvents['task.message.sent']
        const key = taskKey(sessionId, taskId)
        if (!message.id.startsWith(FORWARDED_MESSAGE_PREFIX) || !runsHere(key)) return
        const context = `delivering forwarded message '${message.id}' of task '${taskId}'`
        deliver(sessionId, taskId, message, this.asked.get(key)).then(
          ({ delivery }) => {
            if (typeof delivery === 'object') onError(new Error(delivery.failed), context)
          },
          (error: unknown) => onError(error, context),
        )
      }
    })
  }

  /** Stops watching and forgets every request. */
  close(): void {
    this.stop()
    this.asked.clear()
  }
}
