import { describe, expect, it, type Mock, vi } from 'vitest'
import {
  InMemorySessionTaskRegistry,
  isTaskNotFoundError,
  isValidationError,
  MAX_JSON_DEPTH,
  type NewTaskMessage,
  type TaskMessagePart,
  ValidationError,
} from '../src/index.js'

// SPEC 4 "Validation" and 4.1 "Precise points": every input of every public
// registry method is checked first; bad input throws ValidationError naming
// the field, stores nothing and emits nothing.

type Registry = InMemorySessionTaskRegistry
type Call = (registry: Registry) => unknown
type Case = { name: string; call: Call; field: string; path?: (string | number)[] }

const S = 'session-a'
const S2 = 'session-b'
const T1 = 'task-1' // running, with messages, heartbeat in the past
const T2 = 'task-2' // succeeded (prunable)
const T3 = 'task-3' // lives in session S2
const T4 = 'task-4' // awaiting input on request 'q1'
const FAR_FUTURE = new Date('2100-01-01T00:00:00.000Z')
const NO_ERROR = Symbol('no error')

function steppingClock(): () => Date {
  let t = Date.parse('2024-01-01T00:00:00.000Z')
  return () => {
    t += 1000
    return new Date(t)
  }
}

type Fixture = { registry: Registry; all: Mock; one: Mock; two: Mock }

async function fixture(): Promise<Fixture> {
  const registry = new InMemorySessionTaskRegistry({ now: steppingClock() })
  await registry.create({
    sessionId: S,
    id: T1,
    kind: 'build',
    displayName: 'Build',
    spec: { target: 'x', push_configs: [{ url: 'https://example.test', secret: 's3' }] },
    wakePolicy: 'on_activity',
    links: { resourceIds: ['r1'] },
  })
  await registry.update(S, T1, {
    state: 'running',
    heartbeatAt: '2024-01-01T00:00:00.000Z',
    progress: { current: 1, total: 3 },
  })
  await registry.create({
    sessionId: S,
    id: T2,
    kind: 'build',
    displayName: 'Done',
    state: 'succeeded',
  })
  await registry.create({ sessionId: S2, id: T3, kind: 'other', displayName: 'Other' })
  await registry.create({
    sessionId: S,
    id: T4,
    kind: 'ask',
    displayName: 'Ask',
    wakePolicy: 'on_activity',
  })
  await registry.update(S, T4, { inputRequest: { id: 'q1', prompt: 'Which one?' } })
  await registry.recordMessage(S, T1, {
    direction: 'outbound',
    content: [{ type: 'text', text: 'working' }],
  })
  await registry.recordMessage(S, T1, {
    direction: 'inbound',
    content: [{ type: 'data', data: { go: true } }],
  })
  const all = vi.fn()
  const one = vi.fn()
  const two = vi.fn()
  registry.subscribeAll(all)
  registry.subscribe(S, one)
  registry.subscribe(S2, two)
  return { registry, all, one, two }
}

async function snapshot(registry: Registry): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const sid of [S, S2]) out[`list:${sid}`] = await registry.list(sid)
  const pairs: [string, string][] = [
    [S, T1],
    [S, T2],
    [S2, T3],
    [S, T4],
  ]
  for (const [sid, tid] of pairs) {
    out[`get:${tid}`] = await registry.get(sid, tid)
    out[`messages:${tid}`] = await registry.listMessages(sid, tid)
  }
  out.stale = await registry.listStale({ heartbeatBefore: FAR_FUTURE })
  out.stats = registry.stats()
  return out
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

/** Runs a call, awaiting promises and pulling one item of a stream; returns what it threw. */
async function capture(run: () => unknown): Promise<unknown> {
  try {
    const result = run()
    if (result instanceof Promise) await result
    else if (isAsyncIterable(result)) {
      const iterator = result[Symbol.asyncIterator]()
      try {
        await iterator.next()
      } finally {
        await iterator.return?.()
      }
    }
  } catch (error) {
    return error
  }
  return NO_ERROR
}

function expectValidationError(error: unknown, field: string, path?: (string | number)[]): void {
  expect(error, 'the call should have failed').not.toBe(NO_ERROR)
  expect(isValidationError(error), `expected a ValidationError, got ${String(error)}`).toBe(true)
  expect(error).toBeInstanceOf(ValidationError)
  const e = error as ValidationError
  expect(e.code).toBe('validation')
  expect(e.name).toBe('ValidationError')
  expect(e.message).toContain(field)
  expect(Array.isArray(e.issues)).toBe(true)
  expect(e.issues.length).toBeGreaterThan(0)
  for (const issue of e.issues) {
    expect(Array.isArray(issue.path)).toBe(true)
    expect(typeof issue.message).toBe('string')
    expect(issue.message).not.toBe('')
  }
  if (path !== undefined) expect(e.issues.map((i) => i.path)).toContainEqual(path)
}

async function expectRejectedCleanly(c: Case): Promise<ValidationError> {
  const f = await fixture()
  const before = await snapshot(f.registry)
  const error = await capture(() => c.call(f.registry))
  expectValidationError(error, c.field, c.path)
  expect(await snapshot(f.registry)).toStrictEqual(before)
  expect(f.all).not.toHaveBeenCalled()
  expect(f.one).not.toHaveBeenCalled()
  expect(f.two).not.toHaveBeenCalled()
  return error as ValidationError
}

function runCases(cases: Case[]): void {
  it.each(cases)('rejects $name', async (c) => {
    await expectRejectedCleanly(c)
  })
}

// ---------------------------------------------------------------- bad values

class Point {
  constructor(readonly x = 1) {}
}

function sparse(): unknown[] {
  const a: unknown[] = [1]
  a[2] = 3
  return a
}

function cycle(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 }
  o.self = o
  return o
}

function nest(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

/** Values that are not JSON (SPEC 4.1 "JSON values"); each factory makes a fresh one. */
const NON_JSON: [string, () => unknown][] = [
  ['a function', () => () => 1],
  ['a symbol', () => Symbol('s')],
  ['a bigint', () => 10n],
  ['a cycle', cycle],
  ['NaN', () => Number.NaN],
  ['Infinity', () => Number.POSITIVE_INFINITY],
  ['-Infinity', () => Number.NEGATIVE_INFINITY],
  ['a Date', () => new Date(0)],
  ['a Map', () => new Map([['a', 1]])],
  ['a Set', () => new Set([1])],
  ['a class instance', () => new Point()],
  ['a sparse array', sparse],
  ['undefined inside an array', () => [1, undefined]],
  ['a function nested in an object', () => ({ a: [1, { b: () => 1 }] })],
  ['a RegExp', () => /x/],
  ['a boxed string', () => Object('x')],
  ['a typed array', () => new Uint8Array(2)],
  ['an Error', () => new Error('x')],
  [
    'an object with a throwing getter',
    () =>
      Object.defineProperty({}, 'x', {
        enumerable: true,
        get() {
          throw new Error('nope')
        },
      }),
  ],
  [`nesting deeper than ${MAX_JSON_DEPTH}`, () => nest(MAX_JSON_DEPTH + 1)],
]

const BAD_SESSION_IDS: [string, unknown][] = [
  ['a number', 42],
  ['an empty string', ''],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: S }],
  ['an array', [S]],
  ['a NUL character', 'a\u0000b'],
  ['a newline', 'line\nbreak'],
  ['a DEL character', 'a\u007f'],
  ['a C1 control character', 'a\u0085b'],
  ['257 characters', 'x'.repeat(257)],
]

