import { types } from 'node:util'
import fc from 'fast-check'
import { afterEach, describe, expect, it, type Mock, vi } from 'vitest'
import {
  InMemorySessionTaskRegistry,
  isSessionTaskError,
  isValidationError,
  SESSION_TASK_STATES,
  type SessionTask,
  SessionTaskSchema,
  type StreamItem,
  type TaskMessage,
  TaskMessageSchema,
} from '../src/index.js'

// Hostile input (SPEC 4 "Validation", 4.1 "JSON values", 11): whatever is fed
// to a public method, it either resolves with a well-formed value or rejects
// with one of the library's errors; a rejection writes and emits nothing, and
// no input can reach Object.prototype.

type Registry = InMemorySessionTaskRegistry

const S = 'session-a'
const S2 = 'session-b'
const T1 = 'task-1' // running, with messages
const T2 = 'task-2' // succeeded
const T3 = 'task-3' // in session S2
const T4 = 'task-4' // awaiting input 'q1'
const FAR_FUTURE = new Date('2100-01-01T00:00:00.000Z')
const RUNS = 200

function steppingClock(): () => Date {
  let t = Date.parse('2024-01-01T00:00:00.000Z')
  return () => {
    t += 1000
    return new Date(t)
  }
}

type Fixture = { registry: Registry; all: Mock; one: Mock; two: Mock }

async function fixture(): Promise<Fixture> {
  const registry = new InMemorySessionTaskRegistry({
    now: steppingClock(),
    onListenerError: () => {},
  })
  await registry.create({
    sessionId: S,
    id: T1,
    kind: 'build',
    displayName: 'Build',
    spec: { push_configs: [{ url: 'https://example.test', secret: 's3' }] },
    wakePolicy: 'on_activity',
  })
  await registry.update(S, T1, { state: 'running', heartbeatAt: '2024-01-01T00:00:00.000Z' })
  await registry.create({
    sessionId: S,
    id: T2,
    kind: 'build',
    displayName: 'Done',
    state: 'succeeded',
  })
  await registry.create({ sessionId: S2, id: T3, kind: 'other', displayName: 'Other' })
  await registry.create({ sessionId: S, id: T4, kind: 'ask', displayName: 'Ask' })
  await registry.update(S, T4, { inputRequest: { id: 'q1', prompt: 'Which one?' } })
  await registry.recordMessage(S, T1, {
    direction: 'outbound',
    content: [{ type: 'text', text: 'hi' }],
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
  for (const sid of [S, S2, 'fresh']) out[`list:${sid}`] = await registry.list(sid)
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

// ---------------------------------------------------------------- pollution

const OBJECT_PROTO = Object.getOwnPropertyNames(Object.prototype).sort()
const ARRAY_PROTO = Object.getOwnPropertyNames(Array.prototype).sort()
const FUNCTION_PROTO = Object.getOwnPropertyNames(Function.prototype).sort()

function expectNoPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(Object.keys(Object.prototype)).toHaveLength(0)
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(OBJECT_PROTO)
  expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(ARRAY_PROTO)
  expect(Object.getOwnPropertyNames(Function.prototype).sort()).toEqual(FUNCTION_PROTO)
}

afterEach(() => {
  expectNoPollution()
})

// ---------------------------------------------------------------- outcome checks

function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } catch {
    return '<unprintable>'
  }
}

function expectTask(value: unknown): asserts value is SessionTask {
  const result = SessionTaskSchema.safeParse(value)
  expect(result.success, JSON.stringify(result.error?.issues)).toBe(true)
}

function expectTaskOrUndefined(value: unknown): void {
  if (value !== undefined) expectTask(value)
}

function expectTasks(value: unknown): void {
  expect(Array.isArray(value)).toBe(true)
  for (const task of value as unknown[]) expectTask(task)
}

function expectMessage(value: unknown): asserts value is TaskMessage {
  const result = TaskMessageSchema.safeParse(value)
  expect(result.success, JSON.stringify(result.error?.issues)).toBe(true)
}

function expectMessages(value: unknown): void {
  expect(Array.isArray(value)).toBe(true)
  for (const message of value as unknown[]) expectMessage(message)
}

/**
 * Runs one call against a fresh fixture. A rejection must be one of ours and
 * leave the registry untouched and silent; a result goes to `verify`.
 */
async function exercise<T>(
  run: (f: Fixture) => T | Promise<T>,
  verify: (value: T, f: Fixture) => void | Promise<void>,
): Promise<void> {
  const f = await fixture()
  const before = await snapshot(f.registry)
  let value: T
  try {
    value = await run(f)
  } catch (error) {
    expect(isSessionTaskError(error), `escaped: ${describeError(error)}`).toBe(true)
    expect(await snapshot(f.registry)).toStrictEqual(before)
    expect(f.all).not.toHaveBeenCalled()
    expect(f.one).not.toHaveBeenCalled()
    expect(f.two).not.toHaveBeenCalled()
    expectNoPollution()
    return
  }
  await verify(value, f)
  expectNoPollution()
}

/** A call that must be rejected as invalid, with nothing written and nothing emitted. */
async function expectRejectedCleanly(run: (f: Fixture) => unknown, field?: string): Promise<void> {
  const f = await fixture()
  const before = await snapshot(f.registry)
  let error: unknown
  let resolved = false
  try {
    await run(f)
    resolved = true
  } catch (e) {
    error = e
  }
  expect(resolved, 'the call should have been rejected').toBe(false)
  expect(isValidationError(error), `expected a ValidationError, got ${describeError(error)}`).toBe(
    true,
  )
  if (field !== undefined) expect((error as Error).message).toContain(field)
  expect(await snapshot(f.registry)).toStrictEqual(before)
  expect(f.all).not.toHaveBeenCalled()
  expect(f.one).not.toHaveBeenCalled()
  expect(f.two).not.toHaveBeenCalled()
  expectNoPollution()
}

