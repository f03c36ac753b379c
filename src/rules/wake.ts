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

function terminalText(task: SessionTask): string {
  let text = `${label(task)} finished: ${task.state}.`
  if (task.summary !== undefined && task.summary !== '') text += `\n- summary: ${task.summary}`
  if (task.resultPath !== undefined && task.resultPath !== '') {
    text += `\n- result_path: ${task.resultPath}`
  }
  return text
}

function awaitingText(task: SessionTask): string {
  const prompt = task.inputRequest?.prompt ?? 'Task is awaiting input.'
  return `${label(task)} is awaiting input: ${prompt}`
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
    return wake(after, 'terminal', terminalText(after), now)
  }
  if (
    policy === 'on_activity' &&
    (update.inputRequest !== undefined || update.state === 'awaiting_input') &&
    before.state !== 'awaiting_input' &&
    after.state === 'awaiting_input'
  ) {
    return wake(after, 'awaiting_input', awaitingText(after), now)
  }
  return undefined
}

/**
 * The wake the record's current state raised when it was entered, for
 * readers rebuilding wakes from the records after events were lost;
 * `undefined` when it raises none. A terminal wake is stamped `finishedAt`,
 * as the original was; an awaiting one `updatedAt`, its best estimate.
 */
export function wakeForRecord(task: SessionTask): TaskWake | undefined {
  if (task.wakePolicy === 'silent') return undefined
  if (isTerminalState(task.state)) {
    const at = new Date(task.finishedAt ?? task.updatedAt)
    return wake(task, 'terminal', terminalText(task), at)
  }
  if (task.wakePolicy === 'on_activity' && task.state === 'awaiting_input') {
    return wake(task, 'awaiting_input', awaitingText(task), new Date(task.updatedAt))
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