const BAD_TASK_IDS: [string, unknown][] = [
  ['a number', 7],
  ['an empty string', ''],
  ['null', null],
  ['undefined', undefined],
  ['an array', [T1]],
  ['a NUL character', 'task\u0000'],
  ['a tab', 'task\t1'],
]

// ---------------------------------------------------------------- ids

const TASK_METHODS: [string, (r: Registry, sid: unknown, tid: unknown) => unknown][] = [
  ['update', (r, s, t) => r.update(s as never, t as never, { summary: 'x' })],
  ['get', (r, s, t) => r.get(s as never, t as never)],
  ['requestCancel', (r, s, t) => r.requestCancel(s as never, t as never)],
  [
    'recordMessage',
    (r, s, t) =>
      r.recordMessage(s as never, t as never, {
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
      }),
  ],
  ['listMessages', (r, s, t) => r.listMessages(s as never, t as never)],
]

const SESSION_METHODS: [string, (r: Registry, sid: unknown) => unknown][] = [
  ['list', (r, s) => r.list(s as never)],
  ['events', (r, s) => r.events(s as never)],
  ['subscribe', (r, s) => r.subscribe(s as never, () => {})],
  ['stream', (r, s) => r.stream(s as never)],
  ['deleteSession', (r, s) => r.deleteSession(s as never)],
]

describe('session and task ids', () => {
  const cases: Case[] = []
  for (const [method, call] of TASK_METHODS) {
    for (const [what, value] of BAD_SESSION_IDS) {
      cases.push({
        name: `${method}: sessionId ${what}`,
        call: (r) => call(r, value, T1),
        field: 'sessionId',
      })
    }
    for (const [what, value] of BAD_TASK_IDS) {
      cases.push({
        name: `${method}: taskId ${what}`,
        call: (r) => call(r, S, value),
        field: 'taskId',
      })
    }
  }
  for (const [method, call] of SESSION_METHODS) {
    for (const [what, value] of BAD_SESSION_IDS) {
      cases.push({
        name: `${method}: sessionId ${what}`,
        call: (r) => call(r, value),
        field: 'sessionId',
      })
    }
  }
  runCases(cases)

  it('accepts a session id of exactly 256 characters', async () => {
    const f = await fixture()
    const sid = 's'.repeat(256)
    const task = await f.registry.create({ sessionId: sid, kind: 'k', displayName: 'd' })
    expect(task.sessionId).toBe(sid)
    expect(await f.registry.list(sid)).toHaveLength(1)
  })

  it('accepts task ids with slashes and dots in lookups (only caller ids are restricted)', async () => {
    const f = await fixture()
    expect(await f.registry.get(S, 'a/b')).toBeUndefined()
    expect(await f.registry.listMessages(S, '../x')).toEqual([])
  })
})

// ---------------------------------------------------------------- constructor

describe('new InMemorySessionTaskRegistry(options)', () => {
  const cases: [string, unknown, string][] = [
    ['options that are a string', 'fast', 'registry options'],
    ['options that are a number', 5, 'registry options'],
    ['null options', null, 'registry options'],
    ['options that are an array', [], 'registry options'],
    ['now that is a string', { now: 'Date.now' }, 'now'],
    ['now that is a number', { now: 42 }, 'now'],
    ['now that is a Date', { now: new Date() }, 'now'],
    ['now that is null', { now: null }, 'now'],
    ['onListenerError that is a string', { onListenerError: 'log' }, 'onListenerError'],
    ['onListenerError that is an object', { onListenerError: {} }, 'onListenerError'],
    ['onListenerError that is null', { onListenerError: null }, 'onListenerError'],
    ['a negative replayBuffer', { replayBuffer: -1 }, 'replayBuffer'],
    ['a fractional replayBuffer', { replayBuffer: 1.5 }, 'replayBuffer'],
    ['a string replayBuffer', { replayBuffer: '10' }, 'replayBuffer'],
    ['a NaN replayBuffer', { replayBuffer: Number.NaN }, 'replayBuffer'],
    ['an infinite replayBuffer', { replayBuffer: Number.POSITIVE_INFINITY }, 'replayBuffer'],
    ['a null replayBuffer', { replayBuffer: null }, 'replayBuffer'],
    ['an unknown key (clock)', { clock: () => new Date() }, 'clock'],
    ['an unknown key (replay_buffer)', { replay_buffer: 10 }, 'replay_buffer'],
  ]
  it.each(cases)('rejects %s', (_name, options, field) => {
    let error: unknown = NO_ERROR
    try {
      new InMemorySessionTaskRegistry(options as never)
    } catch (e) {
      error = e
    }
    expectValidationError(error, field)
  })

  it('accepts no options, empty options, replayBuffer 0 and undefined-valued keys', () => {
    expect(() => new InMemorySessionTaskRegistry()).not.toThrow()
    expect(() => new InMemorySessionTaskRegistry({})).not.toThrow()
    expect(() => new InMemorySessionTaskRegistry({ replayBuffer: 0 })).not.toThrow()
    const r = new InMemorySessionTaskRegistry({ now: undefined, onListenerError: undefined })
    expect(r.now()).toBeInstanceOf(Date)
  })
})

// ---------------------------------------------------------------- create

const C = { sessionId: S, kind: 'build', displayName: 'New task' }
const create =
  (input: unknown): Call =>
  (r) =>
    r.create(input as never)
function without<T extends object>(base: T, key: keyof T): Partial<T> {
  const copy: Partial<T> = { ...base }
  delete copy[key]
  return copy
}

