import type { Artifact, Message, Part, Task, TaskState } from '@a2a-js/sdk'
import type { JsonValue } from '../../model/json.js'
import type {
  SessionTask,
  TaskArtifact,
  TaskInputRequest,
  TaskMessage,
  TaskMessagePart,
} from '../../model/schemas.js'
import type { SessionTaskState } from '../../model/state.js'

// How an A2A task (the @a2a-js/sdk 1.x protobuf shape) is kept in a
// registry record and its messages, and rebuilt exactly. Pure, and free of
// the SDK at run time: only its types are used, and its enums are numbers.

type Json = { [key: string]: JsonValue }

/** `TaskState` numbers of @a2a-js/sdk 1.x (the A2A v1 protobuf enum). */
export const A2A_STATE = {
  unspecified: 0,
  submitted: 1,
  working: 2,
  completed: 3,
  failed: 4,
  canceled: 5,
  inputRequired: 6,
  rejected: 7,
  authRequired: 8,
} as const

const ROLE_USER = 1

/** The input request ids that tell the two A2A waiting states apart. */
export const INPUT_REQUIRED_ID = 'a2a-input-required'
/** See {@link INPUT_REQUIRED_ID}. */
export const AUTH_REQUIRED_ID = 'a2a-auth-required'
const REJECTED_KIND = 'rejected'

/** What a record holds for one A2A status. */
export type StatusFields = {
  state: SessionTaskState
  inputRequest?: TaskInputRequest
  error?: { kind: string; message: string }
}

/** The record state (and marks) for an A2A state number; undefined for one with no meaning here. */
export function statusFields(state: number): StatusFields | undefined {
  switch (state) {
    case A2A_STATE.submitted:
      return { state: 'queued' }
    case A2A_STATE.working:
      return { state: 'running' }
    case A2A_STATE.completed:
      return { state: 'succeeded' }
    case A2A_STATE.failed:
      return { state: 'failed' }
    case A2A_STATE.canceled:
      return { state: 'canceled' }
    case A2A_STATE.rejected:
      return { state: 'failed', error: { kind: REJECTED_KIND, message: 'rejected by the agent' } }
    case A2A_STATE.inputRequired:
      return {
        state: 'awaiting_input',
        inputRequest: { id: INPUT_REQUIRED_ID, prompt: 'input required' },
      }
    case A2A_STATE.authRequired:
      return {
        state: 'awaiting_input',
        inputRequest: { id: AUTH_REQUIRED_ID, prompt: 'authentication required' },
      }
    default:
      return undefined
  }
}

/** The A2A state number a record stands for. */
export function a2aState(task: SessionTask): number {
  switch (task.state) {
    case 'queued':
      return A2A_STATE.submitted
    case 'running':
      return A2A_STATE.working
    case 'succeeded':
      return A2A_STATE.completed
    case 'canceled':
      return A2A_STATE.canceled
    case 'failed':
      return task.error?.kind === REJECTED_KIND ? A2A_STATE.rejected : A2A_STATE.failed
    case 'awaiting_input':
      return task.inputRequest?.id === AUTH_REQUIRED_ID
        ? A2A_STATE.authRequired
        : A2A_STATE.inputRequired
  }
}

// Raw bytes become base64 text; everything else in a part is JSON already.
function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  // The SDK types raw parts as Node Buffers; elsewhere a Uint8Array is what there is.
  const B = (globalThis as { Buffer?: { from(b: Uint8Array): Uint8Array } }).Buffer
  return B === undefined ? bytes : B.from(bytes)
}

/** Text as base64 of its UTF-8 bytes (list page tokens). */
export function utf8ToBase64(text: string): string {
  return bytesToBase64(new TextEncoder().encode(text))
}

/** The text {@link utf8ToBase64} encoded; '' for a token that is not base64. */
export function base64ToUtf8(token: string): string {
  try {
    return new TextDecoder().decode(base64ToBytes(token))
  } catch {
    return ''
  }
}

function partToJson(part: Part): Json {
  const out: Json = { filename: part.filename, mediaType: part.mediaType }
  const c = part.content
  if (c !== undefined) {
    out.content =
      c.$case === 'raw'
        ? { $case: 'raw', base64: bytesToBase64(c.value) }
        : c.$case === 'data'
          ? { $case: 'data', value: (c.value ?? null) as JsonValue }
          : { $case: c.$case, value: c.value }
  }
  if (part.metadata !== undefined) out.metadata = part.metadata as Json
  return out
}