/** Accepted (and then `verify`) or rejected as a library error; never anything else. */
async function expectAcceptedOrRejectedCleanly<T>(
  run: (f: Fixture) => T | Promise<T>,
  verify: (value: T, f: Fixture) => void | Promise<void> = () => {},
): Promise<void> {
  await exercise(run, verify)
}

// ---------------------------------------------------------------- arbitraries

const HOSTILE_CONSTRAINTS = {
  withNullPrototype: true,
  withBigInt: true,
  withMap: true,
  withSet: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
  withObjectString: true,
  maxDepth: 4,
} as const

const hostile = fc.oneof(fc.anything(HOSTILE_CONSTRAINTS), fc.object(HOSTILE_CONSTRAINTS))

/** Mostly a valid value, sometimes anything at all. */
function maybe<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: hostile })
}

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'binary' }),
)
const nonEmpty = fc.string({ minLength: 1, maxLength: 12 })
const sessionIdArb = fc.oneof(fc.constantFrom(S, S2, 'fresh'), anyString, hostile)
const taskIdArb = fc.oneof(fc.constantFrom(T1, T2, T3, T4, 'no-such-task'), anyString, hostile)
const jsonish = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: hostile },
)
const stateArb = fc.constantFrom(...SESSION_TASK_STATES)
const artifactArb = fc.record(
  {
    name: nonEmpty,
    type: fc.constantFrom('file', 'url', 'pr'),
    path: fc.string(),
    url: fc.string(),
  },
  { requiredKeys: ['name', 'type'] },
)
const linksArb = fc.record(
  {
    childSessionId: nonEmpty,
    remoteTaskId: nonEmpty,
    resourceIds: fc.array(nonEmpty, { maxLength: 3 }),
  },
  { requiredKeys: [] },
)
/** Mostly a well-formed object, sometimes anything at all. */
function mostly(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: hostile })
}

/** Occasionally adds a key the schema does not know. */
function withStrayKey(arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: arb },
    {
      weight: 1,
      arbitrary: fc
        .tuple(arb, fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra'), hostile)
        .map(([value, key, extra]) =>
          Object.defineProperty({ ...value }, key, {
            value: extra,
            enumerable: true,
            configurable: true,
            writable: true,
          }),
        ),
    },
  )
}

const createArb = mostly(
  withStrayKey(
    fc.record(
      {
        sessionId: maybe(fc.constantFrom(S, S2, 'fresh')),
        id: maybe(fc.oneof(fc.constantFrom(T1, T3), fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/))),
        kind: maybe(fc.constantFrom('build', 'other')),
        displayName: maybe(nonEmpty),
        spec: jsonish,
        state: maybe(stateArb),
        links: maybe(linksArb),
        wakePolicy: maybe(fc.constantFrom('silent', 'on_terminal', 'on_activity')),
        rootSessionId: maybe(nonEmpty),
      },
      { requiredKeys: ['sessionId', 'kind', 'displayName'] },
    ),
  ),
)

const updateArb = mostly(
  withStrayKey(
    fc.record(
      {
        state: maybe(stateArb),
        stateDetail: maybe(fc.string()),
        progress: maybe(
          fc.record(
            {
              current: fc.nat(),
              total: fc.nat(),
              unit: fc.string(),
              label: fc.string(),
              steps: fc.array(
                fc.record({
                  title: nonEmpty,
                  status: fc.constantFrom('pending', 'in_progress', 'done', 'skipped'),
                }),
                { maxLength: 3 },
              ),
            },
            { requiredKeys: [] },
          ),
        ),
        inputRequest: maybe(
          fc.record(
            { id: nonEmpty, prompt: nonEmpty, expected: jsonish },
            { requiredKeys: ['id', 'prompt'] },
          ),
        ),
        summary: maybe(fc.string()),
        resultPath: maybe(fc.string()),
        artifacts: maybe(fc.array(artifactArb, { maxLength: 3 })),
        appendArtifact: maybe(artifactArb),
        error: maybe(fc.record({ kind: nonEmpty, message: fc.string() })),
        links: maybe(linksArb),
        workerId: maybe(nonEmpty),
        heartbeatAt: maybe(
          fc
            .date({
              min: new Date('2000-01-01T00:00:00Z'),
              max: new Date('2090-01-01T00:00:00Z'),
              noInvalidDate: true,
            })
            .map((d) => d.toISOString()),
        ),
        expectedAttempt: maybe(fc.integer({ min: 1, max: 3 })),
        incrementAttempt: maybe(fc.boolean()),
      },
      { requiredKeys: [] },
    ),
  ),
)

const partArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('text'), text: fc.string() }) },
  { weight: 6, arbitrary: fc.record({ type: fc.constant('data'), data: jsonish }) },
  { weight: 1, arbitrary: hostile },
)
const messageArb = mostly(
  withStrayKey(
    fc.record(
      {
        direction: maybe(fc.constantFrom('inbound', 'outbound')),
        content: maybe(fc.array(partArb, { minLength: 1, maxLength: 3 })),
        inReplyTo: maybe(fc.constantFrom('q1', 'other')),
        expectedAttempt: maybe(fc.integer({ min: 1, max: 2 })),
      },
      { requiredKeys: ['direction', 'content'] },
    ),
  ),
)