describe('create(input)', () => {
  const cases: Case[] = [
    { name: 'an input that is a string', call: create('task'), field: 'CreateSessionTask' },
    { name: 'an input that is null', call: create(null), field: 'CreateSessionTask' },
    { name: 'an input that is undefined', call: create(undefined), field: 'CreateSessionTask' },
    { name: 'an input that is an array', call: create([C]), field: 'CreateSessionTask' },
    { name: 'a numeric sessionId', call: create({ ...C, sessionId: 42 }), field: 'sessionId' },
    { name: 'a numeric kind', call: create({ ...C, kind: 7 }), field: 'kind', path: ['kind'] },
    {
      name: 'a boolean displayName',
      call: create({ ...C, displayName: true }),
      field: 'displayName',
    },
    { name: 'a numeric state', call: create({ ...C, state: 3 }), field: 'state' },
    { name: 'links that are a string', call: create({ ...C, links: 'x' }), field: 'links' },
    { name: 'a numeric id', call: create({ ...C, id: 12 }), field: 'id' },
    { name: 'a missing sessionId', call: create(without(C, 'sessionId')), field: 'sessionId' },
    { name: 'a missing kind', call: create(without(C, 'kind')), field: 'kind' },
    {
      name: 'a missing displayName',
      call: create(without(C, 'displayName')),
      field: 'displayName',
    },
    {
      name: 'an unknown key (title)',
      call: create({ ...C, title: 'x' }),
      field: 'title',
      path: ['title'],
    },
    {
      name: 'an unknown key (session_id)',
      call: create({ ...C, session_id: S }),
      field: 'session_id',
    },
    { name: 'a record-only key (attempt)', call: create({ ...C, attempt: 2 }), field: 'attempt' },
    {
      name: 'a record-only key (createdAt)',
      call: create({ ...C, createdAt: '2024-01-01T00:00:00.000Z' }),
      field: 'createdAt',
    },
    {
      name: 'an unknown key inside links',
      call: create({ ...C, links: { resourceIds: [], extra: 1 } }),
      field: 'links.extra',
      path: ['links', 'extra'],
    },
    { name: "state 'done'", call: create({ ...C, state: 'done' }), field: 'state' },
    { name: "state 'Running'", call: create({ ...C, state: 'Running' }), field: 'state' },
    { name: "state 'cancelled'", call: create({ ...C, state: 'cancelled' }), field: 'state' },
    { name: 'an empty state', call: create({ ...C, state: '' }), field: 'state' },
    {
      name: "wakePolicy 'always'",
      call: create({ ...C, wakePolicy: 'always' }),
      field: 'wakePolicy',
    },
    {
      name: "wakePolicy 'onTerminal'",
      call: create({ ...C, wakePolicy: 'onTerminal' }),
      field: 'wakePolicy',
    },
    { name: 'an empty kind', call: create({ ...C, kind: '' }), field: 'kind' },
    { name: 'an empty displayName', call: create({ ...C, displayName: '' }), field: 'displayName' },
    { name: 'an empty caller id', call: create({ ...C, id: '' }), field: 'id', path: ['id'] },
    {
      name: 'an empty rootSessionId',
      call: create({ ...C, rootSessionId: '' }),
      field: 'rootSessionId',
    },
    {
      name: 'an empty links.childSessionId',
      call: create({ ...C, links: { childSessionId: '' } }),
      field: 'links.childSessionId',
    },
    {
      name: 'an empty links.remoteTaskId',
      call: create({ ...C, links: { remoteTaskId: '' } }),
      field: 'links.remoteTaskId',
    },
    {
      name: 'an empty resource id',
      call: create({ ...C, links: { resourceIds: ['ok', ''] } }),
      field: 'links.resourceIds[1]',
      path: ['links', 'resourceIds', 1],
    },
    {
      name: 'a rootSessionId with a control character',
      call: create({ ...C, rootSessionId: 'r\u0000' }),
      field: 'rootSessionId',
    },
    {
      name: 'a links.childSessionId with a control character',
      call: create({ ...C, links: { childSessionId: 'c\nd' } }),
      field: 'links.childSessionId',
    },
    {
      name: 'a rootSessionId longer than 256 characters',
      call: create({ ...C, rootSessionId: 'r'.repeat(257) }),
      field: 'rootSessionId',
    },
    {
      name: 'a links.childSessionId longer than 256 characters',
      call: create({ ...C, links: { childSessionId: 'c'.repeat(257) } }),
      field: 'links.childSessionId',
    },
    {
      name: 'resourceIds that are a string',
      call: create({ ...C, links: { resourceIds: 'r1' } }),
      field: 'links.resourceIds',
    },
  ]
  for (const [what, id] of [
    ['a slash', 'a/b'],
    ['a parent path', '../etc'],
    ['a space', 'a b'],
    ['a dot', 'a.b'],
    ['a colon', 'task:1'],
    ['a non-ASCII letter', 'tâche'],
    ['a NUL character', 'a\u0000b'],
    ['a newline', 'a\n'],
    ['129 characters', 'x'.repeat(129)],
  ] as const) {
    cases.push({ name: `a caller id with ${what}`, call: create({ ...C, id }), field: 'id' })
  }
  for (const [what, sessionId] of BAD_SESSION_IDS) {
    if (sessionId === undefined) continue
    cases.push({
      name: `a sessionId that is ${what}`,
      call: create({ ...C, sessionId }),
      field: 'sessionId',
    })
  }
  for (const key of ['id', 'state', 'links', 'wakePolicy', 'rootSessionId'] as const) {
    cases.push({
      name: `null for optional ${key}`,
      call: create({ ...C, [key]: null }),
      field: key,
    })
  }
  for (const key of ['childSessionId', 'remoteTaskId', 'resourceIds'] as const) {
    cases.push({
      name: `null for optional links.${key}`,
      call: create({ ...C, links: { [key]: null } }),
      field: `links.${key}`,
    })
  }
  for (const [what, make] of NON_JSON) {
    cases.push({
      name: `a spec that is ${what}`,
      call: (r) => r.create({ ...C, spec: make() } as never),
      field: 'spec',
    })
    cases.push({
      name: `a spec holding ${what}`,
      call: (r) => r.create({ ...C, spec: { ok: true, bad: make() } } as never),
      field: 'spec.bad',
    })
  }
  runCases(cases)

  it('accepts boundary values: 128-character caller id, every allowed character, spec null', async () => {
    const f = await fixture()
    const long = 'a'.repeat(128)
    expect((await f.registry.create({ ...C, id: long })).id).toBe(long)
    const mixed = 'Az09_-'
    expect((await f.registry.create({ ...C, id: mixed })).id).toBe(mixed)
    const nullSpec = await f.registry.create({ ...C, spec: null })
    expect(nullSpec.spec).toBeNull()
    expect((await f.registry.create(C)).spec).toBeNull()
  })

  it(`accepts JSON nested exactly ${MAX_JSON_DEPTH} deep and shared (non-cyclic) references`, async () => {
    const f = await fixture()
    const deep = await f.registry.create({ ...C, spec: nest(MAX_JSON_DEPTH) as never })
    expect(deep.spec).toStrictEqual(nest(MAX_JSON_DEPTH))
    const shared = { v: 1 }
    const task = await f.registry.create({ ...C, spec: { a: shared, b: shared, c: [shared] } })
    expect(task.spec).toStrictEqual({ a: { v: 1 }, b: { v: 1 }, c: [{ v: 1 }] })
  })
})

// ---------------------------------------------------------------- update

const update =
  (patch: unknown, sid: unknown = S, tid: unknown = T1): Call =>
  (r) =>
    r.update(sid as never, tid as never, patch as never)
const REQ = { id: 'q9', prompt: 'Pick one' }
const ART = { name: 'report', type: 'file' }

