/** Every `code` a {@link SessionTaskError} can carry. */
export const SESSION_TASK_ERROR_CODES = [
  'validation',
  'task_not_found',
  'task_conflict',
  'stale_attempt',
  'duplicate_executor',
  'no_executor',
  'unsupported',
  'stream_overflow',
] as const

/** A machine-readable error code (see {@link SESSION_TASK_ERROR_CODES}). */
export type SessionTaskErrorCode = (typeof SESSION_TASK_ERROR_CODES)[number]

// A registered symbol survives two copies of the package in one process, where
// `instanceof` does not: the guards below look for it instead.
const BRAND = Symbol.for('session-tasks.error')

/** One structured problem found while validating input. */
export type ValidationIssue = {
  /** Where the problem is, from the root of the checked value (`['progress', 'current']`). */
  path: (string | number)[]
  /** What is wrong there, in words. */
  message: string
}

/** Base class of every error the library throws on purpose. */
export class SessionTaskError extends Error {
  /** Machine-readable reason; branch on this or on the subclass. */
  readonly code: SessionTaskErrorCode

  constructor(code: SessionTaskErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = 'SessionTaskError'
    Object.defineProperty(this, BRAND, { value: true })
  }
}

/** Input did not match its schema; `issues` says where and why. */
export class ValidationError extends SessionTaskError {
  /** The structured problems, one per field. */
  readonly issues: ValidationIssue[]

  constructor(message: string, issues: ValidationIssue[], options?: { cause?: unknown }) {
    super('validation', message, options)
    this.name = 'ValidationError'
    this.issues = issues
  }
}

/** The task does not exist in the session that was named. */
export class TaskNotFoundError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('task_not_found', message, options)
    this.name = 'TaskNotFoundError'
  }
}

/** A caller-supplied task id is already taken by another session. */
export class TaskConflictError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('task_conflict', message, options)
    this.name = 'TaskConflictError'
  }
}

/** A write was fenced on an attempt the task has moved past. */
export class StaleAttemptError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('stale_attempt', message, options)
    this.name = 'StaleAttemptError'
  }
}

/** A second executor plugin was registered for a kind that has one. */
export class DuplicateExecutorError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('duplicate_executor', message, options)
    this.name = 'DuplicateExecutorError'
  }
}

/** No executor is registered for the task's kind. */
export class NoExecutorError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('no_executor', message, options)
    this.name = 'NoExecutorError'
  }
}

/** The executor does not implement the requested operation. */
export class UnsupportedOperationError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unsupported', message, options)
    this.name = 'UnsupportedOperationError'
  }
}

/** A stream consumer fell further behind than its queue allows. */
export class StreamOverflowError extends SessionTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('stream_overflow', message, options)
    this.name = 'StreamOverflowError'
  }
}

function hasCode(error: unknown, code?: SessionTaskErrorCode): boolean {
  if (typeof error !== 'object' || error === null) return false
  const branded = (error as { [BRAND]?: unknown })[BRAND] === true
  return branded && (code === undefined || (error as { code?: unknown }).code === code)
}

/** True for any error thrown by this library, from any copy of the package. */
export function isSessionTaskError(error: unknown): error is SessionTaskError {
  return hasCode(error)
}
/** True for a {@link ValidationError}, from any copy of the package. */
export function isValidationError(error: unknown): error is ValidationError {
  return hasCode(error, 'validation')
}
/** True for a {@link TaskNotFoundError}, from any copy of the package. */
export function isTaskNotFoundError(error: unknown): error is TaskNotFoundError {
  return hasCode(error, 'task_not_found')
}
/** True for a {@link TaskConflictError}, from any copy of the package. */
export function isTaskConflictError(error: unknown): error is TaskConflictError {
  return hasCode(error, 'task_conflict')
}
/** True for a {@link StaleAttemptError}, from any copy of the package. */
export function isStaleAttemptError(error: unknown): error is StaleAttemptError {
  return hasCode(error, 'stale_attempt')
}
/** True for a {@link DuplicateExecutorError}, from any copy of the package. */
export function isDuplicateExecutorError(error: unknown): error is DuplicateExecutorError {
  return hasCode(error, 'duplicate_executor')
}
/** True for a {@link NoExecutorError}, from any copy of the package. */
export function isNoExecutorError(error: unknown): error is NoExecutorError {
  return hasCode(error, 'no_executor')
}
/** True for an {@link UnsupportedOperationError}, from any copy of the package. */
export function isUnsupportedOperationError(error: unknown): error is UnsupportedOperationError {
  return hasCode(error, 'unsupported')
}
/** True for a {@link StreamOverflowError}, from any copy of the package. */
export function isStreamOverflowError(error: unknown): error is StreamOverflowError {
  return hasCode(error, 'stream_overflow')
}