const filterArb = fc.oneof(
  hostile,
  fc.constant(undefined),
  withStrayKey(
    fc.record(
      { kind: maybe(fc.constantFrom('build', 'ask')), state: maybe(stateArb) },
      { requiredKeys: [] },
    ),
  ),
)
const listMessagesOptionsArb = fc.oneof(
  hostile,
  fc.constant(undefined),
  withStrayKey(
    fc.record(
      { limit: maybe(fc.integer({ min: 1, max: 5 })), afterId: maybe(anyString) },
      { requiredKeys: [] },
    ),
  ),
)
const dateArb = fc.date()
const cutoffOptionsArb = (key: 'heartbeatBefore' | 'finishedBefore') =>
  fc.oneof(
    hostile,
    withStrayKey(
      fc.record(
        { [key]: maybe(dateArb), limit: maybe(fc.integer({ min: 1, max: 5 })) },
        { requiredKeys: [] },
      ),
    ),
  )
const signalArb = fc.boolean().map((aborted) => {
  const controller = new AbortController()
  if (aborted) controller.abort()
  return controller.signal
})
const streamOptionsArb = fc.oneof(
  hostile,
  fc.constant(undefined),
  withStrayKey(
    fc.record(
      {
        since: maybe(fc.nat(20)),
        maxQueue: maybe(fc.integer({ min: 1, max: 50 })),
        signal: maybe(signalArb),
      },
      { requiredKeys: [] },
    ),
  ),
)
const listenerArb = fc.oneof(
  fc.constant(() => {}),
  hostile,
)
const registryOptionsArb = fc.oneof(
  hostile,
  fc.constant(undefined),
  withStrayKey(
    fc.record(
      {
        now: maybe(fc.constant(() => new Date(0))),
        onListenerError: maybe(fc.constant(() => {})),
        replayBuffer: maybe(fc.nat(10)),
      },
      { requiredKeys: [] },
    ),
  ),
)

const params = { numRuns: RUNS }

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

// ---------------------------------------------------------------- properties

describe('fast-check: any input to any method resolves well-formed or rejects with a library error', () => {
  it('constructor', async () => {
    await fc.assert(
      fc.asyncProperty(registryOptionsArb, async (options) => {
        let registry: Registry
        try {
          registry = new InMemorySessionTaskRegistry(options as never)
        } catch (error) {
          expect(isSessionTaskError(error), `escaped: ${describeError(error)}`).toBe(true)
          expectNoPollution()
          return
        }
        expect(registry.now()).toBeInstanceOf(Date)
        const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'd' })
        expectTask(task)
        expect(await registry.get(S, task.id)).toStrictEqual(task)
        expectNoPollution()
      }),
      params,
    )
  })

  it('create', async () => {
    await fc.assert(
      fc.asyncProperty(createArb, async (input) => {
        await exercise(
          (f) => f.registry.create(input as never),
          async (task, f) => {
            expectTask(task)
            expect(await f.registry.get(task.sessionId, task.id)).toStrictEqual(task)
          },
        )
      }),
      params,
    )
  })

  it('update', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, taskIdArb, updateArb, async (sid, tid, patch) => {
        await exercise(
          (f) => f.registry.update(sid as never, tid as never, patch as never),
          async (task, f) => {
            expectTaskOrUndefined(task)
            if (task !== undefined)
              expect(await f.registry.get(task.sessionId, task.id)).toStrictEqual(task)
          },
        )
      }),
      params,
    )
  })

  it('update on a known task (valid ids, hostile update)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(T1, T2, T4), updateArb, async (tid, patch) => {
        await exercise(
          (f) => f.registry.update(S, tid, patch as never),
          async (task, f) => {
            expectTask(task)
            expect(await f.registry.get(S, tid)).toStrictEqual(task)
          },
        )
      }),
      params,
    )
  })

  it('get and requestCancel', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, taskIdArb, fc.boolean(), async (sid, tid, cancel) => {
        await exercise(
          (f) =>
            cancel
              ? f.registry.requestCancel(sid as never, tid as never)
              : f.registry.get(sid as never, tid as never),
          (task) => expectTaskOrUndefined(task),
        )
      }),
      params,
    )
  })

  it('list', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, filterArb, async (sid, filter) => {
        await exercise(
          (f) => f.registry.list(sid as never, filter as never),
          (tasks) => expectTasks(tasks),
        )
      }),
      params,
    )
  })

  it('recordMessage', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 3, arbitrary: fc.constant(S) }, { weight: 1, arbitrary: sessionIdArb }),
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(T1, T4) },
          { weight: 1, arbitrary: taskIdArb },
        ),
        messageArb,
        async (sid, tid, message) => {
          await exercise(
            (f) => f.registry.recordMessage(sid as never, tid as never, message as never),
            async (stored, f) => {
              expectMessage(stored)
              expect(await f.registry.listMessages(sid as never, tid as never)).toContainEqual(
                stored,
              )
            },
          )
        },
      ),
      params,
    )
  })

  it('listMessages', async () => {
    await fc.assert(
      fc.asyncProperty(
        sessionIdArb,
        taskIdArb,
        listMessagesOptionsArb,
        async (sid, tid, options) => {
          await exercise(
            (f) => f.registry.listMessages(sid as never, tid as never, options as never),
            (messages) => expectMessages(messages),
          )
        },
      ),
      params,
    )
  })

  it('events, subscribe and subscribeAll', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, listenerArb, async (sid, listener) => {
        await exercise(
          (f) => f.registry.events(sid as never),
          (emitter) => {
            expect(typeof emitter.on).toBe('function')
            expect(typeof emitter.off).toBe('function')
            expect(typeof emitter.emit).toBe('function')
          },
        )
        await exercise(
          (f) => f.registry.subscribe(sid as never, listener as never),
          (unsubscribe) => {
            expect(typeof unsubscribe).toBe('function')
            unsubscribe()
          },
        )
        await exercise(
          (f) => f.registry.subscribeAll(listener as never),
          (unsubscribe) => {
            expect(typeof unsubscribe).toBe('function')
            unsubscribe()
          },
        )
      }),
      params,
    )
  })

  it('stream', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, streamOptionsArb, async (sid, options) => {
        await exercise(
          async (f) => {
            const iterator = f.registry
              .stream(sid as never, options as never)
              [Symbol.asyncIterator]()
            const pending = iterator.next()
            // A `since` equal to the latest seq legitimately waits for a live
            // event; return() must then end the pending next() at once.
            const first = await Promise.race([pending, tick().then(() => undefined)])
            await iterator.return?.()
            return first ?? (await pending)
          },
          (result: IteratorResult<StreamItem>) => {
            if (result.done === true) return
            const item = result.value
            expect(Number.isInteger(item.seq)).toBe(true)
            if (item.type === 'snapshot') expectTasks(item.payload.tasks)
          },
        )
      }),
      params,
    )
  })

  it('listStale and prune', async () => {
    await fc.assert(
      fc.asyncProperty(
        cutoffOptionsArb('heartbeatBefore'),
        cutoffOptionsArb('finishedBefore'),
        async (staleOptions, pruneOptions) => {
          await exercise(
            (f) => f.registry.listStale(staleOptions as never),
            (tasks) => expectTasks(tasks),
          )
          await exercise(
            (f) => f.registry.prune(pruneOptions as never),
            async (tasks, f) => {
              expectTasks(tasks)
              for (const task of tasks)
                expect(await f.registry.get(task.sessionId, task.id)).toBeUndefined()
            },
          )
        },
      ),
      params,
    )
  })

  it('deleteSession', async () => {
    await fc.assert(
      fc.asyncProperty(sessionIdArb, async (sid) => {
        await exercise(
          (f) => f.registry.deleteSession(sid as never),
          async (count, f) => {
            expect(Number.isInteger(count) && count >= 0).toBe(true)
            expect(await f.registry.list(sid as never)).toEqual([])
          },
        )
      }),
      params,
    )
  })
})