describe('update(sessionId, taskId, update)', () => {
  const cases: Case[] = [
    { name: 'an update that is a string', call: update('running'), field: 'SessionTaskUpdate' },
    { name: 'an update that is null', call: update(null), field: 'SessionTaskUpdate' },
    { name: 'an update that is undefined', call: update(undefined), field: 'SessionTaskUpdate' },
    { name: 'an update that is an array', call: update([]), field: 'SessionTaskUpdate' },
    { name: 'an update that is a number', call: update(5), field: 'SessionTaskUpdate' },
    {
      name: 'a numeric summary',
      call: update({ summary: 5 }),
      field: 'summary',
      path: ['summary'],
    },
    { name: 'a boolean stateDetail', call: update({ stateDetail: false }), field: 'stateDetail' },
    {
      name: "incrementAttempt 'yes'",
      call: update({ incrementAttempt: 'yes' }),
      field: 'incrementAttempt',
    },
    {
      name: 'incrementAttempt 1',
      call: update({ incrementAttempt: 1 }),
      field: 'incrementAttempt',
    },
    { name: 'artifacts that are an object', call: update({ artifacts: ART }), field: 'artifacts' },
    { name: 'an error that is a string', call: update({ error: 'boom' }), field: 'error' },
    {
      name: 'an unknown key (sumary)',
      call: update({ sumary: 'x' }),
      field: 'sumary',
      path: ['sumary'],
    },
    { name: 'a record-only key (attempt)', call: update({ attempt: 3 }), field: 'attempt' },
    {
      name: 'a record-only key (cancelRequestedAt)',
      call: update({ cancelRequestedAt: '2024-01-01T00:00:00.000Z' }),
      field: 'cancelRequestedAt',
    },
    { name: 'a record-only key (spec)', call: update({ spec: {} }), field: 'spec' },
    {
      name: 'a record-only key (displayName)',
      call: update({ displayName: 'x' }),
      field: 'displayName',
    },
    {
      name: 'an unknown key inside progress',
      call: update({ progress: { current: 1, percent: 5 } }),
      field: 'progress.percent',
      path: ['progress', 'percent'],
    },
    {
      name: 'an unknown key inside a progress step',
      call: update({ progress: { steps: [{ title: 't', status: 'done', done: true }] } }),
      field: 'progress.steps[0].done',
      path: ['progress', 'steps', 0, 'done'],
    },
    {
      name: 'an unknown key inside inputRequest',
      call: update({ inputRequest: { ...REQ, question: 'x' } }),
      field: 'inputRequest.question',
    },
    {
      name: 'an unknown key inside error',
      call: update({ error: { kind: 'k', message: 'm', code: 1 } }),
      field: 'error.code',
    },
    {
      name: 'an unknown key inside appendArtifact',
      call: update({ appendArtifact: { ...ART, size: 1 } }),
      field: 'appendArtifact.size',
    },
    {
      name: 'an unknown key inside an artifact',
      call: update({ artifacts: [{ ...ART, mime: 'x' }] }),
      field: 'artifacts[0].mime',
    },
    {
      name: 'an unknown key inside links',
      call: update({ links: { extra: 1 } }),
      field: 'links.extra',
    },
    {
      name: 'an inputRequest without prompt',
      call: update({ inputRequest: { id: 'q' } }),
      field: 'inputRequest.prompt',
      path: ['inputRequest', 'prompt'],
    },
    {
      name: 'an inputRequest without id',
      call: update({ inputRequest: { prompt: 'p' } }),
      field: 'inputRequest.id',
    },
    {
      name: 'an error without kind',
      call: update({ error: { message: 'm' } }),
      field: 'error.kind',
    },
    {
      name: 'an error without message',
      call: update({ error: { kind: 'k' } }),
      field: 'error.message',
    },
    {
      name: 'an appendArtifact without type',
      call: update({ appendArtifact: { name: 'n' } }),
      field: 'appendArtifact.type',
    },
    {
      name: 'a progress step without status',
      call: update({ progress: { steps: [{ title: 't' }] } }),
      field: 'progress.steps[0].status',
    },
    { name: "state 'done'", call: update({ state: 'done' }), field: 'state', path: ['state'] },
    { name: "state 'RUNNING'", call: update({ state: 'RUNNING' }), field: 'state' },
    { name: "state 'awaiting-input'", call: update({ state: 'awaiting-input' }), field: 'state' },
    { name: 'an empty state', call: update({ state: '' }), field: 'state' },
    {
      name: "a step status 'todo'",
      call: update({ progress: { steps: [{ title: 't', status: 'todo' }] } }),
      field: 'progress.steps[0].status',
    },
    { name: 'an empty workerId', call: update({ workerId: '' }), field: 'workerId' },
    {
      name: 'an empty error.kind',
      call: update({ error: { kind: '', message: 'm' } }),
      field: 'error.kind',
    },
    {
      name: 'an empty inputRequest.id',
      call: update({ inputRequest: { ...REQ, id: '' } }),
      field: 'inputRequest.id',
    },
    {
      name: 'an empty inputRequest.prompt',
      call: update({ inputRequest: { ...REQ, prompt: '' } }),
      field: 'inputRequest.prompt',
    },
    {
      name: 'an inputRequest.id with a control character',
      call: update({ inputRequest: { ...REQ, id: 'q\u0001' } }),
      field: 'inputRequest.id',
    },
    {
      name: 'an inputRequest.id longer than 256 characters',
      call: update({ inputRequest: { ...REQ, id: 'q'.repeat(257) } }),
      field: 'inputRequest.id',
    },
    {
      name: 'an empty appendArtifact.name',
      call: update({ appendArtifact: { ...ART, name: '' } }),
      field: 'appendArtifact.name',
    },
    {
      name: 'an empty artifact type',
      call: update({ artifacts: [ART, { ...ART, type: '' }] }),
      field: 'artifacts[1].type',
      path: ['artifacts', 1, 'type'],
    },
    {
      name: 'an empty resource id',
      call: update({ links: { resourceIds: [''] } }),
      field: 'links.resourceIds[0]',
    },
    {
      name: 'a links.childSessionId with a control character',
      call: update({ links: { childSessionId: 'c\u0000' } }),
      field: 'links.childSessionId',
    },
    {
      name: 'an empty step title',
      call: update({ progress: { steps: [{ title: '', status: 'done' }] } }),
      field: 'progress.steps[0].title',
    },
  ]
  const OPTIONAL_UPDATE_KEYS = [
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
    'expectedAttempt',
    'incrementAttempt',
  ] as const
  for (const key of OPTIONAL_UPDATE_KEYS) {
    cases.push({
      name: `null for optional ${key}`,
      call: update({ [key]: null }),
      field: key,
      path: [key],
    })
  }
  for (const [parent, key] of [
    ['progress', 'current'],
    ['progress', 'total'],
    ['progress', 'unit'],
    ['progress', 'label'],
    ['progress', 'steps'],
    ['links', 'childSessionId'],
    ['links', 'remoteTaskId'],
    ['links', 'resourceIds'],
    ['appendArtifact', 'path'],
    ['appendArtifact', 'url'],
  ] as const) {
    const base = parent === 'appendArtifact' ? ART : {}
    cases.push({
      name: `null for optional ${parent}.${key}`,
      call: update({ [parent]: { ...base, [key]: null } }),
      field: `${parent}.${key}`,
      path: [parent, key],
    })
  }
  for (const heartbeatAt of [
    '2024-01-01',
    '2024-01-01T00:00:00',
    '2024-01-01T00:00:00+02:00',
    '2024-01-01 00:00:00Z',
    '2024-13-01T00:00:00Z',
    'yesterday',
    '',
    1704067200000,
    new Date('2024-01-01T00:00:00.000Z'),
  ]) {
    cases.push({
      name: `heartbeatAt ${JSON.stringify(heartbeatAt)} (not an ISO-8601 UTC string)`,
      call: update({ heartbeatAt }),
      field: 'heartbeatAt',
      path: ['heartbeatAt'],
    })
  }
  for (const expectedAttempt of [0, 1.5, -1, '1', Number.NaN, Number.POSITIVE_INFINITY]) {
    cases.push({
      name: `expectedAttempt ${String(expectedAttempt)}`,
      call: update({ expectedAttempt, summary: 'x' }),
      field: 'expectedAttempt',
    })
  }
  for (const current of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
    cases.push({
      name: `progress.current ${String(current)}`,
      call: update({ progress: { current } }),
      field: 'progress.current',
      path: ['progress', 'current'],
    })
  }
  for (const total of [-3, 0.5]) {
    cases.push({
      name: `progress.total ${total}`,
      call: update({ progress: { current: 0, total } }),
      field: 'progress.total',
    })
  }
  for (const [what, make] of NON_JSON) {
    cases.push({
      name: `an inputRequest.expected that is ${what}`,
      call: (r) => r.update(S, T1, { inputRequest: { ...REQ, expected: make() } } as never),
      field: 'inputRequest.expected',
    })
  }
  cases.push(
    {
      name: 'a bad update for an unknown task (validation comes first)',
      call: update({ progress: { current: -1 } }, S, 'no-such-task'),
      field: 'progress.current',
    },
    {
      name: "a bad update for another session's task (validation comes first)",
      call: update({ state: 'done' }, S, T3),
      field: 'state',
    },
    {
      name: 'a bad sessionId for an unknown task (validation comes first)',
      call: update({ summary: 'x' }, '', 'no-such-task'),
      field: 'sessionId',
    },
  )
  runCases(cases)

  it('accepts boundary values: empty text fields, current 0, expectedAttempt 1, fractional-second heartbeat', async () => {
    const f = await fixture()
    const after = await f.registry.update(S, T1, {
      stateDetail: '',
      summary: '',
      resultPath: '',
      error: { kind: 'k', message: '' },
      progress: { current: 0, total: 0 },
      expectedAttempt: 1,
      heartbeatAt: '2024-01-01T00:00:05.5Z',
    })
    expect(after?.summary).toBe('')
    expect(after?.progress).toStrictEqual({ current: 0, total: 0 })
    expect(after?.heartbeatAt).toBe('2024-01-01T00:00:05.500Z')
  })

  it('an update for an unknown task with valid input resolves undefined (the ordering tests above can fail)', async () => {
    const f = await fixture()
    expect(await f.registry.update(S, 'no-such-task', { progress: { current: 1 } })).toBeUndefined()
    expect(await f.registry.update(S, T3, { state: 'running' })).toBeUndefined()
  })
})

