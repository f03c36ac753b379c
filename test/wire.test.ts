import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  applyTaskUpdate,
  isValidationError,
  type JsonValue,
  newSessionTask,
  SESSION_TASK_STATES,
  type SessionTask,
  SessionTaskSchema,
  type SessionTaskUpdate,
  TASK_MESSAGE_DIRECTIONS,
  TASK_STEP_STATUSES,
  TASK_WAKE_POLICIES,
  type TaskMessage,
  TaskMessageSchema,
  ValidationError,
} from '../src/index.js'
import {
  fromWireMessage,
  fromWireTask,
  toWireMessage,
  toWireTask,
  type WireSessionTask,
  WireSessionTaskSchema,
  type WireTaskMessage,
  WireTaskMessageSchema,
} from '../src/interop/wire.js'

// Issue 7 item 4: conversion to and from the everruns (serde) JSON shape.

const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

/** Runs `call`, expecting a ValidationError; returns it. */
function validationError(call: () => unknown): ValidationError {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    expect(isValidationError(error)).toBe(true)
    return error as ValidationError
  }
  throw new Error('expected a ValidationError, nothing was thrown')
}

// ---------------------------------------------------------------------------
// Fixtures: one record with every field set, one with none of the optionals.

const FULL: SessionTask = {
  id: 'task_full',
  sessionId: 'sess_1',
  rootSessionId: 'sess_root',
  kind: 'external_agent',
  displayName: 'Remote review',
  spec: { agentUrl: 'https://agent.test', nested: { camelCase: [1, { deepKey: true }] } },
  state: 'awaiting_input',
  stateChangedAt: '2026-01-01T00:00:02.000Z',
  stateDetail: 'waiting for approval',
  progress: {
    current: 2,
    total: 5,
    unit: 'files',
    label: 'Reviewing',
    steps: [
      { title: 'fetch', status: 'done' },
      { title: 'review', status: 'in_progress' },
      { title: 'report', status: 'pending' },
      { title: 'extra', status: 'skipped' },
    ],
  },
  inputRequest: { id: 'req_1', prompt: 'Approve?', expected: { type: 'boolean', choices: [1] } },
  cancelRequestedAt: '2026-01-01T00:00:04.000Z',
  summary: 'half way',
  resultPath: '/.tasks/task_full/result.json',
  result: { verdict: 'ok', camelCase: [1] },
  metadata: { contextKey: 'c-1' },
  artifacts: [
    { name: 'log', type: 'file', path: '/log.txt' },
    { name: 'pr', type: 'pr', url: 'https://example.test/pr/1' },
    { name: 'both', type: 'url', path: '/p', url: 'https://u' },
    { name: 'bare', type: 'session' },
    {
      id: 'a-1',
      name: 'notes',
      type: 'a2a',
      description: 'review notes',
      mediaType: 'text/plain',
      text: 'fine',
      data: { lineCount: 1 },
      metadata: { sourceKey: 'x' },
    },
  ],
  error: { kind: 'timeout', message: 'took too long' },
  attempt: 3,
  workerId: 'worker-7',
  heartbeatAt: '2026-01-01T00:00:03.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  links: { childSessionId: 'sess_child', remoteTaskId: 'remote-42', resourceIds: ['r1', 'r2'] },
  wakePolicy: 'on_activity',
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  finishedAt: '2026-01-01T00:00:05.000Z',
  updatedAt: '2026-01-01T00:00:06.000Z',
}

const FULL_WIRE: WireSessionTask = {
  id: 'task_full',
  session_id: 'sess_1',
  root_session_id: 'sess_root',
  kind: 'external_agent',
  display_name: 'Remote review',
  spec: { agentUrl: 'https://agent.test', nested: { camelCase: [1, { deepKey: true }] } },
  state: 'awaiting_input',
  state_changed_at: '2026-01-01T00:00:02.000Z',
  state_detail: 'waiting for approval',
  progress: {
    current: 2,
    total: 5,
    unit: 'files',
    label: 'Reviewing',
    steps: [
      { title: 'fetch', status: 'done' },
      { title: 'review', status: 'in_progress' },
      { title: 'report', status: 'pending' },
      { title: 'extra', status: 'skipped' },
    ],
  },
  input_request: { id: 'req_1', prompt: 'Approve?', expected: { type: 'boolean', choices: [1] } },
  cancel_requested_at: '2026-01-01T00:00:04.000Z',
  summary: 'half way',
  result_path: '/.tasks/task_full/result.json',
  result: { verdict: 'ok', camelCase: [1] },
  metadata: { contextKey: 'c-1' },
  artifacts: [
    { name: 'log', type: 'file', path: '/log.txt' },
    { name: 'pr', type: 'pr', url: 'https://example.test/pr/1' },
    { name: 'both', type: 'url', path: '/p', url: 'https://u' },
    { name: 'bare', type: 'session' },
    {
      id: 'a-1',
      name: 'notes',
      type: 'a2a',
      description: 'review notes',
      media_type: 'text/plain',
      text: 'fine',
      data: { lineCount: 1 },
      metadata: { sourceKey: 'x' },
    },
  ],
  error: { kind: 'timeout', message: 'took too long' },
  attempt: 3,
  worker_id: 'worker-7',
  heartbeat_at: '2026-01-01T00:00:03.000Z',
  expires_at: '2026-01-02T00:00:00.000Z',
  links: {
    child_session_id: 'sess_child',
    remote_task_id: 'remote-42',
    resource_ids: ['r1', 'r2'],
  },
  wake_policy: 'on_activity',
  created_at: '2026-01-01T00:00:00.000Z',
  started_at: '2026-01-01T00:00:01.000Z',
  finished_at: '2026-01-01T00:00:05.000Z',
  updated_at: '2026-01-01T00:00:06.000Z',
}