// ---------------------------------------------------------------- __proto__ & co.

const PROTO_JSON =
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":true}}'

function expectOwnProtoKeys(value: unknown): void {
  expect(typeof value).toBe('object')
  const obj = value as Record<string, unknown>
  expect(Object.getPrototypeOf(obj)).toBe(Object.prototype)
  expect(Object.hasOwn(obj, '__proto__')).toBe(true)
  expect(Object.hasOwn(obj, 'constructor')).toBe(true)
  expect(Object.hasOwn(obj, 'prototype')).toBe(true)
  expect(obj.polluted).toBeUndefined()
  expect(Object.getOwnPropertyDescriptor(obj, '__proto__')?.value).toStrictEqual(
    JSON.parse('{"polluted":true}'),
  )
}

describe('__proto__, constructor and prototype keys', () => {
  it('in spec: kept as own data in the record, reads, listings and event payloads', async () => {
    const f = await fixture()
    const task = await f.registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'd',
      spec: JSON.parse(PROTO_JSON),
    })
    expectOwnProtoKeys(task.spec)
    expectOwnProtoKeys((await f.registry.get(S, task.id))?.spec)
    expectOwnProtoKeys((await f.registry.list(S)).find((t) => t.id === task.id)?.spec)
    const payload = f.one.mock.calls.at(-1)?.[1] as { task: SessionTask }
    expectOwnProtoKeys(payload.task.spec)
    expectTask(task)
  })

  it('in a data part and in inputRequest.expected: kept as own data', async () => {
    const f = await fixture()
    const message = await f.registry.recordMessage(S, T1, {
      direction: 'outbound',
      content: [{ type: 'data', data: JSON.parse(PROTO_JSON) }],
    })
    const part = message.content[0]
    expect(part?.type).toBe('data')
    expectOwnProtoKeys(part?.type === 'data' ? part.data : undefined)
    const [listed] = await f.registry.listMessages(S, T1, {
      afterId: (await f.registry.listMessages(S, T1))[0]!.id,
    })
    expectOwnProtoKeys(listed?.content[0]?.type === 'data' ? listed.content[0].data : undefined)
    const updated = await f.registry.update(S, T1, {
      inputRequest: { id: 'q2', prompt: 'p', expected: JSON.parse(PROTO_JSON) },
    })
    expectOwnProtoKeys(updated?.inputRequest?.expected)
  })

  it('nested deep inside spec: kept as own data at every level', async () => {
    const f = await fixture()
    const spec = JSON.parse(`{"a":[${PROTO_JSON}],"b":{"c":${PROTO_JSON}}}`)
    const task = await f.registry.create({ sessionId: S, kind: 'k', displayName: 'd', spec })
    const stored = task.spec as { a: unknown[]; b: { c: unknown } }
    expectOwnProtoKeys(stored.a[0])
    expectOwnProtoKeys(stored.b.c)
  })

  const strictPlaces: [string, (f: Fixture) => unknown, string][] = [
    [
      'create input',
      (f) =>
        f.registry.create(
          JSON.parse(
            `{"sessionId":"${S}","kind":"k","displayName":"d","__proto__":{"state":"failed"}}`,
          ),
        ),
      '__proto__',
    ],
    [
      'update input',
      (f) => f.registry.update(S, T1, JSON.parse('{"__proto__":{"state":"failed"}}')),
      '__proto__',
    ],
    [
      'links',
      (f) =>
        f.registry.update(S, T1, {
          links: JSON.parse('{"__proto__":{"resourceIds":["x"]},"resourceIds":[]}'),
        }),
      'links.__proto__',
    ],
    [
      'links (constructor)',
      (f) => f.registry.update(S, T1, { links: JSON.parse('{"constructor":{"prototype":{}}}') }),
      'links.constructor',
    ],
    [
      'progress',
      (f) =>
        f.registry.update(S, T1, { progress: JSON.parse('{"current":1,"__proto__":{"total":5}}') }),
      'progress.__proto__',
    ],
    [
      'progress (constructor)',
      (f) =>
        f.registry.update(S, T1, {
          progress: JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
        }),
      'progress.constructor',
    ],
    [
      'progress (prototype)',
      (f) => f.registry.update(S, T1, { progress: JSON.parse('{"prototype":{"polluted":true}}') }),
      'progress.prototype',
    ],
    [
      'a progress step',
      (f) =>
        f.registry.update(S, T1, {
          progress: { steps: [JSON.parse('{"title":"t","status":"done","__proto__":{}}')] },
        }),
      'progress.steps[0].__proto__',
    ],
    [
      'a message part',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [JSON.parse('{"type":"text","text":"x","__proto__":{}}')],
        }),
      'content[0].__proto__',
    ],
    [
      'a message',
      (f) =>
        f.registry.recordMessage(
          S,
          T1,
          JSON.parse(
            '{"direction":"inbound","content":[{"type":"text","text":"x"}],"__proto__":{"inReplyTo":"q1"}}',
          ),
        ),
      '__proto__',
    ],
    [
      'a list filter',
      (f) => f.registry.list(S, JSON.parse('{"__proto__":{"state":"running"}}')),
      '__proto__',
    ],
    [
      'listMessages options',
      (f) => f.registry.listMessages(S, T1, JSON.parse('{"__proto__":{"limit":1}}')),
      '__proto__',
    ],
  ]
  it.each(strictPlaces)(
    'in %s (a strict object): rejected as an unknown key',
    async (_where, run, field) => {
      await expectRejectedCleanly(run, field)
    },
  )
})

