import { StaleAttemptError } from '../model/errors.js'
import { fastTextMessage, fastUpdate } from '../model/fast-validate.js'
import { generateTaskMessageId } from '../model/ids.js'
import {
  type Draft,
  type NewTaskMessage,
  NewTaskMessageSchema,
  SessionIdSchema,
  type SessionTask,
  type SessionTaskUpdate,
  SessionTaskUpdateSchema,
  TaskIdSchema,
  type TaskMessage,
} from '../model/schemas.js'
import { isBoundedId } from '../model/strings.js'
import { isoString } from '../model/time.js'
import { parseInput } from '../model/validate.js'
import { buildTask, fieldsOf } from './record.js'

// The parts of registry operations that do not depend on where tasks are
// stored, shared by every backend so that they cannot drift apart.

/** Validates a (sessionId, taskId) pair, the common case without zod. */
export function parseTaskRef(sessionId: unknown, taskId: unknown): [string, string] {
  return [
    isBoundedId(sessionId) ? sessionId : parseInput(SessionIdSchema, sessionId, 'sessionId'),
    isBoundedId(taskId) ? taskId : parseInput(TaskIdSchema, taskId, 'taskId'),
  ]
}

/** Validates an update, the common shapes without zod. */
export function parseTaskUpdate(update: unknown): SessionTaskUpdate {
  return fastUpdate(update) ?? parseInput(SessionTaskUpdateSchema, update, 'SessionTaskUpdate')
}

/** Validates a new message, text-only ones without zod. */
export function parseNewTaskMessage(message: unknown): NewTaskMessage {
  return fastTextMessage(message) ?? parseInput(NewTaskMessageSchema, message, 'NewTaskMessage')
}

/**
 * The message to store for `task`, or `StaleAttemptError` when the message is
 * fenced on another attempt (messages fail loudly; updates fail silently).
 */
export function newTaskMessage(task: SessionTask, input: NewTaskMessage, now: Date): TaskMessage {
  if (input.expectedAttempt !== undefined && input.expectedAttempt !== task.attempt) {
    throw new StaleAttemptError(
      `message fenced on attempt ${input.expectedAttempt} but task '${task.id}' is at attempt ${task.attempt}`,
    )
  }
  const message: Draft<TaskMessage> = {
    id: input.id ?? generateTaskMessageId(),
    taskId: task.id,
    direction: input.direction,
    content: input.content,
    createdAt: isoString(now),
  }
  if (input.inReplyTo !== undefined) message.inReplyTo = input.inReplyTo
  return message
}

/** True when an inbound message answers the task's pending input request (it then resumes). */
export function answersInputRequest(task: SessionTask, message: TaskMessage): boolean {
  return (
    message.direction === 'inbound' &&
    message.inReplyTo !== undefined &&
    message.inReplyTo === task.inputRequest?.id
  )
}

/** The record with cancel intent stamped, or `undefined` when it already was (SPEC 4 requestCancel). */
export function withCancelRequested(task: SessionTask, now: Date): SessionTask | undefined {
  if (task.cancelRequestedAt !== undefined) return undefined
  const at = isoString(now)
  const fields = fieldsOf(task)
  fields.cancelRequestedAt = at
  fields.updatedAt = at
  return buildTask(fields)
}