// ---------------------------------------------------------------- get / requestCancel

describe('get(sessionId, taskId) and requestCancel(sessionId, taskId)', () => {
  runCases([
    {
      name: 'get with no arguments',
      call: (r) => r.get(undefined as never, undefined as never),
      field: 'sessionId',
    },
    {
      name: 'get with only a session id',
      call: (r) => r.get(S, undefined as never),
      field: 'taskId',
    },
    {
      name: 'requestCancel with a bad sessionId for an unknown task (validation comes first)',
      call: (r) => r.requestCancel('s\u0000', 'no-such-task'),
      field: 'sessionId',
    },
    {
      name: 'requestCancel with an empty task id in a known session',
      call: (r) => r.requestCancel(S, ''),
      field: 'taskId',
    },
  ])
})

// ---------------------------------------------------------------- list

const list =
  (filter: unknown): Call =>
  (r) =>
    r.list(S, filter as never)

describe('list(sessionId, filter)', () => {
  runCases([
    { name: 'a filter that is a string', call: list('running'), field: 'SessionTaskFilter' },
    { name: 'a filter that is a number', call: list(5), field: 'SessionTaskFilter' },
    { name: 'a filter that is null', call: list(null), field: 'SessionTaskFilter' },
    { name: 'a filter that is an array', call: list([]), field: 'SessionTaskFilter' },
    { name: 'a filter that is true', call: list(true), field: 'SessionTaskFilter' },
    {
      name: 'an unknown key (status)',
      call: list({ status: 'running' }),
      field: 'status',
      path: ['status'],
    },
    { name: 'an unknown key (limit)', call: list({ limit: 1 }), field: 'limit' },
    { name: 'an unknown key (sessionId)', call: list({ sessionId: S2 }), field: 'sessionId' },
    { name: "state 'done'", call: list({ state: 'done' }), field: 'state', path: ['state'] },
    {
      name: 'state given as an array (one state only)',
      call: list({ state: ['running'] }),
      field: 'state',
    },
    { name: 'an empty state', call: list({ state: '' }), field: 'state' },
    { name: 'an empty kind', call: list({ kind: '' }), field: 'kind' },
    { name: 'a numeric kind', call: list({ kind: 5 }), field: 'kind' },
    { name: 'null for optional kind', call: list({ kind: null }), field: 'kind' },
    { name: 'null for optional state', call: list({ state: null }), field: 'state' },
  ])
})

// ---------------------------------------------------------------- recordMessage

const TEXT: TaskMessagePart = { type: 'text', text: 'hello' }
const M: NewTaskMessage = { direction: 'outbound', content: [TEXT] }
const record =
  (message: unknown, sid: unknown = S, tid: unknown = T1): Call =>
  (r) =>
    r.recordMessage(sid as never, tid as never, message as never)

