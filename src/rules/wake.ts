import { taskMessageText } from '../model/message-text.js'
import type { SessionTask, SessionTaskUpdate, TaskMessage, TaskWake } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { isoString } from '../model/time.js'

function label(task: SessionTask): string {
  return `Task "${task.displayName}" (${task.id})`
}

function wake(
  task: SessionTask,
  transition: TaskWake['transition'],
  text: string,
  now: Date,
): TaskWake {
  return {
    sessionId: task.sessionId,
    taskId: task.id,
    transition,
    text,
    createdAt: isoString(now),
  }
}

/**
 * The wake an update raises, judged on the update's own intent and the
 * before -> after transition (SPEC 5); `undefined` when the policy or the
 * transition does not call for one.
 */
export function wakeForUpdate(
  before: SessionTask,
  after: SessionTask,
  update: SessionTaskUpdate,
  now: Date,
): TaskWake | undefined {
  const policy = after.wakePolicy
  if (policy === 'silent') return undefined
  if (
    update.state !== undefined &&
    isTerminalState(update.state) &&
    !isTerminalState(before.state) &&
    isTerminalState(after.state)
  ) {
    let text = `${label(after)} finished: ${after.state}.`
    if (after.summary !== undefined && after.summary !== '') text += `\n- summary: ${after.summary}`
    if (after.resultPath !== undefined && after.resultPath !== '') {
      text += `\n- result_path: ${after.resultPath}`
    }
    return wake(after, 'terminal', text, now)
  }
  if (
    policy === 'on_activity' &&
    (update.inputRequest !== undefined || update.state === 'awaiting_input') &&
    before.state !== 'awaiting_input' &&
    after.state === 'awaiting_input'
  ) {
    const prompt = after.inputRequest?.prompt ?? 'Task is awaiting input.'
    return wake(after, 'awaiting_input', `${label(after)} is awaiting input: ${prompt}`, now)
  }
  return undefined
}

/** The wake an outbound message raises under `on_activity`, else `undefined`. */
export function wakeForMessage(
  task: SessionTask,
  message: TaskMessage,
  now: Date,
): TaskWake | undefined {
  if (task.wakePolicy !== 'on_activity' || message.direction !== 'outbound') return undefined
  const text = taskMessageText(message.content)
  const shown = text.trim() === '' ? 'structured progress update' : text
  return wake(task, 'message', `${label(task)} sent a message: ${shown}`, now)
}