function partFromJson(json: Json): Part {
  const c = json.content as Json | undefined
  let content: Part['content']
  if (c !== undefined) {
    if (c.$case === 'raw')
      content = { $case: 'raw', value: base64ToBytes(c.base64 as string) as never }
    else if (c.$case === 'data') content = { $case: 'data', value: c.value }
    else content = { $case: c.$case as 'text' | 'url', value: c.value as string }
  }
  const part: Part = {
    metadata: json.metadata as Part['metadata'],
    filename: json.filename as string,
    mediaType: json.mediaType as string,
  }
  if (content !== undefined) part.content = content
  return part
}

/** An A2A message as JSON (the form kept in a data part of a stored message, and in `result`). */
export function messageToJson(m: Message): Json {
  const out: Json = {
    messageId: m.messageId,
    contextId: m.contextId,
    taskId: m.taskId,
    role: m.role,
    parts: m.parts.map(partToJson),
    extensions: m.extensions,
    referenceTaskIds: m.referenceTaskIds,
  }
  if (m.metadata !== undefined) out.metadata = m.metadata as Json
  return out
}

/** The A2A message kept by {@link messageToJson}. */
export function messageFromJson(json: Json): Message {
  return {
    messageId: json.messageId as string,
    contextId: json.contextId as string,
    taskId: json.taskId as string,
    role: json.role as Message['role'],
    parts: (json.parts as Json[]).map(partFromJson),
    metadata: json.metadata as Message['metadata'],
    extensions: json.extensions as string[],
    referenceTaskIds: json.referenceTaskIds as string[],
  }
}

const textOf = (parts: readonly Part[]) =>
  parts
    .map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
    .filter((t) => t !== '')
    .join('\n')

/** A history message as a registry message: its text for people, and the whole message as data. */
export function storedMessage(m: Message): {
  id: string
  direction: 'inbound' | 'outbound'
  content: TaskMessagePart[]
} {
  const text = textOf(m.parts)
  const content: TaskMessagePart[] = [{ type: 'data', data: { a2a: messageToJson(m) } }]
  if (text !== '') content.unshift({ type: 'text', text })
  return { id: m.messageId, direction: m.role === ROLE_USER ? 'inbound' : 'outbound', content }
}

/** The A2A message a registry message keeps, or undefined for one not written by the bridge. */
export function historyMessage(m: TaskMessage): Message | undefined {
  for (const part of m.content) {
    if (part.type === 'data' && typeof part.data === 'object' && part.data !== null) {
      const a2a = (part.data as Json).a2a
      if (typeof a2a === 'object' && a2a !== null && !Array.isArray(a2a)) {
        return messageFromJson(a2a as Json)
      }
    }
  }
  return undefined
}

/** An A2A artifact as a registry artifact: its text, and the parts as data. */
export function storedArtifact(a: Artifact): TaskArtifact {
  const out: { -readonly [K in keyof TaskArtifact]: TaskArtifact[K] } = {
    id: a.artifactId,
    name: a.name === '' ? a.artifactId : a.name,
    type: 'a2a',
    data: { name: a.name, parts: a.parts.map(partToJson), extensions: a.extensions },
  }
  if (a.description !== '') out.description = a.description
  const text = textOf(a.parts)
  if (text !== '') out.text = text
  if (a.metadata !== undefined) out.metadata = a.metadata as Json
  return out
}

/** The A2A artifact {@link storedArtifact} kept. */
export function a2aArtifact(a: TaskArtifact): Artifact {
  const data = (a.data ?? {}) as Json
  return {
    artifactId: a.id ?? a.name,
    name: (data.name as string | undefined) ?? a.name,
    description: a.description ?? '',
    parts: ((data.parts as Json[] | undefined) ?? []).map(partFromJson),
    metadata: a.metadata as Artifact['metadata'],
    extensions: (data.extensions as string[] | undefined) ?? [],
  }
}

/** Rebuilds the A2A task from its record and stored messages. */
export function a2aTask(
  record: SessionTask,
  contextId: string,
  messages: readonly TaskMessage[],
): Task {
  const history: Message[] = []
  for (const m of messages) {
    const message = historyMessage(m)
    if (message !== undefined) history.push(message)
  }
  const status = record.result
  return {
    id: record.id,
    contextId,
    status: {
      state: a2aState(record) as TaskState,
      message:
        typeof status === 'object' && status !== null && !Array.isArray(status)
          ? messageFromJson(status as Json)
          : undefined,
      timestamp: record.stateChangedAt,
    },
    artifacts: record.artifacts.map(a2aArtifact),
    history,
    metadata: record.metadata as Task['metadata'],
  }
}