describe('recordMessage(sessionId, taskId, message)', () => {
  const cases: Case[] = [
    { name: 'a message that is a string', call: record('hello'), field: 'NewTaskMessage' },
    { name: 'a message that is null', call: record(null), field: 'NewTaskMessage' },
    { name: 'a message that is undefined', call: record(undefined), field: 'NewTaskMessage' },
    { name: 'a message that is an array', call: record([TEXT]), field: 'NewTaskMessage' },
    { name: 'a message that is a number', call: record(42), field: 'NewTaskMessage' },
    {
      name: 'a missing direction',
      call: record({ content: [TEXT] }),
      field: 'direction',
      path: ['direction'],
    },
    {
      name: 'a missing content',
      call: record({ direction: 'inbound' }),
      field: 'content',
      path: ['content'],
    },
    {
      name: 'an unknown key (text)',
      call: record({ ...M, text: 'x' }),
      field: 'text',
      path: ['text'],
    },
    { name: 'an empty caller id', call: record({ ...M, id: '' }), field: 'id' },
    {
      name: 'a record-only key (createdAt)',
      call: record({ ...M, createdAt: '2024-01-01T00:00:00.000Z' }),
      field: 'createdAt',
    },
    { name: 'a record-only key (taskId)', call: record({ ...M, taskId: T1 }), field: 'taskId' },
    {
      name: 'an unknown key inside a part',
      call: record({ ...M, content: [{ ...TEXT, lang: 'en' }] }),
      field: 'content[0].lang',
      path: ['content', 0, 'lang'],
    },
    {
      name: 'a text part carrying data',
      call: record({ ...M, content: [{ type: 'text', text: 'x', data: 1 }] }),
      field: 'content[0].data',
    },
    {
      name: "direction 'in'",
      call: record({ ...M, direction: 'in' }),
      field: 'direction',
      path: ['direction'],
    },
    {
      name: "direction 'INBOUND'",
      call: record({ ...M, direction: 'INBOUND' }),
      field: 'direction',
    },
    {
      name: "direction 'sideways'",
      call: record({ ...M, direction: 'sideways' }),
      field: 'direction',
    },
    { name: 'an empty direction', call: record({ ...M, direction: '' }), field: 'direction' },
    { name: 'a numeric direction', call: record({ ...M, direction: 1 }), field: 'direction' },
    {
      name: 'empty content',
      call: record({ ...M, content: [] }),
      field: 'content',
      path: ['content'],
    },
    {
      name: 'content that is a string',
      call: record({ ...M, content: 'hello' }),
      field: 'content',
    },
    {
      name: 'content that is a single part',
      call: record({ ...M, content: TEXT }),
      field: 'content',
    },
    {
      name: "a part of type 'image'",
      call: record({ ...M, content: [{ type: 'image', url: 'x' }] }),
      field: 'content[0]',
    },
    {
      name: 'a text part without text',
      call: record({ ...M, content: [{ type: 'text' }] }),
      field: 'content[0].text',
    },
    {
      name: 'a text part with numeric text',
      call: record({ ...M, content: [{ type: 'text', text: 5 }] }),
      field: 'content[0].text',
    },
    {
      name: 'a data part without data',
      call: record({ ...M, content: [{ type: 'data' }] }),
      field: 'content[0].data',
    },
    { name: 'a null part', call: record({ ...M, content: [null] }), field: 'content[0]' },
    { name: 'a string part', call: record({ ...M, content: ['hi'] }), field: 'content[0]' },
    {
      name: 'an empty inReplyTo',
      call: record({ ...M, inReplyTo: '' }),
      field: 'inReplyTo',
      path: ['inReplyTo'],
    },
    {
      name: 'an inReplyTo with a control character',
      call: record({ ...M, inReplyTo: 'q\u0000' }),
      field: 'inReplyTo',
    },
    {
      name: 'an inReplyTo longer than 256 characters',
      call: record({ ...M, inReplyTo: 'q'.repeat(257) }),
      field: 'inReplyTo',
    },
    { name: 'a numeric inReplyTo', call: record({ ...M, inReplyTo: 5 }), field: 'inReplyTo' },
    {
      name: 'null for optional inReplyTo',
      call: record({ ...M, inReplyTo: null }),
      field: 'inReplyTo',
    },
    {
      name: 'expectedAttempt 0',
      call: record({ ...M, expectedAttempt: 0 }),
      field: 'expectedAttempt',
    },
    {
      name: 'expectedAttempt 1.5',
      call: record({ ...M, expectedAttempt: 1.5 }),
      field: 'expectedAttempt',
    },
    {
      name: 'expectedAttempt -1',
      call: record({ ...M, expectedAttempt: -1 }),
      field: 'expectedAttempt',
    },
    {
      name: "expectedAttempt '1'",
      call: record({ ...M, expectedAttempt: '1' }),
      field: 'expectedAttempt',
    },
    {
      name: 'null for optional expectedAttempt',
      call: record({ ...M, expectedAttempt: null }),
      field: 'expectedAttempt',
    },
    {
      name: 'a bad message for an unknown task (validation before TaskNotFoundError)',
      call: record({ ...M, content: [] }, S, 'no-such-task'),
      field: 'content',
    },
    {
      name: "a bad message for another session's task (validation before TaskNotFoundError)",
      call: record({ ...M, direction: 'up' }, S, T3),
      field: 'direction',
    },
    {
      name: 'a bad message with a stale expectedAttempt (validation before StaleAttemptError)',
      call: record({ ...M, expectedAttempt: 99, content: [] }),
      field: 'content',
    },
    {
      name: 'an invalid answer to the pending input request (the task is not resumed)',
      call: record({ direction: 'inbound', inReplyTo: 'q1', content: [] }, S, T4),
      field: 'content',
    },
  ]
  for (const [what, make] of NON_JSON) {
    cases.push({
      name: `a data part that is ${what}`,
      call: (r) =>
        r.recordMessage(S, T1, { ...M, content: [{ type: 'data', data: make() }] } as never),
      field: 'content[0].data',
    })
    cases.push({
      name: `a second data part holding ${what}`,
      call: (r) =>
        r.recordMessage(S, T1, {
          ...M,
          content: [TEXT, { type: 'data', data: { nested: [make()] } }],
        } as never),
      field: 'content[1].data',
    })
  }
  runCases(cases)

  it('a valid message for an unknown task throws TaskNotFoundError (the ordering tests above can fail)', async () => {
    const f = await fixture()
    const error = await capture(() => f.registry.recordMessage(S, 'no-such-task', M))
    expect(isTaskNotFoundError(error)).toBe(true)
  })

  it('accepts boundary values: an empty text part, a 256-character inReplyTo, data null', async () => {
    const f = await fixture()
    const m = await f.registry.recordMessage(S, T1, {
      direction: 'inbound',
      inReplyTo: 'q'.repeat(256),
      content: [
        { type: 'text', text: '' },
        { type: 'data', data: null },
      ],
    })
    expect(m.content).toStrictEqual([
      { type: 'text', text: '' },
      { type: 'data', data: null },
    ])
  })
})

// ---------------------------------------------------------------- listMessages

const listMessages =
  (options: unknown, tid: unknown = T1): Call =>
  (r) =>
    r.listMessages(S, tid as never, options as never)

describe('listMessages(sessionId, taskId, options)', () => {
  const cases: Case[] = [
    { name: 'options that are a number', call: listMessages(5), field: 'ListMessagesOptions' },
    { name: 'options that are a string', call: listMessages('all'), field: 'ListMessagesOptions' },
    { name: 'options that are null', call: listMessages(null), field: 'ListMessagesOptions' },
    { name: 'options that are an array', call: listMessages([]), field: 'ListMessagesOptions' },
    {
      name: 'an unknown key (before)',
      call: listMessages({ before: 'x' }),
      field: 'before',
      path: ['before'],
    },
    { name: 'an unknown key (offset)', call: listMessages({ offset: 1 }), field: 'offset' },
    { name: 'an unknown key (cursor)', call: listMessages({ cursor: 'x' }), field: 'cursor' },
    {
      name: 'an empty afterId',
      call: listMessages({ afterId: '' }),
      field: 'afterId',
      path: ['afterId'],
    },
    {
      name: 'an afterId with a control character',
      call: listMessages({ afterId: 'm\u0000' }),
      field: 'afterId',
    },
    { name: 'a numeric afterId', call: listMessages({ afterId: 42 }), field: 'afterId' },
    { name: 'null for optional afterId', call: listMessages({ afterId: null }), field: 'afterId' },
    {
      name: 'limit 0 for an unknown task (validation comes first)',
      call: listMessages({ limit: 0 }, 'no-such-task'),
      field: 'limit',
    },
  ]
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2', null, 2n]) {
    cases.push({
      name: `limit ${String(limit)}`,
      call: listMessages({ limit }),
      field: 'limit',
      path: ['limit'],
    })
  }
  runCases(cases)

  it('accepts limit 1', async () => {
    const f = await fixture()
    const [newest, ...rest] = await f.registry.listMessages(S, T1, { limit: 1 })
    expect(rest).toEqual([])
    expect(newest?.direction).toBe('inbound')
  })
})

