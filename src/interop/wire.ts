import * as z from 'zod'
import { deepFreeze } from '../model/freeze.js'
import {
  type Draft,
  type SessionTask,
  SessionTaskSchema,
  type TaskArtifact,
  TaskArtifactSchema,
  TaskLinksSchema,
  type TaskMessage,
  TaskMessageSchema,
} from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import { buildTask } from '../rules/record.js'
import { copyArtifact, copyJson, copyPart, copyProgress } from './copy.js'

// The everruns (Rust, serde) JSON shape of records and messages: the same
// fields in snake_case. Nested objects whose field names are single words
// (progress, input request, error, artifacts, message parts) keep them.
// Each wire field reuses the schema of its record field, so a wire value is
// valid exactly when the record it converts to is. Spec, `expected` and data
// parts are opaque user JSON: their keys are never converted.

const task = SessionTaskSchema.shape
const links = TaskLinksSchema.shape
const message = TaskMessageSchema.shape
const artifact = TaskArtifactSchema.shape

/** The everruns JSON shape of a `TaskArtifact`: `media_type`; the other keys are single words. */
export const WireTaskArtifactSchema = z.strictObject({
  id: artifact.id,
  name: artifact.name,
  type: artifact.type,
  description: artifact.description,
  media_type: artifact.mediaType,
  path: artifact.path,
  url: artifact.url,
  text: artifact.text,
  data: artifact.data,
  metadata: artifact.metadata,
})

/** The everruns JSON shape of `TaskLinks`: `child_session_id`, `remote_task_id`, `resource_ids`. */
export const WireTaskLinksSchema = z.strictObject({
  child_session_id: links.childSessionId,
  remote_task_id: links.remoteTaskId,
  resource_ids: links.resourceIds,
})

/** The everruns JSON shape of a {@link SessionTask}: snake_case keys, absent optionals omitted. */
export const WireSessionTaskSchema = z.strictObject({
  id: task.id,
  session_id: task.sessionId,
  root_session_id: task.rootSessionId,
  kind: task.kind,
  display_name: task.displayName,
  spec: task.spec,
  state: task.state,
  // Optional on input: records written before it existed are dated by their last transition.
  state_changed_at: task.stateChangedAt.optional(),
  state_detail: task.stateDetail,
  progress: task.progress,
  input_request: task.inputRequest,
  cancel_requested_at: task.cancelRequestedAt,
  summary: task.summary,
  result_path: task.resultPath,
  result: task.result,
  metadata: task.metadata,
  artifacts: z.array(WireTaskArtifactSchema),
  error: task.error,
  attempt: task.attempt,
  worker_id: task.workerId,
  heartbeat_at: task.heartbeatAt,
  deadline_at: task.deadlineAt,
  expires_at: task.expiresAt,
  links: WireTaskLinksSchema,
  wake_policy: task.wakePolicy,
  created_at: task.createdAt,
  started_at: task.startedAt,
  finished_at: task.finishedAt,
  updated_at: task.updatedAt,
})

/** The everruns JSON shape of a {@link TaskMessage}: `task_id`, `in_reply_to`, `created_at`. */
export const WireTaskMessageSchema = z.strictObject({
  id: message.id,
  task_id: message.taskId,
  direction: message.direction,
  content: message.content,
  in_reply_to: message.inReplyTo,
  created_at: message.createdAt,
})

/** An artifact as everruns serialises it. */
export type WireTaskArtifact = z.infer<typeof WireTaskArtifactSchema>
/** Task links as everruns serialises them. */
export type WireTaskLinks = z.infer<typeof WireTaskLinksSchema>
/** A task record as everruns serialises it. */
export type WireSessionTask = z.infer<typeof WireSessionTaskSchema>
/** A task message as everruns serialises it. */
export type WireTaskMessage = z.infer<typeof WireTaskMessageSchema>

/**
 * Converts a record to the everruns JSON shape (snake_case keys).
 *
 * Absent optionals are left out (never `null`); `links.resource_ids` is
 * always present. The record is trusted (as the registry returns it) and
 * never mutated; the result is a detached deep copy. Spec content is copied
 * as is, keys included.
 */
