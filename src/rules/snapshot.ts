import { cloneJson } from '../model/json.js'
import type {
  SessionTask,
  TaskArtifact,
  TaskLinks,
  TaskMessage,
  TaskMessagePart,
  TaskProgress,
} from '../model/schemas.js'
import { buildTask, fieldsOf } from './record.js'

// Records handed out are detached copies, so callers may keep and even mutate
// them without reaching registry state. Copying is explicit per field because
// it runs on every read and every event: a generic deep clone costs far more.

/** A detached copy of a progress object. */
export function cloneProgress(p: TaskProgress): TaskProgress {
  const out = {} as TaskProgress
  if (p.current !== undefined) out.current = p.current
  if (p.total !== undefined) out.total = p.total
  if (p.unit !== undefined) out.unit = p.unit
  if (p.label !== undefined) out.label = p.label
  if (p.steps !== undefined) out.steps = p.steps.map((s) => ({ title: s.title, status: s.status }))
  return out
}

/** A detached copy of an artifact, keys in one order. */
export function cloneArtifact(a: TaskArtifact): TaskArtifact {
  const out = { name: a.name, type: a.type } as TaskArtifact
  if (a.path !== undefined) out.path = a.path
  if (a.url !== undefined) out.url = a.url
  return out
}

function cloneLinks(l: TaskLinks): TaskLinks {
  const out = {} as TaskLinks
  if (l.childSessionId !== undefined) out.childSessionId = l.childSessionId
  if (l.remoteTaskId !== undefined) out.remoteTaskId = l.remoteTaskId
  out.resourceIds = l.resourceIds.slice()
  return out
}

/** A detached deep copy of a record, optionally with another spec. */
export function cloneTask(task: SessionTask, spec = task.spec): SessionTask {
  const f = fieldsOf(task)
  f.spec = cloneJson(spec)
  f.artifacts = task.artifacts.map(cloneArtifact)
  f.links = cloneLinks(task.links)
  if (task.progress !== undefined) f.progress = cloneProgress(task.progress)
  if (task.inputRequest !== undefined) {
    const r = task.inputRequest
    f.inputRequest =
      r.expected === undefined
        ? { id: r.id, prompt: r.prompt }
        : { id: r.id, prompt: r.prompt, expected: cloneJson(r.expected) }
  }
  if (task.error !== undefined) f.error = { kind: task.error.kind, message: task.error.message }
  return buildTask(f)
}

/** A detached copy of a message part. */
export function clonePart(part: TaskMessagePart): TaskMessagePart {
  return part.type === 'text'
    ? { type: 'text', text: part.text }
    : { type: 'data', data: cloneJson(part.data) }
}

/** A detached deep copy of a message. */
export function cloneMessage(message: TaskMessage): TaskMessage {
  const out = {} as TaskMessage
  out.id = message.id
  out.taskId = message.taskId
  out.direction = message.direction
  out.content = message.content.map(clonePart)
  if (message.inReplyTo !== undefined) out.inReplyTo = message.inReplyTo
  out.createdAt = message.createdAt
  return out
}