// ---------------------------------------------------------------- huge strings

describe('huge strings (1 MB)', () => {
  const MB = 'x'.repeat(1024 * 1024)

  it('are accepted in displayName, spec, summary and a text part, and round-trip exactly', async () => {
    const f = await fixture()
    const task = await f.registry.create({
      sessionId: S,
      kind: 'k',
      displayName: MB,
      spec: { [MB.slice(0, 1000)]: MB },
    })
    expect(task.displayName).toHaveLength(MB.length)
    expect((task.spec as Record<string, string>)[MB.slice(0, 1000)]).toBe(MB)
    const updated = await f.registry.update(S, task.id, { summary: MB })
    expect(updated?.summary).toBe(MB)
    const message = await f.registry.recordMessage(S, task.id, {
      direction: 'outbound',
      content: [{ type: 'text', text: MB }],
    })
    expect(message.content[0]).toStrictEqual({ type: 'text', text: MB })
  })

  const tooLong: [string, (f: Fixture) => unknown, string][] = [
    [
      'a session id',
      (f) => f.registry.create({ sessionId: MB, kind: 'k', displayName: 'd' }),
      'sessionId',
    ],
    [
      'a caller task id',
      (f) => f.registry.create({ sessionId: S, id: MB, kind: 'k', displayName: 'd' }),
      'id',
    ],
    ['a lookup session id', (f) => f.registry.get(MB, T1), 'sessionId'],
    [
      'an inReplyTo',
      (f) =>
        f.registry.recordMessage(S, T4, {
          direction: 'inbound',
          inReplyTo: MB,
          content: [{ type: 'text', text: 'a' }],
        }),
      'inReplyTo',
    ],
    [
      'an input request id',
      (f) => f.registry.update(S, T1, { inputRequest: { id: MB, prompt: 'p' } }),
      'inputRequest.id',
    ],
  ]
  it.each(tooLong)('are rejected as %s', async (_what, run, field) => {
    await expectRejectedCleanly(run, field)
  })
})

// ---------------------------------------------------------------- deep nesting

function nestObjects(depth: number): unknown {
  let v: unknown = 'leaf'
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}
function nestArrays(depth: number): unknown {
  let v: unknown = 'leaf'
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

describe('deep nesting', () => {
  const cases: [string, (f: Fixture) => unknown, string][] = [
    [
      'objects 100 deep in spec',
      (f) =>
        f.registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'd',
          spec: nestObjects(100) as never,
        }),
      'spec',
    ],
    [
      'arrays 100 deep in a data part',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: nestArrays(100) as never }],
        }),
      'content[0].data',
    ],
    [
      'objects 100 deep in inputRequest.expected',
      (f) =>
        f.registry.update(S, T1, {
          inputRequest: { id: 'q', prompt: 'p', expected: nestObjects(100) as never },
        }),
      'inputRequest.expected',
    ],
    [
      'objects 100,000 deep in spec (no stack overflow)',
      (f) =>
        f.registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'd',
          spec: nestObjects(100_000) as never,
        }),
      'spec',
    ],
    [
      'arrays 100,000 deep in a data part (no stack overflow)',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: nestArrays(100_000) as never }],
        }),
      'content[0].data',
    ],
  ]
  it.each(cases)('rejects %s with ValidationError', async (_what, run, field) => {
    await expectRejectedCleanly(run, field)
  })
})

