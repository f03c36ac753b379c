import type { JsonValue } from '../../model/json.js'
import type { SessionTask } from '../../model/schemas.js'

/** What the model sees of a task: small, and without its spec or secrets. */
export type TaskView = {
  taskId: string
  name: string
  state: SessionTask['state']
  detail?: string
  progress?: SessionTask['progress']
  /** Set while the task waits: what to answer with `task_answer`. */
  question?: { prompt: string; expected?: JsonValue }
  result?: JsonValue
  error?: { kind: string; message: string }
}

/** A task as the model sees it. */
export function taskView(task: SessionTask): TaskView {
  const view: TaskView = { taskId: task.id, name: task.displayName, state: task.state }
  if (task.stateDetail !== undefined) view.detail = task.stateDetail
  if (task.progress !== undefined) view.progress = task.progress
  const ask = task.state === 'awaiting_input' ? task.inputRequest : undefined
  if (ask !== undefined) {
    view.question = { prompt: ask.prompt }
    if (ask.expected !== undefined) view.question.expected = ask.expected as JsonValue
  }
  if (task.result !== undefined) view.result = task.result as JsonValue
  if (task.error !== undefined) view.error = { kind: task.error.kind, message: task.error.message }
  return view
}