const MINIMAL: SessionTask = newSessionTask(
  { sessionId: 'sess_1', id: 'task_min', kind: 'subagent', displayName: 'Min' },
  new Date('2026-01-01T00:00:00.000Z'),
)

const MINIMAL_WIRE: WireSessionTask = {
  id: 'task_min',
  session_id: 'sess_1',
  kind: 'subagent',
  display_name: 'Min',
  spec: null,
  state: 'queued',
  state_changed_at: '2026-01-01T00:00:00.000Z',
  artifacts: [],
  attempt: 1,
  links: { resource_ids: [] },
  wake_policy: 'silent',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
}

const MESSAGE: TaskMessage = {
  id: 'tmsg_1',
  taskId: 'task_full',
  direction: 'inbound',
  content: [
    { type: 'text', text: 'yes' },
    { type: 'text', text: '' },
    { type: 'data', data: { approvedBy: 'ana', list: [null, 1.5, 'x'] } },
  ],
  inReplyTo: 'req_1',
  createdAt: '2026-01-01T00:00:07.000Z',
}

const MESSAGE_WIRE: WireTaskMessage = {
  id: 'tmsg_1',
  task_id: 'task_full',
  direction: 'inbound',
  content: [
    { type: 'text', text: 'yes' },
    { type: 'text', text: '' },
    { type: 'data', data: { approvedBy: 'ana', list: [null, 1.5, 'x'] } },
  ],
  in_reply_to: 'req_1',
  created_at: '2026-01-01T00:00:07.000Z',
}

// ---------------------------------------------------------------------------
// Arbitraries: records passing SessionTaskSchema / wire values passing
// WireSessionTaskSchema, built independently of src/wire.ts.

/**
 * A deep copy made of ordinary objects: fc.record and fc.dictionary may build
 * null-prototype objects, which toStrictEqual tells apart from the plain
 * objects the converters return. `__proto__` keys stay own data.
 */