// ---------------------------------------------------------------- sparse arrays

function holey(...items: unknown[]): unknown[] {
  const a: unknown[] = []
  a.length = items.length + 1
  items.forEach((item, i) => {
    a[i + 1] = item
  })
  return a
}

describe('sparse arrays', () => {
  const cases: [string, (f: Fixture) => unknown, string][] = [
    [
      'spec',
      (f) =>
        f.registry.create({ sessionId: S, kind: 'k', displayName: 'd', spec: holey(1) as never }),
      'spec[0]',
    ],
    [
      'spec (new Array(3))',
      (f) =>
        f.registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'd',
          spec: new Array(3) as never,
        }),
      'spec[0]',
    ],
    [
      'message content',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: holey({ type: 'text', text: 'x' }) as never,
        }),
      'content',
    ],
    [
      'a data part',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: { list: holey(1) } as never }],
        }),
      'content[0].data',
    ],
    [
      'links.resourceIds',
      (f) => f.registry.update(S, T1, { links: { resourceIds: holey('r') as never } }),
      'links.resourceIds',
    ],
    [
      'artifacts',
      (f) => f.registry.update(S, T1, { artifacts: holey({ name: 'n', type: 'file' }) as never }),
      'artifacts',
    ],
    [
      'progress.steps',
      (f) =>
        f.registry.update(S, T1, {
          progress: { steps: holey({ title: 't', status: 'done' }) as never },
        }),
      'progress.steps',
    ],
  ]
  it.each(cases)('with a hole in %s are rejected', async (_where, run, field) => {
    await expectRejectedCleanly(run, field)
  })
})

// ---------------------------------------------------------------- throwing getters

function throwingGetter<T extends object>(target: T, key: string): T {
  return Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      throw new Error(`getter ${key} exploded`)
    },
  })
}

describe('getters that throw', () => {
  const onInput: [string, (f: Fixture) => unknown][] = [
    [
      'the create input',
      (f) => f.registry.create(throwingGetter({ sessionId: S, displayName: 'd' }, 'kind') as never),
    ],
    ['the update input', (f) => f.registry.update(S, T1, throwingGetter({}, 'summary'))],
    [
      'the message',
      (f) =>
        f.registry.recordMessage(
          S,
          T1,
          throwingGetter({ direction: 'inbound' }, 'content') as never,
        ),
    ],
    ['the list filter', (f) => f.registry.list(S, throwingGetter({}, 'state'))],
    [
      'the listMessages options',
      (f) => f.registry.listMessages(S, T1, throwingGetter({}, 'limit')),
    ],
    [
      'the listStale options',
      (f) => f.registry.listStale(throwingGetter({}, 'heartbeatBefore') as never),
    ],
    ['the prune options', (f) => f.registry.prune(throwingGetter({}, 'finishedBefore') as never)],
    ['the stream options', (f) => f.registry.stream(S, throwingGetter({}, 'since'))],
    [
      'links inside an update',
      (f) => f.registry.update(S, T1, { links: throwingGetter({}, 'resourceIds') }),
    ],
    [
      'progress inside an update',
      (f) => f.registry.update(S, T1, { progress: throwingGetter({}, 'current') }),
    ],
    [
      'a message part',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [throwingGetter({ type: 'text' }, 'text') as never],
        }),
    ],
  ]
  it.each(onInput)('on %s are a ValidationError', async (_where, run) => {
    await expectRejectedCleanly(run)
  })

  const insideJson: [string, (f: Fixture) => unknown, string][] = [
    [
      'spec',
      (f) =>
        f.registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'd',
          spec: throwingGetter({ ok: 1 }, 'boom') as never,
        }),
      'spec',
    ],
    [
      'a data part',
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: [throwingGetter({}, 'x')] as never }],
        }),
      'content[0].data',
    ],
    [
      'inputRequest.expected',
      (f) =>
        f.registry.update(S, T1, {
          inputRequest: { id: 'q', prompt: 'p', expected: throwingGetter({}, 'x') as never },
        }),
      'inputRequest.expected',
    ],
  ]
  it.each(insideJson)('inside %s are a ValidationError naming it', async (_where, run, field) => {
    await expectRejectedCleanly(run, field)
  })

  it('on the constructor options are a ValidationError', () => {
    let error: unknown
    try {
      new InMemorySessionTaskRegistry(throwingGetter({}, 'now'))
    } catch (e) {
      error = e
    }
    expect(isValidationError(error), describeError(error)).toBe(true)
  })

  it('a getter on a Date cutoff is never read into a raw error', async () => {
    const cutoff = throwingGetter(new Date(FAR_FUTURE), 'extra')
    await expectAcceptedOrRejectedCleanly(
      (f) => f.registry.listStale({ heartbeatBefore: cutoff }),
      (tasks) => expectTasks(tasks),
    )
  })

  it('a getter on a stream signal is never read into a raw error', async () => {
    const signal = throwingGetter(new AbortController().signal, 'extra')
    await expectAcceptedOrRejectedCleanly(async (f) => {
      const iterator = f.registry.stream(S, { signal })[Symbol.asyncIterator]()
      const first = await iterator.next()
      await iterator.return?.()
      return first
    })
  })

  it('constructor options are read once: a getter that changes its answer cannot install a bad clock', async () => {
    let reads = 0
    const options = {
      get now() {
        reads++
        return reads === 1 ? () => new Date(0) : 'not a clock'
      },
    }
    let registry: Registry | undefined
    try {
      registry = new InMemorySessionTaskRegistry(options as never)
    } catch (error) {
      expect(isValidationError(error), describeError(error)).toBe(true)
      return
    }
    const outcome = await registry.create({ sessionId: S, kind: 'k', displayName: 'd' }).then(
      (task) => ({ task }),
      (error: unknown) => ({ error }),
    )
    expect('error' in outcome ? describeError(outcome.error) : 'ok').toBe('ok')
    expect(registry.now()).toBeInstanceOf(Date)
  })
})

