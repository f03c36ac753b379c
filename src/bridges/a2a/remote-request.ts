import type { Message, StreamResponse } from '@a2a-js/sdk'
import { A2AError, JsonRpcTransportError } from '@a2a-js/sdk/errors'
import type { AgentExecutionEvent } from '@a2a-js/sdk/server'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask } from '../../model/schemas.js'
import { A2A_STATE } from './codec.js'

// What a2aClientExecutor sends to a remote agent and how it reads the
// client's answers: pure, and free of the SDK at run time but for its
// error classes.

/** What a task run by {@link a2aClientExecutor} sends to the remote agent, in `spec`. */
export type A2AClientSpec = {
  /** The request, sent as one text part. */
  text: string
  /** The A2A context id of the request. @default the task's session id */
  contextId?: string
  /** Metadata of the request message. */
  metadata?: { [key: string]: JsonValue }
}

/** The A2A states after which a remote task does nothing more. */
export const TERMINAL: readonly number[] = [
  A2A_STATE.completed,
  A2A_STATE.failed,
  A2A_STATE.canceled,
  A2A_STATE.rejected,
]

/** One A2A text part. */
export const textPart = (value: string) => ({
  content: { $case: 'text' as const, value },
  mediaType: 'text/plain',
  filename: '',
  metadata: {},
})

/** The task's `spec` as an A2A client spec (fields may be missing). */
export const specOf = (task: SessionTask): Partial<A2AClientSpec> => {
  const spec = task.spec
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec)
    ? (spec as Partial<A2AClientSpec>)
    : {}
}

/** The request's message id: the same on every attempt, so a re-attach can find what was sent. */
const requestIdOf = (task: SessionTask) => `${task.id}-request`

/** The request message of a task: the same on every attempt. */
export function requestOf(task: SessionTask): Message {
  const spec = specOf(task)
  return {
    messageId: requestIdOf(task),
    role: 1,
    taskId: '',
    contextId: typeof spec.contextId === 'string' ? spec.contextId : task.sessionId,
    parts: [textPart(typeof spec.text === 'string' ? spec.text : '')],
    metadata: (spec.metadata ?? {}) as Message['metadata'],
    extensions: [],
    referenceTaskIds: [],
  }
}

/** A client stream item as the agent event the writer takes. */
export function eventOf(item: StreamResponse): AgentExecutionEvent | undefined {
  const payload = item.payload
  if (payload === undefined) return undefined
  switch (payload.$case) {
    case 'task':
      return { kind: 'task', data: payload.value }
    case 'message':
      return { kind: 'message', data: payload.value }
    case 'statusUpdate':
      return { kind: 'statusUpdate', data: payload.value }
    case 'artifactUpdate':
      return { kind: 'artifactUpdate', data: payload.value }
  }
}

/** The remote task id an event names, if any. */
export function remoteIdOf(event: AgentExecutionEvent): string | undefined {
  const id =
    event.kind === 'task'
      ? event.data.id
      : event.kind === 'message'
        ? event.data.taskId
        : event.data.taskId
  return id === '' ? undefined : id
}

/** True for a failure worth another try: the network, not the agent's answer. */
export function isRetryable(error: unknown): boolean {
  return !(error instanceof A2AError) || error instanceof JsonRpcTransportError
}

/** An error's message. */
export const messageOf = (error: unknown) =>
  error instanceof Error ? error.message : String(error)
