import type {
  Draft,
  SessionTaskUpdate,
  TaskArtifact,
  TaskError,
  TaskMessagePart,
  TaskProgress,
} from './schemas.js'
import { SESSION_TASK_STATES, type SessionTaskState } from './state.js'
import { isBoundedId, isWellFormed } from './strings.js'
import { isIsoUtc, normalizeIso } from './time.js'

// Hand-written checks for the shapes written on every progress tick,
// heartbeat and message. They accept a strict subset of what the zod schemas
// accept and build the same output; anything else returns `undefined` and the
// caller falls back to zod, which stays the contract and writes the error
// messages. test/fast-validate.test.ts holds them to that.

const STATES: ReadonlySet<unknown> = new Set(SESSION_TASK_STATES)
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isPositive = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1
const isText = (v: unknown): v is string => typeof v === 'string' && isWellFormed(v)
const isNonEmpty = (v: unknown): v is string => isText(v) && v.length > 0

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype
}

function progress(v: unknown): TaskProgress | undefined {
  if (!isPlain(v)) return undefined
  const out: Draft<TaskProgress> = {}
  for (const key of Object.keys(v)) {
    const x = v[key]
    if (key === 'current' || key === 'total') {
      if (x !== undefined && !isCount(x)) return undefined
      if (x !== undefined) out[key] = x
    } else if (key === 'unit' || key === 'label') {
      if (x !== undefined && !isText(x)) return undefined
      if (x !== undefined) out[key] = x
    } else {
      // Unknown keys are errors even when undefined: zod decides.
      return undefined
    }
  }
  return out
}

function taskError(v: unknown): TaskError | undefined {
  if (!isPlain(v)) return undefined
  const keys = Object.keys(v)
  if (keys.length !== 2 || !isNonEmpty(v.kind) || !isText(v.message)) return undefined
  return { kind: v.kind, message: v.message }
}

function artifact(v: unknown): TaskArtifact | undefined {
  if (!isPlain(v)) return undefined
  const out = {} as Draft<TaskArtifact>
  for (const key of Object.keys(v)) {
    const x = v[key]
    if (key === 'name' || key === 'type') {
      if (x !== undefined && !isNonEmpty(x)) return undefined
      if (x !== undefined) out[key] = x
    } else if (key === 'id') {
      if (x !== undefined && !isNonEmpty(x)) return undefined
      if (x !== undefined) out.id = x
    } else if (
      key === 'path' ||
      key === 'url' ||
      key === 'description' ||
      key === 'mediaType' ||
      key === 'text'
    ) {
      if (x !== undefined && !isText(x)) return undefined
      if (x !== undefined) out[key] = x
    } else {
      return undefined
    }
  }
  return out.name !== undefined && out.type !== undefined ? out : undefined
}

// Keys of SessionTaskUpdate; an undefined value for one of them means "absent".
const UPDATE_KEYS: ReadonlySet<string> = new Set([
  'state',
  'stateDetail',
  'progress',
  'inputRequest',
  'summary',
  'resultPath',
  'artifacts',
  'appendArtifact',
  'error',
  'links',
  'workerId',
  'heartbeatAt',
  'deadlineAt',
  'expiresAt',
  'stateChangedAt',
  'result',
  'metadata',
  'expectedAttempt',
  'expectedState',
  'incrementAttempt',
])

function read(value: unknown): SessionTaskUpdate | undefined {
  if (!isPlain(value)) return undefined
  const out: Draft<SessionTaskUpdate> = {}
  for (const key of Object.keys(value)) {
    const x = value[key]
    if (x === undefined) {
      if (!UPDATE_KEYS.has(key)) return undefined
      continue
    }
    switch (key) {
      case 'state':
        if (!STATES.has(x)) return undefined
        out.state = x as SessionTaskState
        break
      case 'expectedState':
        if (!STATES.has(x)) return undefined
        out.expectedState = x as SessionTaskState
        break
      case 'stateDetail':
      case 'summary':
      case 'resultPath':
        if (!isText(x)) return undefined
        out[key] = x
        break
      case 'workerId':
        if (!isNonEmpty(x)) return undefined
        out.workerId = x
        break
      case 'heartbeatAt':
      case 'deadlineAt':
      case 'expiresAt':
      case 'stateChangedAt':
        if (!isText(x) || !isIsoUtc(x)) return undefined
        out[key] = normalizeIso(x)
        break
      case 'expectedAttempt':
        if (!isPositive(x)) return undefined
        out.expectedAttempt = x
        break
      case 'incrementAttempt':
        if (typeof x !== 'boolean') return undefined
        out.incrementAttempt = x
        break
      case 'progress': {
        const p = progress(x)
        if (p === undefined) return undefined
        out.progress = p
        break
      }
      case 'error': {
        const e = taskError(x)
        if (e === undefined) return undefined
        out.error = e
        break
      }
      case 'appendArtifact': {
        const a = artifact(x)
        if (a === undefined) return undefined
        out.appendArtifact = a
        break
      }
      default:
        return undefined
    }
  }
  return out
}

/** The common update shapes, checked and copied without zod; `undefined` means "ask zod". */
export function fastUpdate(value: unknown): SessionTaskUpdate | undefined {
  try {
    return read(value)
  } catch {
    // A throwing getter or proxy: zod reports it properly.
    return undefined
  }
}

/** A message of text parts only, checked and copied without zod; `undefined` means "ask zod". */
export function fastTextMessage(value: unknown):
  | {
      direction: 'inbound' | 'outbound'
      content: TaskMessagePart[]
      inReplyTo?: string
      expectedAttempt?: number
    }
  | undefined {
  try {
    if (!isPlain(value)) return undefined
    const { direction, content, inReplyTo, expectedAttempt } = value
    if (direction !== 'inbound' && direction !== 'outbound') return undefined
    if (!Array.isArray(content) || content.length === 0) return undefined
    let known = 2
    // Sized up front: the first push on an empty array reserves 16 slots,
    // and a stored message keeps its content array for as long as it lives.
    const parts: TaskMessagePart[] = new Array(content.length)
    for (let i = 0; i < content.length; i++) {
      const part: unknown = content[i]
      if (!isPlain(part) || part.type !== 'text' || !isText(part.text)) return undefined
      if (Object.keys(part).length !== 2) return undefined
      parts[i] = { type: 'text', text: part.text }
    }
    const out: {
      direction: 'inbound' | 'outbound'
      content: TaskMessagePart[]
      inReplyTo?: string
      expectedAttempt?: number
    } = { direction, content: parts }
    if ('inReplyTo' in value) {
      known++
      if (inReplyTo !== undefined) {
        if (!isBoundedId(inReplyTo)) return undefined
        out.inReplyTo = inReplyTo
      }
    }
    if ('expectedAttempt' in value) {
      known++
      if (expectedAttempt !== undefined) {
        if (!isPositive(expectedAttempt)) return undefined
        out.expectedAttempt = expectedAttempt
      }
    }
    return Object.keys(value).length === known ? out : undefined
  } catch {
    return undefined
  }
}