function plain<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(plain) as T
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, {
      value: plain((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return out as T
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const anyId = fc.oneof(
  fc.string({ minLength: 1, maxLength: 24 }).filter((s) => !CONTROL.test(s)),
  fc.constantFrom('task_abc', 'é', '__proto__', 'constructor', 'x'.repeat(256)),
)
const nonEmpty = fc.string({ minLength: 1, maxLength: 12 })
const text = fc.string({ maxLength: 12 })
const timestamp = fc.oneof(
  fc
    .date({
      min: new Date('1970-01-01T00:00:00.000Z'),
      max: new Date('2100-01-01T00:00:00.000Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString()),
  // Valid but not canonical: kept exactly as given, never normalised.
  fc.constantFrom('2024-02-29T23:59:59Z', '2024-01-01T00:00:00.123456Z', '0099-12-31T00:00:00.5Z'),
)
const json: fc.Arbitrary<JsonValue> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>
const progress = fc.record(
  {
    current: fc.nat(),
    total: fc.nat(),
    unit: text,
    label: text,
    steps: fc.array(
      fc.record({ title: nonEmpty, status: fc.constantFrom(...TASK_STEP_STATUSES) }),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
)
const inputRequest = fc.record(
  { id: anyId, prompt: nonEmpty, expected: json },
  { requiredKeys: ['id', 'prompt'] },
)
const taskError = fc.record({ kind: nonEmpty, message: text })
const artifact = fc.record(
  {
    name: nonEmpty,
    type: fc.oneof(fc.constantFrom('file', 'url', 'session', 'pr'), nonEmpty),
    // mediaType is left out: its wire key differs (media_type), see the FULL fixture.
    id: nonEmpty,
    description: text,
    path: text,
    url: text,
    text,
    data: json,
    metadata: fc.dictionary(text, json, { maxKeys: 3 }),
  },
  { requiredKeys: ['name', 'type'] },
)
const resourceIds = fc.uniqueArray(nonEmpty, { maxLength: 4 })

// [record key, wire key, arbitrary, required]
const FIELDS = [
  ['id', 'id', anyId, true],
  ['sessionId', 'session_id', anyId, true],
  ['rootSessionId', 'root_session_id', anyId, false],
  ['kind', 'kind', nonEmpty, true],
  ['displayName', 'display_name', nonEmpty, true],
  ['spec', 'spec', json, true],
  ['state', 'state', fc.constantFrom(...SESSION_TASK_STATES), true],
  ['stateChangedAt', 'state_changed_at', timestamp, true],
  ['stateDetail', 'state_detail', text, false],
  ['progress', 'progress', progress, false],
  ['inputRequest', 'input_request', inputRequest, false],
  ['cancelRequestedAt', 'cancel_requested_at', timestamp, false],
  ['summary', 'summary', text, false],
  ['resultPath', 'result_path', text, false],
  ['result', 'result', json, false],
  ['metadata', 'metadata', fc.dictionary(text, json, { maxKeys: 3 }), false],
  ['expiresAt', 'expires_at', timestamp, false],
  ['artifacts', 'artifacts', fc.array(artifact, { maxLength: 3 }), true],
  ['error', 'error', taskError, false],
  ['attempt', 'attempt', fc.integer({ min: 1, max: 1000 }), true],
  ['workerId', 'worker_id', nonEmpty, false],
  ['heartbeatAt', 'heartbeat_at', timestamp, false],
  ['wakePolicy', 'wake_policy', fc.constantFrom(...TASK_WAKE_POLICIES), true],
  ['createdAt', 'created_at', timestamp, true],
  ['startedAt', 'started_at', timestamp, false],
  ['finishedAt', 'finished_at', timestamp, false],
  ['updatedAt', 'updated_at', timestamp, true],
] as const

function recordOf(
  side: 0 | 1,
  linksArb: fc.Arbitrary<Record<string, unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  const required: string[] = []
  for (const field of FIELDS) {
    model[field[side]] = field[2]
    if (field[3]) required.push(field[side])
  }
  model.links = linksArb
  required.push('links')
  return fc.record(model, { requiredKeys: required })
}

const recordLinks = fc.record(
  { childSessionId: anyId, remoteTaskId: nonEmpty, resourceIds },
  { requiredKeys: ['resourceIds'] },
)
const wireLinks = fc.record(
  { child_session_id: anyId, remote_task_id: nonEmpty, resource_ids: resourceIds },
  { requiredKeys: ['resource_ids'] },
)

const anyTask = recordOf(0, recordLinks).map(plain) as unknown as fc.Arbitrary<SessionTask>
const anyWireTask = recordOf(1, wireLinks).map(plain) as unknown as fc.Arbitrary<WireSessionTask>

// Records as the lifecycle really produces them: create, then random updates.
const canonicalTimestamp = fc
  .date({
    min: new Date('2000-01-01T00:00:00.000Z'),
    max: new Date('2100-01-01T00:00:00.000Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString())
const anyUpdate: fc.Arbitrary<SessionTaskUpdate> = fc
  .record(
    {
      state: fc.constantFrom(...SESSION_TASK_STATES),
      stateDetail: text,
      progress,
      inputRequest,
      summary: text,
      resultPath: text,
      artifacts: fc.array(artifact, { maxLength: 2 }),
      appendArtifact: artifact,
      error: taskError,
      links: fc.record(
        { childSessionId: anyId, remoteTaskId: nonEmpty, resourceIds: fc.array(nonEmpty) },
        { requiredKeys: [] },
      ),
      workerId: nonEmpty,
      heartbeatAt: canonicalTimestamp,
      incrementAttempt: fc.boolean(),
    },
    { requiredKeys: [] },
  )
  .map(plain) as fc.Arbitrary<SessionTaskUpdate>
const lifecycleTask: fc.Arbitrary<SessionTask> = fc
  .record({
    create: fc.record(
      {
        sessionId: anyId,
        id: fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/),
        kind: nonEmpty,
        displayName: nonEmpty,
        spec: json,
        state: fc.constantFrom(...SESSION_TASK_STATES),
        wakePolicy: fc.constantFrom(...TASK_WAKE_POLICIES),
        rootSessionId: anyId,
        links: fc.record(
          { childSessionId: anyId, remoteTaskId: nonEmpty, resourceIds: fc.array(nonEmpty) },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['sessionId', 'kind', 'displayName'] },
    ),
    updates: fc.array(anyUpdate, { maxLength: 6 }),
  })
  .map(({ create, updates }) => {
    let at = Date.parse('2026-01-01T00:00:00.000Z')
    let task = newSessionTask(plain(create), new Date(at))
    for (const update of updates) {
      at += 1000
      task = applyTaskUpdate(task, update, new Date(at))
    }
    return task
  })

const messagePart = fc.oneof(
  fc.record({ type: fc.constant('text' as const), text }),
  fc.record({ type: fc.constant('data' as const), data: json }),
)
const anyMessage = fc
  .record(
    {
      id: anyId,
      taskId: anyId,
      direction: fc.constantFrom(...TASK_MESSAGE_DIRECTIONS),
      content: fc.array(messagePart, { minLength: 1, maxLength: 4 }),
      inReplyTo: anyId,
      createdAt: timestamp,
    },
    { requiredKeys: ['id', 'taskId', 'direction', 'content', 'createdAt'] },
  )
  .map(plain) as fc.Arbitrary<TaskMessage>
const anyWireMessage = fc
  .record(
    {
      id: anyId,
      task_id: anyId,
      direction: fc.constantFrom(...TASK_MESSAGE_DIRECTIONS),
      content: fc.array(messagePart, { minLength: 1, maxLength: 4 }),
      in_reply_to: anyId,
      created_at: timestamp,
    },
    { requiredKeys: ['id', 'task_id', 'direction', 'content', 'created_at'] },
  )
  .map(plain) as fc.Arbitrary<WireTaskMessage>

/** What a value looks like after a trip through JSON text. */
function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

function hasNoUndefinedOrNullOptionals(value: Record<string, unknown>): void {
  for (const [key, v] of Object.entries(value)) {
    expect(v, key).not.toBeUndefined()
    if (key !== 'spec') expect(v, key).not.toBeNull()
  }
}

// ---------------------------------------------------------------------------

describe('toWireTask / fromWireTask: every field', () => {
  test('a record with every field converts to the exact everruns shape', () => {
    const wire = toWireTask(deepFreeze(structuredClone(FULL)))
    expect(wire).toStrictEqual(FULL_WIRE)
    expect(WireSessionTaskSchema.parse(wire)).toStrictEqual(FULL_WIRE)
  })

  test('the everruns shape with every field converts back to the exact record', () => {
    const task = fromWireTask(deepFreeze(structuredClone(FULL_WIRE)))
    expect(task).toStrictEqual(FULL)
    expect(SessionTaskSchema.parse(task)).toStrictEqual(FULL)
  })

  test('each record field maps to its own wire field', () => {
    const pairs: [keyof SessionTask, string][] = [
      ['rootSessionId', 'root_session_id'],
      ['stateDetail', 'state_detail'],
      ['progress', 'progress'],
      ['inputRequest', 'input_request'],
      ['cancelRequestedAt', 'cancel_requested_at'],
      ['summary', 'summary'],
      ['resultPath', 'result_path'],
      ['error', 'error'],
      ['workerId', 'worker_id'],
      ['heartbeatAt', 'heartbeat_at'],
      ['startedAt', 'started_at'],
      ['finishedAt', 'finished_at'],
    ]
    for (const [camel, snake] of pairs) {
      // Only this one optional present: exactly this one wire key appears.
      const task = { ...MINIMAL, [camel]: FULL[camel] } as SessionTask
      const wire = toWireTask(task) as Record<string, unknown>
      expect(wire, camel).toStrictEqual({ ...MINIMAL_WIRE, [snake]: FULL[camel] })
      expect(fromWireTask(wire), snake).toStrictEqual(task)
    }
    const linkPairs: [keyof SessionTask['links'], string][] = [
      ['childSessionId', 'child_session_id'],
      ['remoteTaskId', 'remote_task_id'],
      ['resourceIds', 'resource_ids'],
    ]
    for (const [camel, snake] of linkPairs) {
      const task = {
        ...MINIMAL,
        links: { resourceIds: [], [camel]: FULL.links[camel] },
      } as SessionTask
      const wire = toWireTask(task)
      expect(wire.links, camel).toStrictEqual({ resource_ids: [], [snake]: FULL.links[camel] })
      expect(fromWireTask(wire), snake).toStrictEqual(task)
    }
  })

  test('required fields that keep their name: id, kind, spec, state, artifacts, attempt', () => {
    const wire = toWireTask(FULL)
    expect(wire.id).toBe(FULL.id)
    expect(wire.kind).toBe(FULL.kind)
    expect(wire.spec).toStrictEqual(FULL.spec)
    expect(wire.state).toBe(FULL.state)
    expect(wire.artifacts.slice(0, 4)).toStrictEqual(FULL.artifacts.slice(0, 4))
    expect(wire.attempt).toBe(3)
  })

  test('an artifact carries media_type on the wire, and its other keys as they are', () => {
    const wire = toWireTask(FULL)
    expect(wire.artifacts[4]).toStrictEqual(FULL_WIRE.artifacts[4])
    expect(Object.keys(wire.artifacts[4] ?? {})).toContain('media_type')
    expect(fromWireTask(wire).artifacts[4]).toStrictEqual(FULL.artifacts[4])
  })

  test('a wire record without state_changed_at is dated by its last transition', () => {
    const { state_changed_at: _at, ...old } = FULL_WIRE
    expect(fromWireTask(old).stateChangedAt).toBe(FULL.finishedAt)
    const { state_changed_at: _at2, ...queued } = MINIMAL_WIRE
    expect(fromWireTask(queued).stateChangedAt).toBe(MINIMAL.createdAt)
  })

  test('metadata that is not a JSON object is rejected, naming the field', () => {
    expect(() => fromWireTask({ ...FULL_WIRE, metadata: [1] })).toThrow(
      /wire task: metadata: must be a JSON object/,
    )
  })

  test('JSON text of the wire record has only snake_case keys (spec content excepted)', () => {
    const parsed = JSON.parse(JSON.stringify(toWireTask(FULL))) as Record<string, unknown>
    for (const key of Object.keys(parsed)) expect(key).toMatch(SNAKE)
    for (const key of Object.keys(parsed.links as object)) expect(key).toMatch(SNAKE)
    expect(Object.keys(parsed)).not.toContain('sessionId')
  })
})

describe('omission rules', () => {
  test('a record without optionals gives a wire record without those keys', () => {
    const wire = toWireTask(MINIMAL)
    expect(wire).toStrictEqual(MINIMAL_WIRE)
    expect(Object.keys(wire)).toEqual(Object.keys(MINIMAL_WIRE))
    hasNoUndefinedOrNullOptionals(wire as Record<string, unknown>)
    expect(wire.links).toStrictEqual({ resource_ids: [] })
  })

  test('a wire record without optionals gives a record without those keys', () => {
    const task = fromWireTask(MINIMAL_WIRE)
    expect(task).toStrictEqual(MINIMAL)
    hasNoUndefinedOrNullOptionals(task as Record<string, unknown>)
    expect(task.links).toStrictEqual({ resourceIds: [] })
  })

  test('optional keys inside nested objects are omitted too', () => {
    const task: SessionTask = {
      ...MINIMAL,
      progress: { current: 1 },
      inputRequest: { id: 'q', prompt: 'p' },
      artifacts: [{ name: 'a', type: 'file' }],
    }
    const wire = toWireTask(task)
    expect(wire.progress).toStrictEqual({ current: 1 })
    expect(wire.input_request).toStrictEqual({ id: 'q', prompt: 'p' })
    expect(wire.artifacts).toStrictEqual([{ name: 'a', type: 'file' }])
    expect(fromWireTask(wire)).toStrictEqual(task)
  })

  test('undefined-valued optionals in a record are treated as absent', () => {
    const task = {
      ...MINIMAL,
      summary: undefined,
      links: { resourceIds: [], remoteTaskId: undefined },
    }
    const wire = toWireTask(task as unknown as SessionTask)
    expect(wire).toStrictEqual(MINIMAL_WIRE)
    expect('summary' in wire).toBe(false)
  })

  test('undefined-valued optionals in wire input are treated as absent', () => {
    const task = fromWireTask({ ...MINIMAL_WIRE, summary: undefined, worker_id: undefined })
    expect(task).toStrictEqual(MINIMAL)
    expect('summary' in task).toBe(false)
  })

  test('an empty string is a value, not an absence', () => {
    const task: SessionTask = { ...MINIMAL, summary: '', stateDetail: '', resultPath: '' }
    const wire = toWireTask(task)
    expect(wire).toMatchObject({ summary: '', state_detail: '', result_path: '' })
    expect(fromWireTask(wire)).toStrictEqual(task)
  })

  test('spec null is kept (it is required, not optional)', () => {
    expect(toWireTask(MINIMAL).spec).toBeNull()
    expect('spec' in toWireTask(MINIMAL)).toBe(true)
  })
})

describe('spec and JSON values are opaque user data', () => {
  test('spec keys are not converted, either way', () => {
    const ownProto = JSON.parse('{"camelCase":{"innerKey":1},"__proto__":{"polluted":true}}')
    const task = { ...MINIMAL, spec: ownProto }
    const wire = toWireTask(task)
    expect(Object.keys(wire.spec as object)).toEqual(['camelCase', '__proto__'])
    expect(Object.hasOwn(wire.spec as object, '__proto__')).toBe(true)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const back = fromWireTask(wire)
    expect(Object.keys(back.spec as object)).toEqual(['camelCase', '__proto__'])
    expect(back).toStrictEqual(task)
    const plain: JsonValue = { camelCase: { innerKey: [{ deepCamel: 1 }] }, snake_case: 'x' }
    expect(toWireTask({ ...MINIMAL, spec: plain }).spec).toStrictEqual(plain)
    expect(fromWireTask({ ...MINIMAL_WIRE, spec: plain }).spec).toStrictEqual(plain)
  })

  test('expected and data parts keep their keys', () => {
    const task: SessionTask = {
      ...MINIMAL,
      state: 'awaiting_input',
      inputRequest: { id: 'q', prompt: 'p', expected: { oneOf: ['a'], maxLength: 2 } },
    }
    expect(toWireTask(task).input_request?.expected).toStrictEqual({
      oneOf: ['a'],
      maxLength: 2,
    })
    expect(toWireMessage(MESSAGE).content[2]).toStrictEqual({
      type: 'data',
      data: { approvedBy: 'ana', list: [null, 1.5, 'x'] },
    })
  })
})

describe('detached copies', () => {
  test('mutating toWireTask output never changes the record', () => {
    const task = structuredClone(FULL)
    const wire = toWireTask(task)
    ;(wire.spec as { nested: { camelCase: unknown[] } }).nested.camelCase.push('x')
    wire.progress?.steps?.push({ title: 'x', status: 'done' })
    if (wire.progress?.steps?.[0]) wire.progress.steps[0].title = 'changed'
    ;(wire.input_request!.expected as { choices: number[] }).choices.push(2)
    wire.artifacts.push({ name: 'x', type: 'file' })
    if (wire.artifacts[0]) wire.artifacts[0].name = 'changed'
    wire.links.resource_ids.push('r9')
    if (wire.error) wire.error.kind = 'changed'
    expect(task).toStrictEqual(FULL)
  })

  test('fromWireTask output is deeply frozen and detached from the wire input', () => {
    const wire = structuredClone(FULL_WIRE)
    const task = fromWireTask(wire)
    expectDeepFrozen(task)
    expect(() => (task.links.resourceIds as string[]).push('r9')).toThrow(TypeError)
    expect(wire).toStrictEqual(FULL_WIRE)
    ;(wire.spec as { nested: { camelCase: unknown[] } }).nested.camelCase.push('x')
    wire.links.resource_ids.push('r9')
    wire.artifacts.length = 0
    if (wire.progress) wire.progress.current = 99
    expect(task).toStrictEqual(FULL)
  })

  test('inputs are never mutated (deep-frozen inputs convert fine)', () => {
    expect(() => toWireTask(deepFreeze(structuredClone(FULL)))).not.toThrow()
    expect(() => fromWireTask(deepFreeze(structuredClone(FULL_WIRE)))).not.toThrow()
    expect(() => toWireMessage(deepFreeze(structuredClone(MESSAGE)))).not.toThrow()
    expect(() => fromWireMessage(deepFreeze(structuredClone(MESSAGE_WIRE)))).not.toThrow()
  })

  test('message outputs never share state with the inputs; fromWireMessage output is frozen', () => {
    const message = structuredClone(MESSAGE)
    const wire = toWireMessage(message)
    ;(wire.content[2] as unknown as { data: { list: unknown[] } }).data.list.push(1)
    wire.content.push({ type: 'text', text: 'x' })
    expect(message).toStrictEqual(MESSAGE)

    const wire2 = structuredClone(MESSAGE_WIRE)
    const back = fromWireMessage(wire2)
    expectDeepFrozen(back)
    ;(wire2.content[2] as unknown as { data: { list: unknown[] } }).data.list.push(2)
    expect(back.content[2]).toStrictEqual({
      type: 'data',
      data: { approvedBy: 'ana', list: [null, 1.5, 'x'] },
    })
  })
})

describe('toWireMessage / fromWireMessage', () => {
  test('every field both ways', () => {
    expect(toWireMessage(MESSAGE)).toStrictEqual(MESSAGE_WIRE)
    expect(fromWireMessage(MESSAGE_WIRE)).toStrictEqual(MESSAGE)
    expect(WireTaskMessageSchema.parse(MESSAGE_WIRE)).toStrictEqual(MESSAGE_WIRE)
    expect(TaskMessageSchema.parse(fromWireMessage(MESSAGE_WIRE))).toStrictEqual(MESSAGE)
  })

  test('in_reply_to is omitted when absent', () => {
    const { inReplyTo: _, ...message } = MESSAGE
    const wire = toWireMessage(message)
    expect('in_reply_to' in wire).toBe(false)
    const { in_reply_to: __, ...expected } = MESSAGE_WIRE
    expect(wire).toStrictEqual(expected)
    expect(fromWireMessage(wire)).toStrictEqual(message)
    expect(Object.keys(JSON.parse(JSON.stringify(wire)))).toEqual([
      'id',
      'task_id',
      'direction',
      'content',
      'created_at',
    ])
  })

  test('outbound, data-only messages', () => {
    const message: TaskMessage = {
      id: 'tmsg_2',
      taskId: 't',
      direction: 'outbound',
      content: [{ type: 'data', data: null }],
      createdAt: '2026-01-01T00:00:00Z',
    }
    const wire = toWireMessage(message)
    expect(wire).toStrictEqual({
      id: 'tmsg_2',
      task_id: 't',
      direction: 'outbound',
      content: [{ type: 'data', data: null }],
      created_at: '2026-01-01T00:00:00Z',
    })
    expect(fromWireMessage(wire)).toStrictEqual(message)
  })
})

describe('property: round trips', () => {
  test('fromWireTask(toWireTask(t)) equals t for arbitrary valid records', () => {
    fc.assert(
      fc.property(anyTask, (task) => {
        expect(SessionTaskSchema.safeParse(task).success).toBe(true)
        const wire = toWireTask(task)
        expect(WireSessionTaskSchema.safeParse(wire).success).toBe(true)
        const back = fromWireTask(wire)
        expect(back).toStrictEqual(task)
        expect(SessionTaskSchema.parse(back)).toStrictEqual(task)
      }),
      { numRuns: 300 },
    )
  })

  test('fromWireTask(toWireTask(t)) equals t for records built by the lifecycle', () => {
    fc.assert(
      fc.property(lifecycleTask, (task) => {
        expect(fromWireTask(toWireTask(task))).toStrictEqual(task)
      }),
      { numRuns: 200 },
    )
  })

  test('toWireTask(fromWireTask(w)) equals w for arbitrary valid wire records', () => {
    fc.assert(
      fc.property(anyWireTask, (wire) => {
        expect(WireSessionTaskSchema.safeParse(wire).success).toBe(true)
        const task = fromWireTask(wire)
        expect(SessionTaskSchema.safeParse(task).success).toBe(true)
        expect(toWireTask(task)).toStrictEqual(wire)
      }),
      { numRuns: 300 },
    )
  })

  test('through JSON text: top-level keys are snake_case and the record comes back', () => {
    fc.assert(
      fc.property(anyTask, (task) => {
        const textForm = JSON.stringify(toWireTask(task))
        const parsed = JSON.parse(textForm) as Record<string, unknown>
        for (const key of Object.keys(parsed)) expect(key).toMatch(SNAKE)
        for (const key of Object.keys(parsed.links as object)) expect(key).toMatch(SNAKE)
        expect(fromWireTask(parsed)).toStrictEqual(viaJson(task))
      }),
      { numRuns: 200 },
    )
  })

  test('messages: fromWireMessage(toWireMessage(m)) equals m and back', () => {
    fc.assert(
      fc.property(anyMessage, anyWireMessage, (message, wire) => {
        expect(TaskMessageSchema.safeParse(message).success).toBe(true)
        const back = fromWireMessage(toWireMessage(message))
        expect(back).toStrictEqual(message)
        expect(TaskMessageSchema.parse(back)).toStrictEqual(message)
        expect(toWireMessage(fromWireMessage(wire))).toStrictEqual(wire)
        const parsed = JSON.parse(JSON.stringify(toWireMessage(message))) as object
        for (const key of Object.keys(parsed)) expect(key).toMatch(SNAKE)
        expect(fromWireMessage(parsed)).toStrictEqual(viaJson(message))
      }),
      { numRuns: 300 },
    )
  })
})

describe('bad wire input: ValidationError naming the field', () => {
  type Case = [name: string, input: () => unknown, field: string]
  const w = () => structuredClone(FULL_WIRE) as Record<string, unknown>
  const withKey = (key: string, value: unknown) => () => ({ ...w(), [key]: value })
  const without = (key: string) => () => {
    const value = w()
    delete value[key]
    return value
  }

  const cases: Case[] = [
    ['missing session_id', without('session_id'), 'session_id'],
    ['missing links', without('links'), 'links'],
    ['missing spec', without('spec'), 'spec'],
    ['missing created_at', without('created_at'), 'created_at'],
    ['camelCase key', () => ({ ...MINIMAL_WIRE, displayName: 'x' }), 'displayName'],
    ['unknown key', withKey('extra', 1), 'extra'],
    ['null optional', withKey('root_session_id', null), 'root_session_id'],
    ['null state_detail', withKey('state_detail', null), 'state_detail'],
    ['empty id', withKey('id', ''), 'id'],
    ['control char in session id', withKey('session_id', 'a\nb'), 'session_id'],
    ['bad state', withKey('state', 'done'), 'state'],
    ['proto state name', withKey('state', 'TASK_STATE_WORKING'), 'state'],
    ['bad wake policy', withKey('wake_policy', 'always'), 'wake_policy'],
    ['attempt 0', withKey('attempt', 0), 'attempt'],
    ['attempt 1.5', withKey('attempt', 1.5), 'attempt'],
    ['bad timestamp', withKey('created_at', '2026-01-01'), 'created_at'],
    ['offset timestamp', withKey('heartbeat_at', '2026-01-01T00:00:00+01:00'), 'heartbeat_at'],
    ['Feb 30', withKey('finished_at', '2026-02-30T00:00:00Z'), 'finished_at'],
    ['spec function', withKey('spec', { f: () => 1 }), 'spec.f'],
    ['spec NaN', withKey('spec', [1, Number.NaN]), 'spec[1]'],
    ['spec undefined', withKey('spec', undefined), 'spec'],
    ['negative progress', withKey('progress', { current: -1 }), 'progress.current'],
    ['camelCase in progress', withKey('progress', { stepCount: 1 }), 'progress.stepCount'],
    [
      'bad step status',
      withKey('progress', { steps: [{ title: 't', status: 'doing' }] }),
      'progress.steps[0].status',
    ],
    ['input request without prompt', withKey('input_request', { id: 'q' }), 'input_request.prompt'],
    [
      'camelCase input request',
      withKey('input_request', { id: 'q', prompt: 'p', expectedType: 'x' }),
      'input_request.expectedType',
    ],
    ['error without kind', withKey('error', { message: 'm' }), 'error.kind'],
    [
      'empty artifact name',
      withKey('artifacts', [{ name: '', type: 'file' }]),
      'artifacts[0].name',
    ],
    ['artifacts null', withKey('artifacts', null), 'artifacts'],
    ['links without resource_ids', withKey('links', {}), 'links.resource_ids'],
    [
      'camelCase links',
      withKey('links', { resource_ids: [], childSessionId: 'c' }),
      'links.childSessionId',
    ],
    [
      'links null child',
      withKey('links', { resource_ids: [], child_session_id: null }),
      'links.child_session_id',
    ],
    ['empty resource id', withKey('links', { resource_ids: ['ok', ''] }), 'links.resource_ids[1]'],
    ['empty worker id', withKey('worker_id', ''), 'worker_id'],
  ]

  test.each(cases)('%s', (_name, input, field) => {
    const error = validationError(() => fromWireTask(input()))
    expect(error.message).toMatch(/^invalid wire task: /)
    expect(error.message).toContain(field)
    expect(error.issues.length).toBeGreaterThan(0)
  })

  test('a camelCase record is refused, naming its keys', () => {
    const error = validationError(() => fromWireTask(FULL))
    expect(error.message).toContain('sessionId: is not a known field')
    expect(error.message).toContain('session_id')
    expect(error.issues.map((i) => i.path.join('.'))).toContain('session_id')
  })

  test.each([null, undefined, 'task', 42, [], new Date(), new Map()])(
    'not an object: %s',
    (value) => {
      validationError(() => fromWireTask(value))
      validationError(() => fromWireMessage(value))
    },
  )

  test('a hostile proxy is a ValidationError, not a raw throw', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('boom')
        },
        get() {
          throw new Error('boom')
        },
      },
    )
    validationError(() => fromWireTask(hostile))
    validationError(() => fromWireMessage(hostile))
  })

  const m = () => structuredClone(MESSAGE_WIRE) as Record<string, unknown>
  const messageCases: Case[] = [
    ['camelCase taskId', () => ({ ...m(), taskId: 't' }), 'taskId'],
    [
      'missing task_id',
      () => {
        const value = m()
        delete value.task_id
        return value
      },
      'task_id',
    ],
    ['null in_reply_to', () => ({ ...m(), in_reply_to: null }), 'in_reply_to'],
    ['bad direction', () => ({ ...m(), direction: 'sideways' }), 'direction'],
    ['empty content', () => ({ ...m(), content: [] }), 'content'],
    ['unknown part type', () => ({ ...m(), content: [{ type: 'image', url: 'u' }] }), 'content[0]'],
    ['text part without text', () => ({ ...m(), content: [{ type: 'text' }] }), 'content[0].text'],
    [
      'data part with a function',
      () => ({ ...m(), content: [{ type: 'data', data: { f: () => 1 } }] }),
      'content[0].data.f',
    ],
    [
      'extra key in part',
      () => ({ ...m(), content: [{ type: 'text', text: 'x', mime: 'y' }] }),
      'content[0].mime',
    ],
    ['bad created_at', () => ({ ...m(), created_at: 'yesterday' }), 'created_at'],
  ]

  test.each(messageCases)('message: %s', (_name, input, field) => {
    const error = validationError(() => fromWireMessage(input()))
    expect(error.message).toMatch(/^invalid wire task message: /)
    expect(error.message).toContain(field)
  })
})

function expectDeepFrozen(value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  expect(Object.isFrozen(value)).toBe(true)
  for (const item of Object.values(value)) expectDeepFrozen(item)
}