export function toWireTask(task: SessionTask): WireSessionTask {
  const w = {} as WireSessionTask
  w.id = task.id
  w.session_id = task.sessionId
  if (task.rootSessionId !== undefined) w.root_session_id = task.rootSessionId
  w.kind = task.kind
  w.display_name = task.displayName
  w.spec = copyJson(task.spec)
  w.state = task.state
  w.state_changed_at = task.stateChangedAt
  if (task.stateDetail !== undefined) w.state_detail = task.stateDetail
  if (task.progress !== undefined) w.progress = copyProgress(task.progress)
  if (task.inputRequest !== undefined) {
    const r = task.inputRequest
    w.input_request =
      r.expected === undefined
        ? { id: r.id, prompt: r.prompt }
        : { id: r.id, prompt: r.prompt, expected: copyJson(r.expected) }
  }
  if (task.cancelRequestedAt !== undefined) w.cancel_requested_at = task.cancelRequestedAt
  if (task.summary !== undefined) w.summary = task.summary
  if (task.resultPath !== undefined) w.result_path = task.resultPath
  if (task.result !== undefined) w.result = copyJson(task.result)
  if (task.metadata !== undefined)
    w.metadata = copyJson(task.metadata) as WireSessionTask['metadata']
  w.artifacts = task.artifacts.map(toWireArtifact)
  if (task.error !== undefined) w.error = { kind: task.error.kind, message: task.error.message }
  w.attempt = task.attempt
  if (task.workerId !== undefined) w.worker_id = task.workerId
  if (task.heartbeatAt !== undefined) w.heartbeat_at = task.heartbeatAt
  if (task.deadlineAt !== undefined) w.deadline_at = task.deadlineAt
  if (task.expiresAt !== undefined) w.expires_at = task.expiresAt
  const l = {} as WireTaskLinks
  if (task.links.childSessionId !== undefined) l.child_session_id = task.links.childSessionId
  if (task.links.remoteTaskId !== undefined) l.remote_task_id = task.links.remoteTaskId
  l.resource_ids = task.links.resourceIds.slice()
  w.links = l
  w.wake_policy = task.wakePolicy
  w.created_at = task.createdAt
  if (task.startedAt !== undefined) w.started_at = task.startedAt
  if (task.finishedAt !== undefined) w.finished_at = task.finishedAt
  w.updated_at = task.updatedAt
  return w
}

/**
 * Validates an everruns JSON task record and converts it to a {@link SessionTask}.
 *
 * The result also satisfies `SessionTaskSchema` and is deeply frozen, detached from the
 * input. Strict: unknown keys, camelCase keys and `null` optionals are
 * errors; timestamps and resource ids are kept exactly as given (no
 * normalising, no de-duplication). Throws `ValidationError` naming the wire
 * field (`invalid wire task: links.resource_ids[0]: must not be empty`).
 */
export function fromWireTask(wire: unknown): SessionTask {
  const w = parseInput(WireSessionTaskSchema, wire, 'wire task')
  const l = {} as Draft<SessionTask['links']>
  if (w.links.child_session_id !== undefined) l.childSessionId = w.links.child_session_id
  if (w.links.remote_task_id !== undefined) l.remoteTaskId = w.links.remote_task_id
  l.resourceIds = w.links.resource_ids
  // The parsed value is already a fresh copy (zod rebuilds objects and arrays,
  // JsonValueSchema copies JSON), so its parts are used as they are.
  return deepFreeze(
    buildTask({
      id: w.id,
      sessionId: w.session_id,
      rootSessionId: w.root_session_id,
      kind: w.kind,
      displayName: w.display_name,
      spec: w.spec,
      state: w.state,
      stateChangedAt: w.state_changed_at ?? w.finished_at ?? w.started_at ?? w.created_at,
      stateDetail: w.state_detail,
      progress: w.progress,
      inputRequest: w.input_request,
      cancelRequestedAt: w.cancel_requested_at,
      summary: w.summary,
      resultPath: w.result_path,
      result: w.result,
      metadata: w.metadata,
      artifacts: w.artifacts.map(fromWireArtifact),
      error: w.error,
      attempt: w.attempt,
      workerId: w.worker_id,
      heartbeatAt: w.heartbeat_at,
      deadlineAt: w.deadline_at,
      expiresAt: w.expires_at,
      links: l,
      wakePolicy: w.wake_policy,
      createdAt: w.created_at,
      startedAt: w.started_at,
      finishedAt: w.finished_at,
      updatedAt: w.updated_at,
    }),
  )
}

function toWireArtifact(a: TaskArtifact): WireTaskArtifact {
  const { mediaType, ...rest } = copyArtifact(a)
  return mediaType === undefined ? rest : { ...rest, media_type: mediaType }
}

function fromWireArtifact(w: WireTaskArtifact): TaskArtifact {
  const { media_type, ...rest } = w
  return media_type === undefined ? rest : { ...rest, mediaType: media_type }
}

/**
 * Converts a message to the everruns JSON shape (`task_id`, `in_reply_to`, `created_at`).
 *
 * Parts keep `{type, text}` / `{type, data}`; data is copied as is. The
 * message is trusted and never mutated; the result is a detached deep copy.
 */
export function toWireMessage(message: TaskMessage): WireTaskMessage {
  const w = {} as WireTaskMessage
  w.id = message.id
  w.task_id = message.taskId
  w.direction = message.direction
  w.content = message.content.map(copyPart)
  if (message.inReplyTo !== undefined) w.in_reply_to = message.inReplyTo
  w.created_at = message.createdAt
  return w
}

/**
 * Validates an everruns JSON task message and converts it to a {@link TaskMessage}.
 *
 * The result also satisfies `TaskMessageSchema` and is deeply frozen and detached. Strict like
 * {@link fromWireTask}; throws `ValidationError` naming the wire field.
 */
export function fromWireMessage(wire: unknown): TaskMessage {
  const w = parseInput(WireTaskMessageSchema, wire, 'wire task message')
  const out = {} as Draft<TaskMessage>
  out.id = w.id
  out.taskId = w.task_id
  out.direction = w.direction
  out.content = w.content
  if (w.in_reply_to !== undefined) out.inReplyTo = w.in_reply_to
  out.createdAt = w.created_at
  return deepFreeze(out)
}