// ---------------------------------------------------------------- events / subscribe / subscribeAll

describe('events(sessionId), subscribe(sessionId, listener), subscribeAll(listener)', () => {
  const badListeners: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a string', 'fn'],
    ['an object', {}],
    ['a number', 42],
    ['an EventListener-style object', { handleEvent() {} }],
  ]
  const cases: Case[] = []
  for (const [what, listener] of badListeners) {
    cases.push({
      name: `subscribe with a listener that is ${what}`,
      call: (r) => r.subscribe(S, listener as never),
      field: 'listener',
    })
    cases.push({
      name: `subscribeAll with a listener that is ${what}`,
      call: (r) => r.subscribeAll(listener as never),
      field: 'listener',
    })
  }
  runCases(cases)

  it('reports bad input of events, subscribe and subscribeAll synchronously', () => {
    const r = new InMemorySessionTaskRegistry()
    expect(() => r.events('')).toThrow(ValidationError)
    expect(() => r.subscribe('', () => {})).toThrow(ValidationError)
    expect(() => r.subscribeAll(null as never)).toThrow(ValidationError)
  })

  it('a rejected subscribe or events call attaches nothing and creates no emitter', async () => {
    const f = await fixture()
    const before = f.registry.stats()
    const listener = vi.fn()
    expect(() => f.registry.subscribe('x'.repeat(257), listener)).toThrow(ValidationError)
    expect(() => f.registry.events('a\u0000')).toThrow(ValidationError)
    expect(f.registry.stats()).toStrictEqual(before)
    await f.registry.update(S, T1, { summary: 'changed' })
    expect(listener).not.toHaveBeenCalled()
    expect(f.one).toHaveBeenCalledTimes(1)
  })
})

// ---------------------------------------------------------------- stream

const stream =
  (options: unknown): Call =>
  (r) =>
    r.stream(S, options as never)

describe('stream(sessionId, options)', () => {
  const cases: Case[] = [
    { name: 'options that are a string', call: stream('x'), field: 'StreamOptions' },
    { name: 'options that are a number', call: stream(5), field: 'StreamOptions' },
    { name: 'options that are null', call: stream(null), field: 'StreamOptions' },
    { name: 'options that are an array', call: stream([]), field: 'StreamOptions' },
    { name: 'an unknown key (from)', call: stream({ from: 1 }), field: 'from', path: ['from'] },
    { name: 'an unknown key (after)', call: stream({ after: 1 }), field: 'after' },
    { name: 'an unknown key (limit)', call: stream({ limit: 1 }), field: 'limit' },
    { name: 'a signal that is a plain object', call: stream({ signal: {} }), field: 'signal' },
    {
      name: 'a signal that looks like one',
      call: stream({ signal: { aborted: false } }),
      field: 'signal',
    },
    { name: 'a signal that is a string', call: stream({ signal: 'abort' }), field: 'signal' },
    {
      name: 'a signal that is an AbortController',
      call: stream({ signal: new AbortController() }),
      field: 'signal',
    },
    {
      name: 'a signal that is an EventTarget',
      call: stream({ signal: new EventTarget() }),
      field: 'signal',
    },
    { name: 'null for optional signal', call: stream({ signal: null }), field: 'signal' },
  ]
  for (const since of [-1, 1.5, '3', null, Number.NaN]) {
    cases.push({
      name: `since ${String(since)}`,
      call: stream({ since }),
      field: 'since',
      path: ['since'],
    })
  }
  for (const maxQueue of [0, -1, 1.5, null, Number.POSITIVE_INFINITY]) {
    cases.push({
      name: `maxQueue ${String(maxQueue)}`,
      call: stream({ maxQueue }),
      field: 'maxQueue',
    })
  }
  runCases(cases)

  it('accepts since 0 and maxQueue 1', async () => {
    const f = await fixture()
    const iterator = f.registry.stream(S, { since: 0, maxQueue: 1 })[Symbol.asyncIterator]()
    const first = await iterator.next()
    await iterator.return?.()
    expect(first.done).toBe(false)
  })
})

// ---------------------------------------------------------------- listStale / prune

describe('listStale(options) and prune(options)', () => {
  const cases: Case[] = []
  const methods = [
    ['listStale', 'ListStaleOptions', 'heartbeatBefore', 'finishedBefore'],
    ['prune', 'PruneOptions', 'finishedBefore', 'heartbeatBefore'],
  ] as const
  for (const [method, label, cutoff, otherCutoff] of methods) {
    const call =
      (options: unknown): Call =>
      (r) =>
        r[method](options as never)
    const ok = { [cutoff]: FAR_FUTURE }
    cases.push(
      { name: `${method}: no options`, call: call(undefined), field: label },
      { name: `${method}: null options`, call: call(null), field: label },
      { name: `${method}: options that are a string`, call: call('x'), field: label },
      { name: `${method}: options that are a number`, call: call(5), field: label },
      { name: `${method}: options that are an array`, call: call([]), field: label },
      { name: `${method}: options that are a bare Date`, call: call(FAR_FUTURE), field: cutoff },
      {
        name: `${method}: a missing ${cutoff}`,
        call: call({ limit: 5 }),
        field: cutoff,
        path: [cutoff],
      },
      {
        name: `${method}: ${cutoff} as an ISO string`,
        call: call({ [cutoff]: FAR_FUTURE.toISOString() }),
        field: cutoff,
      },
      {
        name: `${method}: ${cutoff} as a number`,
        call: call({ [cutoff]: FAR_FUTURE.getTime() }),
        field: cutoff,
      },
      { name: `${method}: ${cutoff} null`, call: call({ [cutoff]: null }), field: cutoff },
      {
        name: `${method}: an invalid Date`,
        call: call({ [cutoff]: new Date('nope') }),
        field: cutoff,
      },
      {
        name: `${method}: an unknown key (${otherCutoff})`,
        call: call({ ...ok, [otherCutoff]: FAR_FUTURE }),
        field: otherCutoff,
        path: [otherCutoff],
      },
      {
        name: `${method}: an unknown key (sessionId)`,
        call: call({ ...ok, sessionId: S }),
        field: 'sessionId',
      },
    )
    for (const limit of [0, -1, 1.5, null, '10', Number.POSITIVE_INFINITY, Number.NaN]) {
      cases.push({
        name: `${method}: limit ${String(limit)}`,
        call: call({ ...ok, limit }),
        field: 'limit',
        path: ['limit'],
      })
    }
  }
  runCases(cases)

  it('a valid prune with the same cutoff does delete (the prune cases above can fail)', async () => {
    const f = await fixture()
    const removed = await f.registry.prune({ finishedBefore: FAR_FUTURE, limit: 1 })
    expect(removed.map((t) => t.id)).toEqual([T2])
    expect(await f.registry.get(S, T2)).toBeUndefined()
  })
})

// ---------------------------------------------------------------- deleteSession