// ---------------------------------------------------------------- toJSON

describe('objects whose toJSON throws', () => {
  const exploding = () => {
    throw new Error('toJSON exploded')
  }
  class Exploding {
    toJSON(): never {
      throw new Error('toJSON exploded')
    }
  }

  it('in spec: rejected (a function is not JSON) without calling toJSON', async () => {
    const toJSON = vi.fn(exploding)
    await expectRejectedCleanly(
      (f) =>
        f.registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'd',
          spec: { a: 1, toJSON } as never,
        }),
      'spec.toJSON',
    )
    expect(toJSON).not.toHaveBeenCalled()
  })

  it('a class instance with a throwing toJSON in a data part: rejected', async () => {
    await expectRejectedCleanly(
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: new Exploding() as never }],
        }),
      'content[0].data',
    )
  })

  it('as the update input itself: rejected as an unknown key', async () => {
    await expectRejectedCleanly(
      (f) => f.registry.update(S, T1, { summary: 'x', toJSON: exploding } as never),
      'toJSON',
    )
  })

  it('on a Date cutoff: the cutoff is used as a Date, or rejected cleanly', async () => {
    const cutoff = Object.assign(new Date(FAR_FUTURE), { toJSON: exploding })
    await expectAcceptedOrRejectedCleanly(
      (f) => f.registry.listStale({ heartbeatBefore: cutoff }),
      (tasks) => expect(tasks.map((t) => t.id)).toEqual([T1]),
    )
  })
})

// ---------------------------------------------------------------- frozen

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

describe('frozen objects are accepted when otherwise valid', () => {
  it('create with a frozen input, spec and links', async () => {
    const f = await fixture()
    const input = deepFreeze({
      sessionId: S,
      kind: 'k',
      displayName: 'd',
      spec: { nested: { list: [1, 2, { x: 'y' }] }, gone: undefined },
      links: { resourceIds: ['r1', 'r1', 'r2'] },
      rootSessionId: undefined,
    })
    const task = await f.registry.create(input as never)
    expect(task.spec).toStrictEqual({ nested: { list: [1, 2, { x: 'y' }] } })
    expect(task.links.resourceIds).toEqual(['r1', 'r2'])
    // The stored record is the registry's own frozen copy, not the caller's frozen input.
    expect(Object.isFrozen(task)).toBe(true)
    expect(task.spec).not.toBe(input.spec)
    expect((await f.registry.get(S, task.id))?.spec).toStrictEqual({
      nested: { list: [1, 2, { x: 'y' }] },
    })
  })

  it('update with frozen progress, artifacts, links and inputRequest', async () => {
    const f = await fixture()
    const after = await f.registry.update(
      S,
      T1,
      deepFreeze({
        progress: { current: 1, total: 2, steps: [{ title: 't', status: 'done' as const }] },
        artifacts: [{ name: 'a', type: 'file' }],
        appendArtifact: { name: 'b', type: 'url', url: 'https://example.test' },
        links: { resourceIds: ['r9'] },
        inputRequest: { id: 'q7', prompt: 'p', expected: { choices: ['a', 'b'] } },
        summary: undefined,
      }),
    )
    expect(after?.state).toBe('awaiting_input')
    expect(after?.artifacts.map((a) => a.name)).toEqual(['a', 'b'])
    expect(after?.inputRequest?.expected).toStrictEqual({ choices: ['a', 'b'] })
  })

  it('recordMessage with a frozen message and content', async () => {
    const f = await fixture()
    const m = await f.registry.recordMessage(
      S,
      T4,
      deepFreeze({
        direction: 'inbound' as const,
        inReplyTo: 'q1',
        content: [
          { type: 'text' as const, text: 'a' },
          { type: 'data' as const, data: { n: 1 } },
        ],
      }),
    )
    expectMessage(m)
    expect((await f.registry.get(S, T4))?.state).toBe('running')
  })

  it('frozen options for list, listMessages, stream, listStale, prune and the constructor', async () => {
    const f = await fixture()
    expect(await f.registry.list(S, deepFreeze({ state: 'running' as const }))).toHaveLength(1)
    expect(await f.registry.listMessages(S, T1, deepFreeze({ limit: 1 }))).toHaveLength(1)
    const iterator = f.registry.stream(S, deepFreeze({ maxQueue: 5 }))[Symbol.asyncIterator]()
    expect((await iterator.next()).value?.type).toBe('snapshot')
    await iterator.return?.()
    expect(
      await f.registry.listStale(
        deepFreeze({ heartbeatBefore: deepFreeze(new Date(FAR_FUTURE)), limit: 5 }),
      ),
    ).toHaveLength(1)
    expect(
      await f.registry.prune(deepFreeze({ finishedBefore: deepFreeze(new Date(FAR_FUTURE)) })),
    ).toHaveLength(1)
    const r = new InMemorySessionTaskRegistry(
      deepFreeze({ now: () => new Date(0), replayBuffer: 3 }),
    )
    expect(r.now().getTime()).toBe(0)
  })

  it('a frozen Date cutoff that carries an extra undefined-valued property is accepted and left as it was', async () => {
    const cutoff = Object.freeze(Object.assign(new Date(FAR_FUTURE), { note: undefined }))
    await expectAcceptedOrRejectedCleanly(
      (f) => f.registry.listStale({ heartbeatBefore: cutoff }),
      (tasks) => expect(tasks.map((t) => t.id)).toEqual([T1]),
    )
    expect(Object.hasOwn(cutoff, 'note')).toBe(true)
  })

  it('an unfrozen Date cutoff is not mutated by the call', async () => {
    const cutoff = Object.assign(new Date(FAR_FUTURE), { note: undefined })
    const f = await fixture()
    await f.registry.prune({ finishedBefore: cutoff })
    expect(Object.hasOwn(cutoff, 'note')).toBe(true)
  })
})

