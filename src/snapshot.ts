import { cloneJson } from './json.js'
import type { SessionTask, TaskMessage } from './schemas.js'

// Records handed out are detached copies, so callers may keep and even mutate
// them without reaching registry state. Copying is explicit per field because
// it runs on every read and every event: a generic deep clone costs more.

/** A detached deep copy of a record. */
export function cloneTask(task: SessionTask): SessionTask {
  const copy: SessionTask = {
    ...task,
    spec: cloneJson(task.spec),
    artifacts: task.artifacts.map((a) => ({ ...a })),
    links: { ...task.links, resourceIds: task.links.resourceIds.slice() },
  }
  if (task.progress !== undefined) {
    const progress = { ...task.progress }
    if (task.progress.steps !== undefined)
      progress.steps = task.progress.steps.map((s) => ({ ...s }))
    copy.progress = progress
  }
  if (task.inputRequest !== undefined) {
    const request = { ...task.inputRequest }
    if (task.inputRequest.expected !== undefined)
      request.expected = cloneJson(task.inputRequest.expected)
    copy.inputRequest = request
  }
  if (task.error !== undefined) copy.error = { ...task.error }
  return copy
}

/** A detached deep copy of a message. */
export function cloneMessage(message: TaskMessage): TaskMessage {
  return {
    ...message,
    content: message.content.map((part) =>
      part.type === 'text' ? { ...part } : { type: 'data', data: cloneJson(part.data) },
    ),
  }
}