describe('deleteSession(sessionId)', () => {
  it('a rejected deleteSession keeps the session and its listeners', async () => {
    const f = await fixture()
    const error = await capture(() => f.registry.deleteSession([S] as never))
    expectValidationError(error, 'sessionId')
    expect(await f.registry.list(S)).toHaveLength(3)
    await f.registry.update(S, T1, { summary: 'still here' })
    expect(f.one).toHaveBeenCalledTimes(1)
  })
})

// ---------------------------------------------------------------- async shape

describe('async methods report bad input as a rejected promise', () => {
  const calls: [string, Call][] = [
    ['create', (r) => r.create(null as never)],
    ['update', (r) => r.update('', T1, {})],
    ['get', (r) => r.get('', T1)],
    ['list', (r) => r.list('')],
    ['requestCancel', (r) => r.requestCancel('', T1)],
    ['recordMessage', (r) => r.recordMessage('', T1, M)],
    ['listMessages', (r) => r.listMessages('', T1)],
    ['listStale', (r) => r.listStale(null as never)],
    ['prune', (r) => r.prune(null as never)],
    ['deleteSession', (r) => r.deleteSession('')],
  ]
  it.each(calls)('%s does not throw synchronously', async (_name, call) => {
    const r = new InMemorySessionTaskRegistry()
    let result: unknown
    expect(() => {
      result = call(r)
    }).not.toThrow()
    expect(result).toBeInstanceOf(Promise)
    await expect(result).rejects.toBeInstanceOf(ValidationError)
  })
})

// ---------------------------------------------------------------- undefined = absent

describe('undefined-valued optional keys count as absent', () => {
  it('create: undefined optional keys are dropped, defaults apply, the input is not mutated', async () => {
    const f = await fixture()
    const input = {
      ...C,
      id: undefined,
      spec: undefined,
      state: undefined,
      links: undefined,
      wakePolicy: undefined,
      rootSessionId: undefined,
    }
    const task = await f.registry.create(input)
    expect(task.id).toMatch(/^task_/)
    expect(task.spec).toBeNull()
    expect(task.state).toBe('queued')
    expect(task.wakePolicy).toBe('silent')
    expect(task.links).toStrictEqual({ resourceIds: [] })
    expect('rootSessionId' in task).toBe(false)
    for (const [key, value] of Object.entries(task)) expect(value, key).not.toBeUndefined()
    expect(Object.keys(input)).toContain('rootSessionId')
  })

  it('update: an update of only undefined-valued keys is a no-op that emits nothing', async () => {
    const f = await fixture()
    const before = await f.registry.get(S, T1)
    const after = await f.registry.update(S, T1, {
      state: undefined,
      summary: undefined,
      progress: undefined,
      expectedAttempt: undefined,
    })
    expect(after).toStrictEqual(before)
    expect(after && 'summary' in after).toBe(false)
    expect(f.all).not.toHaveBeenCalled()
    expect(f.one).not.toHaveBeenCalled()
  })

  it('update: undefined keys inside progress and links are dropped from the record', async () => {
    const f = await fixture()
    const after = await f.registry.update(S, T1, {
      progress: { current: 2, total: undefined, label: undefined },
      links: { childSessionId: undefined, resourceIds: ['r2'] },
    })
    expect(after?.progress).toStrictEqual({ current: 2 })
    expect(after?.links).toStrictEqual({ resourceIds: ['r1', 'r2'] })
  })

  it('JSON values: undefined-valued properties are dropped as JSON.stringify does', async () => {
    const f = await fixture()
    const task = await f.registry.create({
      ...C,
      spec: { a: 1, b: undefined, c: { d: undefined } } as never,
    })
    expect(task.spec).toStrictEqual({ a: 1, c: {} })
  })

  it('list, listMessages, stream and recordMessage: undefined options are absent', async () => {
    const f = await fixture()
    expect(await f.registry.list(S, { kind: undefined, state: undefined })).toHaveLength(3)
    expect(
      await f.registry.listMessages(S, T1, { limit: undefined, afterId: undefined }),
    ).toHaveLength(2)
    const m = await f.registry.recordMessage(S, T1, {
      ...M,
      inReplyTo: undefined,
      expectedAttempt: undefined,
    })
    expect('inReplyTo' in m).toBe(false)
    const iterator = f.registry
      .stream(S, { since: undefined, signal: undefined })
      [Symbol.asyncIterator]()
    const first = await iterator.next()
    await iterator.return?.()
    expect(first.value?.type).toBe('snapshot')
  })
})

// ---------------------------------------------------------------- pinned wording

async function messageOf(call: Call): Promise<ValidationError> {
  const f = await fixture()
  const error = await capture(() => call(f.registry))
  expectValidationError(error, '')
  return error as ValidationError
}

describe('error messages name the input and the field (pinned wording)', () => {
  it('an unknown key on create', async () => {
    const e = await messageOf(create({ ...C, title: 'x' }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid CreateSessionTask: title: is not a known field"`,
    )
    expect(e.issues).toMatchInlineSnapshot(`
      [
        {
          "message": "is not a known field",
          "path": [
            "title",
          ],
        },
      ]
    `)
  })

  it('a negative progress.current on update', async () => {
    const e = await messageOf(update({ progress: { current: -1 } }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid SessionTaskUpdate: progress.current: must not be negative"`,
    )
  })

  it('a caller id that is not a path segment', async () => {
    const e = await messageOf(create({ ...C, id: 'a/b' }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid CreateSessionTask: id: must be 1-128 characters of A-Z, a-z, 0-9, _ or -"`,
    )
  })

  it('an empty session id', async () => {
    const e = await messageOf((r) => r.get('', T1))
    expect(e.message).toMatchInlineSnapshot(`"invalid sessionId: must not be empty"`)
  })

  it('empty message content', async () => {
    const e = await messageOf(record({ ...M, content: [] }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid NewTaskMessage: content: must have at least one part"`,
    )
  })

  it('a non-JSON value deep inside spec', async () => {
    const e = await messageOf(create({ ...C, spec: { a: [1, () => 1] } }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid CreateSessionTask: spec.a[1]: must be a JSON value, got function"`,
    )
    expect(e.issues).toMatchInlineSnapshot(`
      [
        {
          "message": "must be a JSON value, got function",
          "path": [
            "spec",
            "a",
            1,
          ],
        },
      ]
    `)
  })

  it('a heartbeatAt with an offset', async () => {
    const e = await messageOf(update({ heartbeatAt: '2024-01-01T00:00:00+02:00' }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid SessionTaskUpdate: heartbeatAt: must be an ISO-8601 UTC timestamp"`,
    )
  })

  it('limit 0 on listMessages', async () => {
    const e = await messageOf(listMessages({ limit: 0 }))
    expect(e.message).toMatchInlineSnapshot(
      `"invalid ListMessagesOptions: limit: must be a positive integer"`,
    )
  })

  it('a clock that is not a function', () => {
    let error: unknown
    try {
      new InMemorySessionTaskRegistry({ now: 'soon' } as never)
    } catch (e) {
      error = e
    }
    expect((error as Error).message).toMatchInlineSnapshot(
      `"invalid registry options: now: must be a function"`,
    )
  })
})