// ---------------------------------------------------------------- proxies

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const allTrapsThrow: ProxyHandler<object> = {
  get() {
    throw new Error('trap get')
  },
  has() {
    throw new Error('trap has')
  },
  ownKeys() {
    throw new Error('trap ownKeys')
  },
  getOwnPropertyDescriptor() {
    throw new Error('trap getOwnPropertyDescriptor')
  },
  getPrototypeOf() {
    throw new Error('trap getPrototypeOf')
  },
}

describe('Proxy objects', () => {
  it('a transparent proxy around a valid create input and spec is accepted; the stored spec is a plain copy', async () => {
    const f = await fixture()
    const target = { list: [1, 2], inner: { k: 'v' } }
    const spec = new Proxy(target, {})
    const task = await f.registry.create(
      new Proxy({ sessionId: S, kind: 'k', displayName: 'd', spec }, {}),
    )
    expect(task.spec).toStrictEqual({ list: [1, 2], inner: { k: 'v' } })
    expect(types.isProxy(task.spec)).toBe(false)
    target.list.push(3)
    target.inner.k = 'changed'
    expect((await f.registry.get(S, task.id))?.spec).toStrictEqual({
      list: [1, 2],
      inner: { k: 'v' },
    })
  })

  it('a proxy whose get answers differently on every read is stored as one consistent copy', async () => {
    let reads = 0
    const spec = new Proxy({ n: 0, m: 0 }, { get: () => ++reads })
    await expectAcceptedOrRejectedCleanly(
      (f) => f.registry.create({ sessionId: S, kind: 'k', displayName: 'd', spec }),
      async (task, f) => {
        expectTask(task)
        expect((await f.registry.get(S, task.id))?.spec).toStrictEqual(task.spec)
      },
    )
  })

  it('a proxy array as message content is accepted or rejected cleanly', async () => {
    await expectAcceptedOrRejectedCleanly(
      (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: new Proxy([{ type: 'text' as const, text: 'p' }], {}),
        }),
      (m) => expectMessage(m),
    )
  })

  it('a proxy around a Date cutoff is accepted or rejected cleanly', async () => {
    await expectAcceptedOrRejectedCleanly(
      (f) => f.registry.listStale({ heartbeatBefore: new Proxy(new Date(FAR_FUTURE), {}) }),
      (tasks) => expectTasks(tasks),
    )
  })

  const places: [string, (bad: object) => (f: Fixture) => unknown][] = [
    ['the create input', (bad) => (f) => f.registry.create(bad as never)],
    [
      'spec',
      (bad) => (f) =>
        f.registry.create({ sessionId: S, kind: 'k', displayName: 'd', spec: bad as never }),
    ],
    ['the update input', (bad) => (f) => f.registry.update(S, T1, bad as never)],
    ['progress', (bad) => (f) => f.registry.update(S, T1, { progress: bad as never })],
    [
      'inputRequest.expected',
      (bad) => (f) =>
        f.registry.update(S, T1, {
          inputRequest: { id: 'q', prompt: 'p', expected: bad as never },
        }),
    ],
    ['the message', (bad) => (f) => f.registry.recordMessage(S, T1, bad as never)],
    [
      'message content',
      (bad) => (f) =>
        f.registry.recordMessage(S, T1, { direction: 'inbound', content: bad as never }),
    ],
    [
      'a data part',
      (bad) => (f) =>
        f.registry.recordMessage(S, T1, {
          direction: 'inbound',
          content: [{ type: 'data', data: bad as never }],
        }),
    ],
    ['the session id', (bad) => (f) => f.registry.get(bad as never, T1)],
    ['the list filter', (bad) => (f) => f.registry.list(S, bad as never)],
    ['the listMessages options', (bad) => (f) => f.registry.listMessages(S, T1, bad as never)],
    ['the listStale options', (bad) => (f) => f.registry.listStale(bad as never)],
    ['the prune options', (bad) => (f) => f.registry.prune(bad as never)],
    ['the stream options', (bad) => (f) => f.registry.stream(S, bad as never)],
    ['the deleteSession id', (bad) => (f) => f.registry.deleteSession(bad as never)],
  ]
  it.each(places)('a revoked proxy as %s is a ValidationError', async (_where, make) => {
    await expectRejectedCleanly(make(revoked()))
  })
  it.each(places)(
    'a proxy whose traps all throw as %s is a ValidationError',
    async (_where, make) => {
      await expectRejectedCleanly(make(new Proxy({}, allTrapsThrow)))
    },
  )

  it('a revoked proxy or a throwing proxy as constructor options is a ValidationError', () => {
    for (const bad of [revoked(), new Proxy({}, allTrapsThrow)]) {
      let error: unknown
      try {
        new InMemorySessionTaskRegistry(bad as never)
      } catch (e) {
        error = e
      }
      expect(isValidationError(error), describeError(error)).toBe(true)
    }
  })
})
