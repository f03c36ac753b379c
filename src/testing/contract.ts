import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { SessionTaskEvents, SessionTaskEventType } from '../events/emitter.js'
import {
  isStaleAttemptError,
  isStreamOverflowError,
  isTaskConflictError,
  isTaskNotFoundError,
  isValidationError,
  type ValidationError,
} from '../model/errors.js'
import type {
  CreateSessionTask,
  NewTaskMessage,
  SessionTask,
  SessionTaskUpdate,
  TaskMessage,
  TaskWake,
} from '../model/schemas.js'
import type { TaskWakePolicy } from '../model/state.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import { toPublicTask } from '../rules/projection.js'
import type { StreamItem, StreamOptions } from '../stream/stream.js'

/** What {@link describeRegistryContract} passes to the registry factory for each test. */
export type RegistryContractFactoryOptions = {
  /** The clock the registry must stamp every record, message and wake with. */
  now: () => Date
  /** Where the registry must report errors thrown by listeners. */
  onListenerError?: (error: unknown, type: string, payload: unknown) => void
  /** How many recent events per session the registry must keep for `stream({ since })`. */
  replayBuffer?: number
}

/** Builds a fresh, empty registry for one test of the contract suite. */
export type RegistryContractFactory = (
  options: RegistryContractFactoryOptions,
) => SessionTaskRegistry | Promise<SessionTaskRegistry>

/** Options of {@link describeRegistryContract}. */
export type RegistryContractOptions = {
  /** Runs after each test with the registry it created (close pools, drop schemas). */
  cleanup?: (registry: SessionTaskRegistry) => Promise<void> | void
  /** Test titles (or `group > title`, or whole group titles) to skip. */
  skip?: string[]
}

type ListenerErrorReport = { error: unknown; type: string; payload: unknown }
type Payload = SessionTaskEvents[SessionTaskEventType]
type Seen = { type: SessionTaskEventType; payload: Payload }
type SeenAll = Seen & { sessionId: string }

/** A registry under test, its hand-driven clock and what its listeners saw. */
type Harness = {
  registry: SessionTaskRegistry
  /** The clock's current instant as an ISO string. */
  iso(): string
  /** Moves the clock by `ms` (negative goes back) and returns the new ISO string. */
  tick(ms?: number): string
  /** Sets the clock to `T0 + ms` and returns its ISO string. */
  at(ms: number): string
  listenerErrors: ListenerErrorReport[]
  /** Records one session's events through `subscribe`. */
  record(sessionId: string): Seen[]
  /** Records every session's events through `subscribeAll`. */
  recordAll(): SeenAll[]
  /** Opens a stream iterator that is closed after the test. */
  stream(sessionId: string, options?: StreamOptions): AsyncIterator<StreamItem>
}

type It = (title: string, fn: () => Promise<void> | void) => void

const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const NO_ERROR = Symbol('no error')
const TASK_ID = /^task_[A-Za-z0-9_-]{21}$/
const MESSAGE_ID = /^tmsg_[A-Za-z0-9_-]{21}$/
const SECRET_SPEC = {
  prompt: 'hi',
  push_configs: [{ url: 'https://hook.example/a', secret: 's3cr3t' }, { url: 'https://b' }],
}
const REDACTED_SPEC = {
  prompt: 'hi',
  push_configs: [{ url: 'https://hook.example/a', has_secret: true }, { url: 'https://b' }],
}

const base = (sessionId: string, extra: Partial<CreateSessionTask> = {}): CreateSessionTask => ({
  sessionId,
  kind: 'background_tool',
  displayName: 'Job',
  ...extra,
})

const text = (t: string): NewTaskMessage['content'] => [{ type: 'text', text: t }]
const inbound = (t: string, extra: Partial<NewTaskMessage> = {}): NewTaskMessage => ({
  direction: 'inbound',
  content: text(t),
  ...extra,
})
const outbound = (t: string, extra: Partial<NewTaskMessage> = {}): NewTaskMessage => ({
  direction: 'outbound',
  content: text(t),
  ...extra,
})
const textOf = (m: { content: NewTaskMessage['content'] }): string =>
  m.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
const taskOf = (e: { payload: unknown }): SessionTask => (e.payload as { task: SessionTask }).task
const wakesOf = (seen: Seen[]): TaskWake[] =>
  seen.filter((e) => e.type === 'task.wake').map((e) => e.payload as TaskWake)
const label = (t: SessionTask) => `Task "${t.displayName}" (${t.id})`

/** Settles a promise into its value or the error it rejected with (never throws). */
async function caught(run: () => unknown): Promise<unknown> {
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

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

/** Asserts that no key of a record (or message) holds `undefined` or `null`: absent means absent. */
function expectNoEmptyKeys(value: object): void {
  for (const [key, v] of Object.entries(value)) {
    if (key === 'spec') continue
    expect(v, `key '${key}' must be absent rather than ${String(v)}`).not.toBeUndefined()
    expect(v, `key '${key}' must be absent rather than null`).not.toBeNull()
  }
}

async function take(it: AsyncIterator<StreamItem>, n: number): Promise<StreamItem[]> {
  const out: StreamItem[] = []
  for (let i = 0; i < n; i++) {
    const r = await it.next()
    if (r.done === true) throw new Error(`stream ended after ${out.length} items`)
    out.push(r.value)
  }
  return out
}

/** Pulls items until one matches, returning everything pulled (the match last). */
async function takeUntil(
  it: AsyncIterator<StreamItem>,
  match: (item: StreamItem) => boolean,
  max = 100,
): Promise<StreamItem[]> {
  const out: StreamItem[] = []
  for (let i = 0; i < max; i++) {
    const r = await it.next()
    if (r.done === true) throw new Error(`stream ended after ${out.length} items`)
    out.push(r.value)
    if (match(r.value)) return out
  }
  throw new Error(`no matching item within ${max} items`)
}

/** A deeply writable view of a readonly type, for tests that try to write. */
type Writable<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer U)[]
    ? Writable<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Writable<T[K]> }
      : T

/** Asserts that `value` is frozen at every level. */
function expectDeepFrozen(value: unknown, path = 'value'): void {
  if (typeof value !== 'object' || value === null) return
  expect(Object.isFrozen(value), `${path} is frozen`).toBe(true)
  for (const [key, item] of Object.entries(value)) expectDeepFrozen(item, `${path}.${key}`)
}

const createdNamed = (name: string) => (item: StreamItem) =>
  item.type === 'task.created' && item.payload.task.displayName === name

/**
 * Defines, inside `describe(name)`, the behaviour every {@link SessionTaskRegistry}
 * backend must show (SPEC 4, 4.1, 5, 6 and 10). `makeRegistry` must return an
 * empty registry that stamps time with the given `now`; each test makes its own
 * and `options.cleanup` runs after it.
 */
export function describeRegistryContract(
  name: string,
  makeRegistry: RegistryContractFactory,
  options: RegistryContractOptions = {},
): void {
  const skip = new Set(options.skip ?? [])

  describe(name, () => {
    let harnesses: { registry: SessionTaskRegistry; streams: AsyncIterator<StreamItem>[] }[] = []

    beforeEach(() => {
      harnesses = []
    })

    afterEach(async () => {
      const done = harnesses
      harnesses = []
      for (const h of done) {
        try {
          for (const it of h.streams) await it.return?.()
        } finally {
          await options.cleanup?.(h.registry)
        }
      }
    })

    async function setup(extra: { replayBuffer?: number } = {}): Promise<Harness> {
      let time = T0
      const listenerErrors: ListenerErrorReport[] = []
      const factoryOptions: RegistryContractFactoryOptions = {
        now: () => new Date(time),
        onListenerError: (error, type, payload) => listenerErrors.push({ error, type, payload }),
      }
      if (extra.replayBuffer !== undefined) factoryOptions.replayBuffer = extra.replayBuffer
      const registry = await makeRegistry(factoryOptions)
      const streams: AsyncIterator<StreamItem>[] = []
      harnesses.push({ registry, streams })
      const iso = () => new Date(time).toISOString()
      return {
        registry,
        iso,
        tick(ms = 1000) {
          time += ms
          return iso()
        },
        at(ms) {
          time = T0 + ms
          return iso()
        },
        listenerErrors,
        record(sessionId) {
          const seen: Seen[] = []
          registry.subscribe(sessionId, (type, payload) => seen.push({ type, payload }))
          return seen
        },
        recordAll() {
          const seen: SeenAll[] = []
          registry.subscribeAll((sessionId, type, payload) =>
            seen.push({ sessionId, type, payload }),
          )
          return seen
        },
        stream(sessionId, streamOptions) {
          const it = registry.stream(sessionId, streamOptions)[Symbol.asyncIterator]()
          streams.push(it)
          return it
        },
      }
    }

    function group(title: string, body: (it: It) => void): void {
      describe(title, () => {
        body((testTitle, fn) => {
          const skipped =
            skip.has(title) || skip.has(testTitle) || skip.has(`${title} > ${testTitle}`)
          if (skipped) test.skip(testTitle, fn)
          else test(testTitle, fn)
        })
      })
    }

    // ------------------------------------------------------------------ create

    group('create', (it) => {
      it('generates a task_ id of 21 nanoid characters and fills the record defaults', async () => {
        const { registry, iso } = await setup()
        const task = await registry.create(base('s1'))
        expect(task.id).toMatch(TASK_ID)
        expect(task).toStrictEqual({
          id: task.id,
          sessionId: 's1',
          kind: 'background_tool',
          displayName: 'Job',
          spec: null,
          state: 'queued',
          artifacts: [],
          attempt: 1,
          links: { resourceIds: [] },
          wakePolicy: 'silent',
          createdAt: iso(),
          updatedAt: iso(),
        })
        expectNoEmptyKeys(task)
        const stored = await registry.get('s1', task.id)
        expect(stored).toStrictEqual(task)
      })

      it('gives every create without an id a distinct id', async () => {
        const { registry } = await setup()
        const ids = new Set<string>()
        for (let i = 0; i < 20; i++) ids.add((await registry.create(base('s1'))).id)
        expect(ids.size).toBe(20)
        expect(await registry.list('s1')).toHaveLength(20)
      })

      it('stores every given field, removing duplicate resource ids', async () => {
        const { registry, iso } = await setup()
        const task = await registry.create({
          sessionId: 's1',
          id: 'job-1',
          kind: 'subagent',
          displayName: 'Research',
          spec: { prompt: 'go', n: [1, 2, { deep: true }] },
          state: 'running',
          links: { childSessionId: 'child', remoteTaskId: 'r-1', resourceIds: ['a', 'b', 'a'] },
          wakePolicy: 'on_activity',
          rootSessionId: 'root',
        })
        expect(task).toStrictEqual({
          id: 'job-1',
          sessionId: 's1',
          rootSessionId: 'root',
          kind: 'subagent',
          displayName: 'Research',
          spec: { prompt: 'go', n: [1, 2, { deep: true }] },
          state: 'running',
          artifacts: [],
          attempt: 1,
          links: { childSessionId: 'child', remoteTaskId: 'r-1', resourceIds: ['a', 'b'] },
          wakePolicy: 'on_activity',
          createdAt: iso(),
          startedAt: iso(),
          updatedAt: iso(),
        })
        expect(await registry.get('s1', 'job-1')).toStrictEqual(task)
      })

      it('stamps startedAt for a non-queued initial state and finishedAt for a terminal one', async () => {
        const { registry, iso } = await setup()
        const running = await registry.create(base('s1', { state: 'running' }))
        expect(running.startedAt).toBe(iso())
        expect(Object.hasOwn(running, 'finishedAt')).toBe(false)
        const waiting = await registry.create(base('s1', { state: 'awaiting_input' }))
        expect(waiting.startedAt).toBe(iso())
        for (const state of ['succeeded', 'failed', 'canceled'] as const) {
          const done = await registry.create(base('s1', { state }))
          expect(done.state).toBe(state)
          expect(done.startedAt).toBe(iso())
          expect(done.finishedAt).toBe(iso())
        }
      })

      it('emits exactly one task.created carrying the public record', async () => {
        const h = await setup()
        const all = h.recordAll()
        const task = await h.registry.create(base('s1', { spec: { a: [1, 2] } }))
        expect(all).toEqual([
          { sessionId: 's1', type: 'task.created', payload: { task: toPublicTask(task) } },
        ])
        expect(Object.keys(all[0]?.payload ?? {})).toEqual(['task'])
      })

      it('a caller id already in the session returns the stored record unchanged and emits nothing', async () => {
        const h = await setup()
        const first = await h.registry.create(base('s1', { id: 'job-1', spec: { v: 1 } }))
        expect(first.id).toBe('job-1')
        const all = h.recordAll()
        h.tick(5000)
        const second = await h.registry.create({
          sessionId: 's1',
          id: 'job-1',
          kind: 'other_kind',
          displayName: 'Different',
          spec: { v: 2 },
          state: 'running',
          wakePolicy: 'on_activity',
        })
        expect(second).toStrictEqual(first)
        expect(await h.registry.get('s1', 'job-1')).toStrictEqual(first)
        expect(await h.registry.list('s1')).toHaveLength(1)
        expect(all).toEqual([])
      })

      it('a caller id of another session throws TaskConflictError and stores or emits nothing', async () => {
        const h = await setup()
        const original = await h.registry.create(base('s1', { id: 'shared' }))
        const all = h.recordAll()
        h.tick()
        const error = await caught(() =>
          h.registry.create(base('s2', { id: 'shared', displayName: 'Other' })),
        )
        expect(isTaskConflictError(error), `expected TaskConflictError, got ${String(error)}`).toBe(
          true,
        )
        expect(await h.registry.get('s2', 'shared')).toBeUndefined()
        expect(await h.registry.list('s2')).toEqual([])
        expect(await h.registry.get('s1', 'shared')).toStrictEqual(original)
        expect(all).toEqual([])
      })

      it('concurrent creates with one caller id in one session insert once and emit once', async () => {
        const h = await setup()
        const all = h.recordAll()
        const results = await Promise.all(
          Array.from({ length: 5 }, () => h.registry.create(base('s1', { id: 'same' }))),
        )
        for (const r of results) expect(r).toStrictEqual(results[0])
        expect(await h.registry.list('s1')).toHaveLength(1)
        expect(all.map((e) => e.type)).toEqual(['task.created'])
      })

      it('concurrent creates with one caller id in two sessions: one wins, the other conflicts', async () => {
        const h = await setup()
        const outcomes = await Promise.allSettled([
          h.registry.create(base('s1', { id: 'contested' })),
          h.registry.create(base('s2', { id: 'contested' })),
        ])
        const won = outcomes.filter((o) => o.status === 'fulfilled')
        const lost = outcomes.filter((o) => o.status === 'rejected')
        expect(won).toHaveLength(1)
        expect(lost).toHaveLength(1)
        expect(isTaskConflictError((lost[0] as PromiseRejectedResult).reason)).toBe(true)
        const winner = (won[0] as PromiseFulfilledResult<SessionTask>).value
        const loser = winner.sessionId === 's1' ? 's2' : 's1'
        expect(await h.registry.get(winner.sessionId, 'contested')).toStrictEqual(winner)
        expect(await h.registry.get(loser, 'contested')).toBeUndefined()
      })
    })

    // ------------------------------------------------------------------ update

    group('update', (it) => {
      it('returns undefined and emits nothing for an unknown task', async () => {
        const h = await setup()
        await h.registry.create(base('s1'))
        const all = h.recordAll()
        expect(await h.registry.update('s1', 'task_missing', { state: 'running' })).toBeUndefined()
        expect(all).toEqual([])
      })

      it('returns undefined and leaves the task alone when another session updates it', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        h.tick()
        const result = await h.registry.update('s2', task.id, { state: 'running', summary: 'x' })
        expect(result).toBeUndefined()
        expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
        expect(all).toEqual([])
      })

      it('returns and stores the resulting record and emits one task.updated with it', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        const at = h.tick()
        const updated = await h.registry.update('s1', task.id, {
          state: 'running',
          progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
          workerId: 'w1',
          heartbeatAt: at,
        })
        expect(updated).toStrictEqual({
          ...task,
          state: 'running',
          startedAt: at,
          progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
          workerId: 'w1',
          heartbeatAt: at,
          updatedAt: at,
        })
        expect(await h.registry.get('s1', task.id)).toStrictEqual(updated)
        expect(all).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: updated } }])
      })

      it('a fenced update is dropped whole: unchanged record returned, nothing stored or emitted', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        h.tick()
        const result = await h.registry.update('s1', task.id, {
          state: 'running',
          summary: 'late',
          expectedAttempt: 2,
        })
        expect(result).toStrictEqual(task)
        expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
        expect(all).toEqual([])
      })

      it('a terminal task asked for another state drops the whole update, content included', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const done = await h.registry.update('s1', task.id, { state: 'succeeded' })
        const all = h.recordAll()
        h.tick()
        const result = await h.registry.update('s1', task.id, {
          state: 'running',
          summary: 'ignored',
          appendArtifact: { name: 'x', type: 'file' },
        })
        expect(result).toStrictEqual(done)
        expect(await h.registry.get('s1', task.id)).toStrictEqual(done)
        expect(all).toEqual([])
      })

      it('a terminal task accepts content with the same terminal state or no state', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const done = (await h.registry.update('s1', task.id, { state: 'failed' })) as SessionTask
        const all = h.recordAll()
        const at1 = h.tick()
        const enriched = await h.registry.update('s1', task.id, {
          state: 'failed',
          summary: 'why',
        })
        expect(enriched).toStrictEqual({ ...done, summary: 'why', updatedAt: at1 })
        const at2 = h.tick()
        const more = await h.registry.update('s1', task.id, { resultPath: '/r.json' })
        expect(more).toStrictEqual({
          ...done,
          summary: 'why',
          resultPath: '/r.json',
          updatedAt: at2,
        })
        expect(more?.finishedAt).toBe(done.finishedAt)
        expect(all.map((e) => e.type)).toEqual(['task.updated', 'task.updated'])
      })

      const noOps: [string, SessionTaskUpdate][] = [
        ['an empty update', {}],
        ['the current state', { state: 'running' }],
        ['the same stateDetail', { stateDetail: 'working' }],
        [
          'the same progress',
          { progress: { current: 1, steps: [{ title: 'a', status: 'done' }] } },
        ],
        ['an already present resource id', { links: { resourceIds: ['r1'] } }],
        ['the same childSessionId', { links: { childSessionId: 'child' } }],
        ['the same workerId', { workerId: 'w1' }],
        ['the same artifacts', { artifacts: [{ name: 'a', type: 'file', path: '/a' }] }],
        ['the same heartbeat in another ISO spelling', { heartbeatAt: '2025-12-31T00:00:00Z' }],
        ['a matching fence and nothing else', { expectedAttempt: 1 }],
      ]
      for (const [title, update] of noOps) {
        it(`a no-op update (${title}) stores nothing, keeps updatedAt and emits nothing`, async () => {
          const h = await setup()
          const task = await h.registry.create(base('s1', { state: 'running' }))
          h.tick()
          const prepared = await h.registry.update('s1', task.id, {
            stateDetail: 'working',
            progress: { current: 1, steps: [{ title: 'a', status: 'done' }] },
            links: { resourceIds: ['r1'], childSessionId: 'child' },
            workerId: 'w1',
            artifacts: [{ name: 'a', type: 'file', path: '/a' }],
            heartbeatAt: '2025-12-31T00:00:00.000Z',
          })
          const all = h.recordAll()
          h.tick(60_000)
          const result = await h.registry.update('s1', task.id, update)
          expect(result).toStrictEqual(prepared)
          expect(await h.registry.get('s1', task.id)).toStrictEqual(prepared)
          expect(all).toEqual([])
        })
      }

      it('stores heartbeatAt in Date#toISOString form', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        const a = await registry.update('s1', task.id, { heartbeatAt: '2026-01-01T00:00:05Z' })
        expect(a?.heartbeatAt).toBe('2026-01-01T00:00:05.000Z')
        const b = await registry.update('s1', task.id, { heartbeatAt: '2026-01-01T00:00:06.5Z' })
        expect(b?.heartbeatAt).toBe('2026-01-01T00:00:06.500Z')
        expect((await registry.get('s1', task.id))?.heartbeatAt).toBe('2026-01-01T00:00:06.500Z')
      })

      it('an input request forces awaiting_input over the asked state and replaces an earlier one', async () => {
        const { registry, tick } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        tick()
        const first = await registry.update('s1', task.id, {
          state: 'succeeded',
          inputRequest: { id: 'q1', prompt: 'Which branch?', expected: { choices: ['a', 'b'] } },
        })
        expect(first?.state).toBe('awaiting_input')
        expect(first?.inputRequest).toEqual({
          id: 'q1',
          prompt: 'Which branch?',
          expected: { choices: ['a', 'b'] },
        })
        expect(Object.hasOwn(first ?? {}, 'finishedAt')).toBe(false)
        tick()
        const second = await registry.update('s1', task.id, {
          inputRequest: { id: 'q2', prompt: 'Sure?' },
        })
        expect(second?.inputRequest).toEqual({ id: 'q2', prompt: 'Sure?' })
        expect(second?.state).toBe('awaiting_input')
        tick()
        const resumed = await registry.update('s1', task.id, { state: 'running' })
        expect(resumed?.state).toBe('running')
        expect(Object.hasOwn(resumed ?? {}, 'inputRequest')).toBe(false)
        expect(await registry.get('s1', task.id)).toStrictEqual(resumed)
      })

      it('an input request on a terminal task is ignored', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const done = await h.registry.update('s1', task.id, { state: 'succeeded' })
        const all = h.recordAll()
        h.tick()
        const result = await h.registry.update('s1', task.id, {
          inputRequest: { id: 'q', prompt: 'p' },
        })
        expect(result).toStrictEqual(done)
        const withSummary = await h.registry.update('s1', task.id, {
          inputRequest: { id: 'q', prompt: 'p' },
          summary: 'kept',
        })
        expect(withSummary?.state).toBe('succeeded')
        expect(withSummary?.summary).toBe('kept')
        expect(Object.hasOwn(withSummary ?? {}, 'inputRequest')).toBe(false)
        expect(all.map((e) => e.type)).toEqual(['task.updated'])
      })

      it('startedAt is stamped once when leaving queued and finishedAt once on finishing', async () => {
        const { registry, tick } = await setup()
        const task = await registry.create(base('s1'))
        expect(Object.hasOwn(task, 'startedAt')).toBe(false)
        const started = tick()
        await registry.update('s1', task.id, { state: 'running' })
        tick()
        await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
        tick()
        await registry.update('s1', task.id, { state: 'running' })
        const finished = tick()
        await registry.update('s1', task.id, { state: 'succeeded' })
        tick()
        const after = await registry.update('s1', task.id, { state: 'succeeded', summary: 's' })
        expect(after?.startedAt).toBe(started)
        expect(after?.finishedAt).toBe(finished)
        const direct = await registry.create(base('s1'))
        const at = tick()
        const done = await registry.update('s1', direct.id, { state: 'canceled' })
        expect(done?.startedAt).toBe(at)
        expect(done?.finishedAt).toBe(at)
      })

      it('incrementAttempt bumps the attempt and moves the fence', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        const bumped = await registry.update('s1', task.id, {
          incrementAttempt: true,
          expectedAttempt: 1,
          workerId: 'w2',
        })
        expect(bumped?.attempt).toBe(2)
        expect(bumped?.workerId).toBe('w2')
        const stale = await registry.update('s1', task.id, { summary: 'old', expectedAttempt: 1 })
        expect(stale).toStrictEqual(bumped)
        const fresh = await registry.update('s1', task.id, { summary: 'new', expectedAttempt: 2 })
        expect(fresh?.summary).toBe('new')
        expect(fresh?.attempt).toBe(2)
      })

      it('artifacts replaces the list ([] clears) and appendArtifact appends after it', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        const a = { name: 'a', type: 'file', path: '/a' }
        const b = { name: 'b', type: 'url', url: 'https://b' }
        const c = { name: 'c', type: 'pr' }
        expect((await registry.update('s1', task.id, { appendArtifact: a }))?.artifacts).toEqual([
          a,
        ])
        expect((await registry.update('s1', task.id, { appendArtifact: b }))?.artifacts).toEqual([
          a,
          b,
        ])
        const replaced = await registry.update('s1', task.id, { artifacts: [c], appendArtifact: a })
        expect(replaced?.artifacts).toEqual([c, a])
        expect((await registry.update('s1', task.id, { artifacts: [] }))?.artifacts).toEqual([])
        expect((await registry.get('s1', task.id))?.artifacts).toEqual([])
      })

      it('links merge: ids overwrite only when given, resource ids append without duplicates', async () => {
        const { registry } = await setup()
        const task = await registry.create(
          base('s1', { links: { childSessionId: 'c1', resourceIds: ['r1'] } }),
        )
        const a = await registry.update('s1', task.id, { links: { remoteTaskId: 'x1' } })
        expect(a?.links).toEqual({ childSessionId: 'c1', remoteTaskId: 'x1', resourceIds: ['r1'] })
        const b = await registry.update('s1', task.id, {
          links: { childSessionId: 'c2', resourceIds: ['r2', 'r1', 'r3', 'r2'] },
        })
        expect(b?.links).toEqual({
          childSessionId: 'c2',
          remoteTaskId: 'x1',
          resourceIds: ['r1', 'r2', 'r3'],
        })
        expect((await registry.get('s1', task.id))?.links).toEqual(b?.links)
      })

      it('text fields are overwritten but never cleared by omission', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        await registry.update('s1', task.id, {
          stateDetail: 'd',
          summary: 's',
          resultPath: '/p',
          error: { kind: 'k', message: 'm' },
        })
        const other = await registry.update('s1', task.id, { progress: { current: 1 } })
        expect(other).toMatchObject({
          stateDetail: 'd',
          summary: 's',
          resultPath: '/p',
          error: { kind: 'k', message: 'm' },
        })
        const emptied = await registry.update('s1', task.id, { summary: '', stateDetail: '' })
        expect(emptied?.summary).toBe('')
        expect(emptied?.stateDetail).toBe('')
        expect((await registry.get('s1', task.id))?.summary).toBe('')
      })

      it('concurrent appendArtifact updates lose nothing', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            registry.update('s1', task.id, { appendArtifact: { name: `a${i}`, type: 'file' } }),
          ),
        )
        const names = (await registry.get('s1', task.id))?.artifacts.map((a) => a.name)
        expect(names?.slice().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`).sort())
      })

      it('concurrent resource id merges lose nothing', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1'))
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            registry.update('s1', task.id, { links: { resourceIds: [`r${i}`, 'shared'] } }),
          ),
        )
        const ids = (await registry.get('s1', task.id))?.links.resourceIds ?? []
        expect(ids.slice().sort()).toEqual(
          [...Array.from({ length: 10 }, (_, i) => `r${i}`), 'shared'].sort(),
        )
      })

      it('concurrent fenced updates: exactly one wins the fence', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const all = h.recordAll()
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            h.registry.updateWithOutcome('s1', task.id, {
              expectedAttempt: 1,
              incrementAttempt: true,
              workerId: `reaper-${i}`,
            }),
          ),
        )
        expect(results.filter((r) => r?.applied === true)).toHaveLength(1)
        const stored = await h.registry.get('s1', task.id)
        expect(stored?.attempt).toBe(2)
        expect(all.map((e) => e.type)).toEqual(['task.updated'])
      })
    })

    // ------------------------------------------------------------------ updateWithOutcome

    group('updateWithOutcome', (it) => {
      it('returns undefined for an unknown task or another session’s', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        expect(await h.registry.updateWithOutcome('s1', 'task_nope', { summary: 'x' })).toBe(
          undefined,
        )
        expect(await h.registry.updateWithOutcome('s2', task.id, { summary: 'x' })).toBe(undefined)
        expect(all).toEqual([])
      })

      it('a real change is applied and changed, stored and emitted', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        const at = h.tick()
        const result = await h.registry.updateWithOutcome('s1', task.id, { state: 'running' })
        expect(result).toStrictEqual({
          task: { ...task, state: 'running', startedAt: at, updatedAt: at },
          applied: true,
          changed: true,
        })
        expect(await h.registry.get('s1', task.id)).toStrictEqual(result?.task)
        expect(all.map((e) => e.type)).toEqual(['task.updated'])
      })

      it('a no-op is applied but not changed, and emits nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const all = h.recordAll()
        h.tick()
        const result = await h.registry.updateWithOutcome('s1', task.id, {
          state: 'running',
          expectedAttempt: 1,
        })
        expect(result).toStrictEqual({ task, applied: true, changed: false })
        expect(all).toEqual([])
      })

      it('a fenced or terminal-dropped update is not applied and emits nothing', async () => {
        const h = await setup()
        const live = await h.registry.create(base('s1', { state: 'running' }))
        const done = await h.registry.create(base('s1', { state: 'succeeded' }))
        const all = h.recordAll()
        h.tick()
        expect(
          await h.registry.updateWithOutcome('s1', live.id, {
            state: 'failed',
            expectedAttempt: 3,
          }),
        ).toStrictEqual({ task: live, applied: false, changed: false })
        expect(
          await h.registry.updateWithOutcome('s1', done.id, { state: 'running', summary: 'x' }),
        ).toStrictEqual({ task: done, applied: false, changed: false })
        expect(all).toEqual([])
      })
    })

    // ------------------------------------------------------------------ get / list

    group('get and list', (it) => {
      it('get returns undefined for an unknown task or another session’s', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1'))
        expect(await registry.get('s1', 'task_nope')).toBeUndefined()
        expect(await registry.get('s2', task.id)).toBeUndefined()
        expect(await registry.get('s1', task.id)).toStrictEqual(task)
      })

      it('list returns only the session’s own tasks', async () => {
        const { registry } = await setup()
        const a = await registry.create(base('s1', { displayName: 'A' }))
        const b = await registry.create(base('s2', { displayName: 'B' }))
        expect(await registry.list('s1')).toStrictEqual([a])
        expect(await registry.list('s2')).toStrictEqual([b])
        expect(await registry.list('s3')).toEqual([])
      })

      it('list is oldest first by createdAt, then insertion order, even when the clock goes back', async () => {
        const { registry, at } = await setup()
        const names: [string, number][] = [
          ['a', 10_000],
          ['b', 5_000],
          ['c', 10_000],
          ['d', 5_000],
          ['e', 1_000],
        ]
        for (const [displayName, ms] of names) {
          at(ms)
          await registry.create(base('s1', { displayName }))
        }
        expect((await registry.list('s1')).map((t) => t.displayName)).toEqual([
          'e',
          'b',
          'd',
          'a',
          'c',
        ])
      })

      it('list keeps insertion order for tasks created at the same instant', async () => {
        const { registry } = await setup()
        const names = ['z', 'a', 'm', 'b', 'y', 'c']
        for (const displayName of names) await registry.create(base('s1', { displayName }))
        expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(names)
      })

      it('list filters by kind and by state, combined with AND', async () => {
        const { registry } = await setup()
        const a = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
        const b = await registry.create(base('s1', { kind: 'subagent', state: 'queued' }))
        const c = await registry.create(base('s1', { kind: 'monitor', state: 'running' }))
        const d = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
        await registry.create(base('s2', { kind: 'subagent', state: 'running' }))
        expect(await registry.list('s1', { kind: 'subagent' })).toStrictEqual([a, b, d])
        expect(await registry.list('s1', { state: 'running' })).toStrictEqual([a, c, d])
        expect(await registry.list('s1', { kind: 'subagent', state: 'running' })).toStrictEqual([
          a,
          d,
        ])
        expect(await registry.list('s1', { kind: 'monitor', state: 'queued' })).toEqual([])
        expect(await registry.list('s1', {})).toStrictEqual([a, b, c, d])
      })

      it('list reflects updates (state filter follows the current state)', async () => {
        const { registry } = await setup()
        const a = await registry.create(base('s1'))
        const b = await registry.create(base('s1'))
        const running = await registry.update('s1', b.id, { state: 'running' })
        expect(await registry.list('s1', { state: 'running' })).toStrictEqual([running])
        expect(await registry.list('s1', { state: 'queued' })).toStrictEqual([a])
      })
    })

    // ------------------------------------------------------------------ requestCancel

    group('requestCancel', (it) => {
      it('the first call stamps cancelRequestedAt and updatedAt, keeps the state, emits task.updated', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const all = h.recordAll()
        const at = h.tick()
        const result = await h.registry.requestCancel('s1', task.id)
        expect(result).toStrictEqual({ ...task, cancelRequestedAt: at, updatedAt: at })
        expect(await h.registry.get('s1', task.id)).toStrictEqual(result)
        expect(all).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: result } }])
      })

      it('later calls return the record unchanged and emit nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        h.tick()
        const first = await h.registry.requestCancel('s1', task.id)
        const all = h.recordAll()
        h.tick()
        expect(await h.registry.requestCancel('s1', task.id)).toStrictEqual(first)
        h.tick()
        expect(await h.registry.requestCancel('s1', task.id)).toStrictEqual(first)
        expect(await h.registry.get('s1', task.id)).toStrictEqual(first)
        expect(all).toEqual([])
      })

      it('works on a terminal task and keeps its state and finishedAt', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const done = await h.registry.update('s1', task.id, { state: 'failed' })
        const all = h.recordAll()
        const at = h.tick()
        const result = await h.registry.requestCancel('s1', task.id)
        expect(result).toStrictEqual({ ...done, cancelRequestedAt: at, updatedAt: at })
        expect(all.map((e) => e.type)).toEqual(['task.updated'])
      })

      it('does not go through the fence or the lifecycle rules', async () => {
        const { registry, tick } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        await registry.update('s1', task.id, { incrementAttempt: true })
        await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
        const at = tick()
        const result = await registry.requestCancel('s1', task.id)
        expect(result?.cancelRequestedAt).toBe(at)
        expect(result?.state).toBe('awaiting_input')
        expect(result?.inputRequest).toEqual({ id: 'q', prompt: 'p' })
        expect(result?.attempt).toBe(2)
      })

      it('returns undefined for an unknown task or another session’s and stamps nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        h.tick()
        expect(await h.registry.requestCancel('s1', 'task_missing')).toBeUndefined()
        expect(await h.registry.requestCancel('s2', task.id)).toBeUndefined()
        expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
        expect(all).toEqual([])
      })

      it('concurrent calls stamp once and emit once', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const all = h.recordAll()
        const at = h.tick()
        const results = await Promise.all(
          Array.from({ length: 5 }, () => h.registry.requestCancel('s1', task.id)),
        )
        for (const r of results) expect(r?.cancelRequestedAt).toBe(at)
        expect(all.map((e) => e.type)).toEqual(['task.updated'])
      })
    })

    // ------------------------------------------------------------------ recordMessage

    group('recordMessage', (it) => {
      it('throws TaskNotFoundError for an unknown task and emits nothing', async () => {
        const h = await setup()
        const all = h.recordAll()
        const error = await caught(() => h.registry.recordMessage('s1', 'task_nope', inbound('x')))
        expect(isTaskNotFoundError(error), `expected TaskNotFoundError, got ${String(error)}`).toBe(
          true,
        )
        expect(all).toEqual([])
      })

      it('throws TaskNotFoundError for another session’s task and stores nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const all = h.recordAll()
        const error = await caught(() => h.registry.recordMessage('s2', task.id, outbound('hi')))
        expect(isTaskNotFoundError(error)).toBe(true)
        expect(await h.registry.listMessages('s1', task.id)).toEqual([])
        expect(all).toEqual([])
      })

      it('throws StaleAttemptError on an attempt mismatch and stores or emits nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        await h.registry.update('s1', task.id, { incrementAttempt: true })
        const all = h.recordAll()
        const error = await caught(() =>
          h.registry.recordMessage('s1', task.id, outbound('late', { expectedAttempt: 1 })),
        )
        expect(isStaleAttemptError(error), `expected StaleAttemptError, got ${String(error)}`).toBe(
          true,
        )
        expect(await h.registry.listMessages('s1', task.id)).toEqual([])
        expect(all).toEqual([])
        const ok = await h.registry.recordMessage(
          's1',
          task.id,
          outbound('now', { expectedAttempt: 2 }),
        )
        expect(await h.registry.listMessages('s1', task.id)).toStrictEqual([ok])
      })

      it('stores a message with a tmsg_ id and the clock’s time, without expectedAttempt', async () => {
        const { registry, iso, tick } = await setup()
        const task = await registry.create(base('s1'))
        tick()
        const msg = await registry.recordMessage('s1', task.id, {
          direction: 'outbound',
          content: [
            { type: 'text', text: 'a' },
            { type: 'data', data: { n: 1, list: [true, null, 'x'] } },
          ],
          expectedAttempt: 1,
        })
        expect(msg.id).toMatch(MESSAGE_ID)
        expect(msg).toStrictEqual({
          id: msg.id,
          taskId: task.id,
          direction: 'outbound',
          content: [
            { type: 'text', text: 'a' },
            { type: 'data', data: { n: 1, list: [true, null, 'x'] } },
          ],
          createdAt: iso(),
        })
        expectNoEmptyKeys(msg)
        const reply = await registry.recordMessage('s1', task.id, inbound('b', { inReplyTo: 'q' }))
        expect(reply.inReplyTo).toBe('q')
        expect(reply.id).not.toBe(msg.id)
        expect(await registry.listMessages('s1', task.id)).toStrictEqual([msg, reply])
      })

      it('an inbound message emits task.message.sent and an outbound one task.message.received', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const seen = h.record('s1')
        const sent = await h.registry.recordMessage('s1', task.id, inbound('to task'))
        const received = await h.registry.recordMessage('s1', task.id, {
          direction: 'outbound',
          content: [{ type: 'data', data: { x: 1 } }],
          inReplyTo: 'r',
        })
        expect(seen).toEqual([
          { type: 'task.message.sent', payload: { taskId: task.id, message: sent } },
          { type: 'task.message.received', payload: { taskId: task.id, message: received } },
        ])
      })

      it('an inbound answer to the pending request resumes the task: message event, then task.updated', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const waiting = (await h.registry.update('s1', task.id, {
          inputRequest: { id: 'q1', prompt: 'Which branch?' },
        })) as SessionTask
        expect(waiting.state).toBe('awaiting_input')
        const all = h.recordAll()
        const at = h.tick()
        const msg = await h.registry.recordMessage(
          's1',
          task.id,
          inbound('main', { inReplyTo: 'q1' }),
        )
        const after = await h.registry.get('s1', task.id)
        const { inputRequest: _dropped, ...rest } = waiting
        expect(after).toStrictEqual({ ...rest, state: 'running', updatedAt: at })
        expect(all).toEqual([
          {
            sessionId: 's1',
            type: 'task.message.sent',
            payload: { taskId: task.id, message: msg },
          },
          { sessionId: 's1', type: 'task.updated', payload: { task: after } },
        ])
      })

      it('the resume is unfenced and an answer fenced on the current attempt also resumes', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        await registry.update('s1', task.id, { incrementAttempt: true })
        await registry.update('s1', task.id, { inputRequest: { id: 'q1', prompt: 'p' } })
        await registry.recordMessage(
          's1',
          task.id,
          inbound('yes', { inReplyTo: 'q1', expectedAttempt: 2 }),
        )
        const after = await registry.get('s1', task.id)
        expect(after?.state).toBe('running')
        expect(after?.attempt).toBe(2)
      })

      const untouched: [string, (id: string) => NewTaskMessage][] = [
        ['an inbound message answering another request', () => inbound('x', { inReplyTo: 'zz' })],
        ['an inbound message without inReplyTo', () => inbound('x')],
        [
          'an outbound message with the matching inReplyTo',
          (id) => outbound('x', { inReplyTo: id }),
        ],
      ]
      for (const [title, make] of untouched) {
        it(`stores ${title} without touching the awaiting task`, async () => {
          const h = await setup()
          const task = await h.registry.create(base('s1', { state: 'running' }))
          const waiting = await h.registry.update('s1', task.id, {
            inputRequest: { id: 'q1', prompt: 'Which?' },
          })
          const seen = h.record('s1')
          h.tick()
          const msg = await h.registry.recordMessage('s1', task.id, make('q1'))
          expect(await h.registry.get('s1', task.id)).toStrictEqual(waiting)
          expect(await h.registry.listMessages('s1', task.id)).toStrictEqual([msg])
          expect(seen.map((e) => e.type)).toEqual([
            msg.direction === 'inbound' ? 'task.message.sent' : 'task.message.received',
          ])
        })
      }

      it('messages never touch a running task’s record, not even updatedAt', async () => {
        const { registry, tick } = await setup()
        const task = await registry.create(base('s1', { state: 'running' }))
        tick()
        await registry.recordMessage('s1', task.id, inbound('a', { inReplyTo: 'q1' }))
        tick()
        await registry.recordMessage('s1', task.id, outbound('b'))
        expect(await registry.get('s1', task.id)).toStrictEqual(task)
      })

      it('terminal tasks accept messages without changing', async () => {
        const { registry, tick } = await setup()
        const task = await registry.create(base('s1'))
        const done = await registry.update('s1', task.id, { state: 'canceled' })
        tick()
        const m1 = await registry.recordMessage('s1', task.id, inbound('still there?'))
        const m2 = await registry.recordMessage('s1', task.id, outbound('bye'))
        expect(await registry.listMessages('s1', task.id)).toStrictEqual([m1, m2])
        expect(await registry.get('s1', task.id)).toStrictEqual(done)
      })

      it('concurrent messages are all stored with distinct ids', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1'))
        const sent = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            registry.recordMessage('s1', task.id, outbound(`m${i}`)),
          ),
        )
        expect(new Set(sent.map((m) => m.id)).size).toBe(10)
        const stored = await registry.listMessages('s1', task.id)
        expect(stored.map(textOf).sort()).toEqual(sent.map(textOf).sort())
      })
    })

    // ------------------------------------------------------------------ listMessages

    group('listMessages', (it) => {
      async function fiveMessages() {
        const h = await setup()
        const task = await h.registry.create(base('s1'))
        const ids: string[] = []
        for (let i = 0; i < 5; i++) {
          h.tick()
          ids.push((await h.registry.recordMessage('s1', task.id, outbound(`m${i}`))).id)
        }
        return { ...h, task, ids }
      }

      it('without a cursor returns the newest `limit` messages, oldest first', async () => {
        const { registry, task } = await fiveMessages()
        const texts = async (limit: number) =>
          (await registry.listMessages('s1', task.id, { limit })).map(textOf)
        expect(await texts(2)).toEqual(['m3', 'm4'])
        expect(await texts(1)).toEqual(['m4'])
        expect(await texts(50)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
      })

      it('without a limit returns every message, oldest first', async () => {
        const { registry, task, ids } = await fiveMessages()
        expect((await registry.listMessages('s1', task.id)).map((m) => m.id)).toEqual(ids)
        expect((await registry.listMessages('s1', task.id, {})).map((m) => m.id)).toEqual(ids)
      })

      it('with afterId returns the first `limit` messages strictly after the cursor', async () => {
        const { registry, task, ids } = await fiveMessages()
        const page = async (afterId: string, limit?: number) =>
          (
            await registry.listMessages(
              's1',
              task.id,
              limit === undefined ? { afterId } : { afterId, limit },
            )
          ).map(textOf)
        expect(await page(ids[1] as string, 2)).toEqual(['m2', 'm3'])
        expect(await page(ids[0] as string)).toEqual(['m1', 'm2', 'm3', 'm4'])
        expect(await page(ids[3] as string, 5)).toEqual(['m4'])
        expect(await page(ids[4] as string)).toEqual([])
      })

      it('returns [] for an unknown cursor or a cursor of another task', async () => {
        const { registry, task } = await fiveMessages()
        const other = await registry.create(base('s1'))
        const foreign = await registry.recordMessage('s1', other.id, outbound('other'))
        expect(await registry.listMessages('s1', task.id, { afterId: 'tmsg_unknown' })).toEqual([])
        expect(await registry.listMessages('s1', task.id, { afterId: foreign.id })).toEqual([])
        expect(
          await registry.listMessages('s1', task.id, { afterId: foreign.id, limit: 3 }),
        ).toEqual([])
      })

      it('returns [] for an unknown task, a task without messages or another session', async () => {
        const { registry, task } = await fiveMessages()
        const empty = await registry.create(base('s1'))
        expect(await registry.listMessages('s1', 'task_missing')).toEqual([])
        expect(await registry.listMessages('s1', empty.id)).toEqual([])
        expect(await registry.listMessages('s2', task.id)).toEqual([])
        expect(await registry.listMessages('s2', task.id, { limit: 2 })).toEqual([])
      })

      it('orders by createdAt, then record order, when the clock goes back', async () => {
        const { registry, at } = await setup()
        const task = await registry.create(base('s1'))
        const ids: Record<string, string> = {}
        for (const [name, ms] of [
          ['a', 10_000],
          ['b', 5_000],
          ['c', 10_000],
          ['d', 5_000],
          ['e', 1_000],
        ] as const) {
          at(ms)
          ids[name] = (await registry.recordMessage('s1', task.id, outbound(name))).id
        }
        const list = async (o?: { limit?: number; afterId?: string }) =>
          (await registry.listMessages('s1', task.id, o)).map(textOf)
        expect(await list()).toEqual(['e', 'b', 'd', 'a', 'c'])
        expect(await list({ limit: 2 })).toEqual(['a', 'c'])
        expect(await list({ afterId: ids.d as string, limit: 2 })).toEqual(['a', 'c'])
        expect(await list({ afterId: ids.e as string, limit: 1 })).toEqual(['b'])
        expect(await list({ afterId: ids.b as string })).toEqual(['d', 'a', 'c'])
      })

      it('keeps record order for messages stamped at the same instant', async () => {
        const { registry } = await setup()
        const task = await registry.create(base('s1'))
        const names = ['z', 'a', 'm', 'b', 'y']
        for (const n of names) await registry.recordMessage('s1', task.id, outbound(n))
        expect((await registry.listMessages('s1', task.id)).map(textOf)).toEqual(names)
        expect((await registry.listMessages('s1', task.id, { limit: 2 })).map(textOf)).toEqual([
          'b',
          'y',
        ])
      })
    })

    // ------------------------------------------------------------------ publishOutput

    group('publishOutput', (it) => {
      it('emits task.output, returns true and stores nothing', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        const seen = h.record('s1')
        h.tick()
        const ok = await h.registry.publishOutput('s1', task.id, {
          stream: 'stdout',
          delta: 'line 1\n',
        })
        expect(ok).toBe(true)
        expect(seen).toEqual([
          {
            type: 'task.output',
            payload: { taskId: task.id, stream: 'stdout', delta: 'line 1\n' },
          },
        ])
        expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
        expect(await h.registry.listMessages('s1', task.id)).toEqual([])
      })

      it('returns false and emits nothing for an unknown task, another session or a stale attempt', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { state: 'running' }))
        await h.registry.update('s1', task.id, { incrementAttempt: true })
        const all = h.recordAll()
        const out = { stream: 'stdout', delta: 'x' }
        expect(await h.registry.publishOutput('s1', 'task_nope', out)).toBe(false)
        expect(await h.registry.publishOutput('s2', task.id, out)).toBe(false)
        expect(await h.registry.publishOutput('s1', task.id, { ...out, expectedAttempt: 1 })).toBe(
          false,
        )
        expect(all).toEqual([])
        expect(await h.registry.publishOutput('s1', task.id, { ...out, expectedAttempt: 2 })).toBe(
          true,
        )
        expect(all.map((e) => e.type)).toEqual(['task.output'])
      })
    })

    // ------------------------------------------------------------------ events and listeners

    group('events and listeners', (it) => {
      it('typed listeners, a "*" listener and subscribe see the same events', async () => {
        const h = await setup()
        const emitter = h.registry.events('s1')
        expect(h.registry.events('s1')).toBe(emitter)
        const typed: Seen[] = []
        const types: SessionTaskEventType[] = [
          'task.created',
          'task.updated',
          'task.message.sent',
          'task.message.received',
          'task.output',
          'task.wake',
        ]
        for (const type of types) emitter.on(type, (payload) => typed.push({ type, payload }))
        const wildcard: Seen[] = []
        emitter.on('*', (type, payload) => wildcard.push({ type, payload }))
        const subscribed = h.record('s1')
        const t = await h.registry.create(base('s1', { wakePolicy: 'on_activity' }))
        await h.registry.update('s1', t.id, { state: 'running' })
        await h.registry.recordMessage('s1', t.id, outbound('hi'))
        await h.registry.recordMessage('s1', t.id, inbound('yo'))
        await h.registry.publishOutput('s1', t.id, { stream: 'stderr', delta: 'warn' })
        await h.registry.update('s1', t.id, { state: 'succeeded' })
        expect(subscribed.map((e) => e.type)).toEqual([
          'task.created',
          'task.updated',
          'task.message.received',
          'task.wake',
          'task.message.sent',
          'task.output',
          'task.updated',
          'task.wake',
        ])
        expect(wildcard).toEqual(subscribed)
        expect(typed).toEqual(subscribed)
      })

      it('subscribeAll sees every session’s events with the session id', async () => {
        const { registry } = await setup()
        const all: string[] = []
        const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
          all.push(`${sessionId}:${type}:${(payload as { task: SessionTask }).task.sessionId}`)
        })
        await registry.create(base('s1'))
        await registry.create(base('s2'))
        await registry.create(base('s1'))
        unsubscribe()
        await registry.create(base('s3'))
        expect(all).toEqual(['s1:task.created:s1', 's2:task.created:s2', 's1:task.created:s1'])
      })

      it('unsubscribe functions and emitter.off stop delivery', async () => {
        const { registry } = await setup()
        const calls: string[] = []
        const offSub = registry.subscribe('s1', () => calls.push('subscribe'))
        const typed = () => calls.push('typed')
        const wildcard = () => calls.push('wildcard')
        registry.events('s1').on('task.created', typed)
        registry.events('s1').on('*', wildcard)
        const offAll = registry.subscribeAll(() => calls.push('all'))
        await registry.create(base('s1'))
        expect(calls.slice().sort()).toEqual(['all', 'subscribe', 'typed', 'wildcard'])
        calls.length = 0
        offSub()
        offAll()
        registry.events('s1').off('task.created', typed)
        registry.events('s1').off('*', wildcard)
        await registry.create(base('s1'))
        expect(calls).toEqual([])
      })

      it('events are delivered before the operation’s promise resolves', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const counts: number[] = []
        const note = <T>(value: T): T => {
          counts.push(seen.length)
          return value
        }
        const task = await h.registry.create(base('s1', { wakePolicy: 'on_activity' })).then(note)
        await h.registry.update('s1', task.id, { state: 'running' }).then(note)
        await h.registry.recordMessage('s1', task.id, inbound('x')).then(note)
        await h.registry.recordMessage('s1', task.id, outbound('y')).then(note)
        await h.registry
          .update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
          .then(note)
        await h.registry.recordMessage('s1', task.id, inbound('a', { inReplyTo: 'q' })).then(note)
        await h.registry.requestCancel('s1', task.id).then(note)
        await h.registry.publishOutput('s1', task.id, { stream: 'o', delta: 'd' }).then(note)
        await h.registry.update('s1', task.id, { state: 'canceled' }).then(note)
        // created | updated | sent | received+wake | updated+wake | sent+updated | updated | output | updated+wake
        expect(counts).toEqual([1, 2, 3, 5, 7, 9, 10, 11, 13])
      })

      it('events arrive in operation order', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const a = await h.registry.create(base('s1', { displayName: 'A' }))
        const b = await h.registry.create(base('s1', { displayName: 'B' }))
        await h.registry.update('s1', b.id, { state: 'running' })
        await h.registry.recordMessage('s1', a.id, outbound('x'))
        await h.registry.update('s1', a.id, { inputRequest: { id: 'q', prompt: 'p' } })
        await h.registry.recordMessage('s1', a.id, inbound('y', { inReplyTo: 'q' }))
        await h.registry.requestCancel('s1', b.id)
        const summary = seen.map((e) => {
          const p = e.payload as { task?: SessionTask; taskId?: string }
          return `${e.type}:${p.task?.displayName ?? p.taskId}`
        })
        expect(summary).toEqual([
          'task.created:A',
          'task.created:B',
          'task.updated:B',
          `task.message.received:${a.id}`,
          'task.updated:A',
          `task.message.sent:${a.id}`,
          'task.updated:A',
          'task.updated:B',
        ])
      })

      it('task.updated carries a full snapshot, unchanged fields included', async () => {
        const h = await setup()
        const task = await h.registry.create(base('s1', { spec: { keep: true } }))
        await h.registry.update('s1', task.id, {
          progress: { current: 1, total: 2 },
          workerId: 'w',
        })
        const seen = h.record('s1')
        h.tick()
        const updated = await h.registry.update('s1', task.id, { stateDetail: 'halfway' })
        expect(seen).toEqual([{ type: 'task.updated', payload: { task: updated } }])
        expectNoEmptyKeys(taskOf(seen[0] as Seen))
      })

      it('a throwing listener never fails the operation nor stops other listeners; onListenerError gets it', async () => {
        const h = await setup()
        const boomTyped = new Error('typed boom')
        const boomWildcard = new Error('wildcard boom')
        const boomAll = new Error('global boom')
        const calls: string[] = []
        const emitter = h.registry.events('s1')
        emitter.on('task.created', () => {
          calls.push('typed-1')
          throw boomTyped
        })
        emitter.on('task.created', () => calls.push('typed-2'))
        emitter.on('*', () => {
          calls.push('wildcard-1')
          throw boomWildcard
        })
        h.registry.subscribe('s1', () => calls.push('subscribe'))
        h.registry.subscribeAll(() => {
          calls.push('all-1')
          throw boomAll
        })
        h.registry.subscribeAll(() => calls.push('all-2'))
        const task = await h.registry.create(base('s1'))
        expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
        expect(calls.slice().sort()).toEqual(
          ['typed-1', 'typed-2', 'wildcard-1', 'subscribe', 'all-1', 'all-2'].sort(),
        )
        expect(h.listenerErrors.map((e) => e.error).sort()).toEqual(
          [boomTyped, boomWildcard, boomAll].sort(),
        )
        for (const e of h.listenerErrors) {
          expect(e.type).toBe('task.created')
          expect(e.payload).toEqual({ task: toPublicTask(task) })
        }
        calls.length = 0
        const updated = await h.registry.update('s1', task.id, { state: 'running' })
        expect(updated?.state).toBe('running')
        expect(calls.slice().sort()).toEqual(['all-1', 'all-2', 'subscribe', 'wildcard-1'])
        expect(h.listenerErrors).toHaveLength(5)
        expect(h.listenerErrors.slice(3).every((e) => e.type === 'task.updated')).toBe(true)
      })

      it('a listener may write back into the registry; every listener still sees operation order', async () => {
        const { registry } = await setup()
        const first: string[] = []
        const second: string[] = []
        const global: string[] = []
        const show = (type: string, payload: unknown) => {
          const task = (payload as { task?: SessionTask }).task
          return task === undefined ? type : `${type}:${task.state}`
        }
        let nested: Promise<SessionTask | undefined> | undefined
        registry.events('s1').on('task.created', ({ task }) => {
          first.push(show('task.created', { task }))
          nested = registry.update('s1', task.id, { state: 'running' })
        })
        registry
          .events('s1')
          .on('task.updated', ({ task }) => first.push(show('task.updated', { task })))
        registry.subscribe('s1', (type, payload) => second.push(show(type, payload)))
        registry.subscribeAll((_s, type, payload) => global.push(show(type, payload)))
        const created = await registry.create(base('s1'))
        expect(created.state).toBe('queued')
        expect((await nested)?.state).toBe('running')
        const expected = ['task.created:queued', 'task.updated:running']
        expect(first).toEqual(expected)
        expect(second).toEqual(expected)
        expect(global).toEqual(expected)
        expect((await registry.get('s1', created.id))?.state).toBe('running')
      })

      it('events follow the write: a read started inside a listener sees it', async () => {
        const { registry } = await setup()
        const reads: Promise<SessionTask | undefined>[] = []
        const listReads: Promise<SessionTask[]>[] = []
        registry.subscribe('s1', (type, payload) => {
          if (type === 'task.created' || type === 'task.updated') {
            const { task } = payload as { task: SessionTask }
            reads.push(registry.get('s1', task.id))
            listReads.push(registry.list('s1'))
          }
        })
        const task = await registry.create(base('s1'))
        const updated = await registry.update('s1', task.id, { state: 'running' })
        expect(await Promise.all(reads)).toStrictEqual([task, updated])
        const lists = await Promise.all(listReads)
        expect(lists[0]?.map((t) => t.id)).toEqual([task.id])
        expect(lists[1]?.[0]?.state).toBe('running')
      })

      it('listeners of one session are never told about another session', async () => {
        const h = await setup()
        const s2 = h.record('s2')
        const s2typed: unknown[] = []
        h.registry.events('s2').on('task.created', (p) => s2typed.push(p))
        h.registry.events('s2').on('*', (type) => s2typed.push(type))
        const t = await h.registry.create(base('s1', { wakePolicy: 'on_activity' }))
        await h.registry.update('s1', t.id, { state: 'succeeded' })
        await h.registry.recordMessage('s1', t.id, outbound('x'))
        await h.registry.publishOutput('s1', t.id, { stream: 'o', delta: 'd' })
        expect(s2).toEqual([])
        expect(s2typed).toEqual([])
      })

      it('now() is the injected clock', async () => {
        const { registry, at } = await setup()
        expect(registry.now().toISOString()).toBe(new Date(T0).toISOString())
        const later = at(42_000)
        expect(registry.now().toISOString()).toBe(later)
      })
    })

    // ------------------------------------------------------------------ wakes

    group('wakes', (it) => {
      const withPolicy = (wakePolicy: TaskWakePolicy, extra: Partial<CreateSessionTask> = {}) =>
        base('s1', { wakePolicy, state: 'running', displayName: 'Build', ...extra })

      for (const policy of ['on_terminal', 'on_activity'] as const) {
        it(`an ${policy} task entering a terminal state wakes once with the terminal text`, async () => {
          const h = await setup()
          for (const state of ['succeeded', 'failed', 'canceled'] as const) {
            const sid = `s-${state}`
            const t = await h.registry.create({ ...withPolicy(policy), sessionId: sid })
            const seen = h.record(sid)
            const at = h.tick()
            await h.registry.update(sid, t.id, { state })
            expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
            expect(wakesOf(seen)).toStrictEqual([
              {
                sessionId: sid,
                taskId: t.id,
                transition: 'terminal',
                text: `${label(t)} finished: ${state}.`,
                createdAt: at,
              },
            ])
          }
        })
      }

      it('the terminal text adds summary and result_path lines when non-empty', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const a = await h.registry.create(withPolicy('on_terminal', { displayName: 'Both' }))
        await h.registry.update('s1', a.id, {
          state: 'succeeded',
          summary: 'all good',
          resultPath: '/.tasks/a/result.json',
        })
        const b = await h.registry.create(withPolicy('on_terminal', { displayName: 'Path only' }))
        await h.registry.update('s1', b.id, { state: 'failed', summary: '', resultPath: '/r.json' })
        const c = await h.registry.create(
          withPolicy('on_terminal', { displayName: 'Summary only' }),
        )
        await h.registry.update('s1', c.id, { summary: 'early' })
        await h.registry.update('s1', c.id, { state: 'canceled', resultPath: '' })
        expect(wakesOf(seen).map((w) => w.text)).toEqual([
          `${label(a)} finished: succeeded.\n- summary: all good\n- result_path: /.tasks/a/result.json`,
          `${label(b)} finished: failed.\n- result_path: /r.json`,
          `${label(c)} finished: canceled.\n- summary: early`,
        ])
      })

      it('a silent task never wakes', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const t = await h.registry.create(withPolicy('silent'))
        await h.registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
        await h.registry.recordMessage('s1', t.id, outbound('hi'))
        await h.registry.update('s1', t.id, { state: 'succeeded' })
        expect(wakesOf(seen)).toEqual([])
        expect(seen.map((e) => e.type)).toContain('task.updated')
      })

      it('the same terminal state again, or later content, does not wake again', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        await h.registry.update('s1', t.id, { state: 'succeeded' })
        const seen = h.record('s1')
        await h.registry.update('s1', t.id, { state: 'succeeded', summary: 'more' })
        await h.registry.update('s1', t.id, { resultPath: '/x' })
        await h.registry.update('s1', t.id, { state: 'failed' })
        expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.updated'])
      })

      it('an on_activity task entering awaiting_input wakes with the prompt', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        const at = h.tick()
        await h.registry.update('s1', t.id, {
          inputRequest: { id: 'q1', prompt: 'Which branch?' },
        })
        expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
        expect(wakesOf(seen)).toStrictEqual([
          {
            sessionId: 's1',
            taskId: t.id,
            transition: 'awaiting_input',
            text: `${label(t)} is awaiting input: Which branch?`,
            createdAt: at,
          },
        ])
      })

      it('awaiting_input without a request uses the default prompt', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity', { displayName: 'X' }))
        const seen = h.record('s1')
        await h.registry.update('s1', t.id, { state: 'awaiting_input' })
        expect(wakesOf(seen).map((w) => w.text)).toEqual([
          `Task "X" (${t.id}) is awaiting input: Task is awaiting input.`,
        ])
      })

      it('an input request overriding a terminal ask wakes once, for awaiting_input', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        await h.registry.update('s1', t.id, {
          state: 'succeeded',
          inputRequest: { id: 'q', prompt: 'p' },
        })
        expect(wakesOf(seen).map((w) => w.transition)).toEqual(['awaiting_input'])
      })

      it('on_terminal does not wake for awaiting_input, and a replaced request does not wake again', async () => {
        const h = await setup()
        const quiet = await h.registry.create(withPolicy('on_terminal'))
        const loud = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        await h.registry.update('s1', quiet.id, { inputRequest: { id: 'q', prompt: 'p' } })
        await h.registry.update('s1', loud.id, { inputRequest: { id: 'q1', prompt: 'first' } })
        await h.registry.update('s1', loud.id, { inputRequest: { id: 'q2', prompt: 'second' } })
        await h.registry.update('s1', loud.id, { state: 'awaiting_input' })
        expect(wakesOf(seen).map((w) => w.text)).toEqual([
          `${label(loud)} is awaiting input: first`,
        ])
      })

      it('answering a request and asking again wakes again', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        await h.registry.update('s1', t.id, { inputRequest: { id: 'q1', prompt: 'one' } })
        await h.registry.recordMessage('s1', t.id, inbound('answer', { inReplyTo: 'q1' }))
        await h.registry.update('s1', t.id, { inputRequest: { id: 'q2', prompt: 'two' } })
        expect(seen.map((e) => e.type)).toEqual([
          'task.updated',
          'task.wake',
          'task.message.sent',
          'task.updated',
          'task.updated',
          'task.wake',
        ])
        expect(wakesOf(seen).map((w) => w.text)).toEqual([
          `${label(t)} is awaiting input: one`,
          `${label(t)} is awaiting input: two`,
        ])
      })

      it('an outbound message under on_activity wakes after the message event', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        const at = h.tick()
        await h.registry.recordMessage('s1', t.id, {
          direction: 'outbound',
          content: [
            { type: 'text', text: 'line 1' },
            { type: 'data', data: { skip: true } },
            { type: 'text', text: 'line 2' },
          ],
        })
        expect(seen.map((e) => e.type)).toEqual(['task.message.received', 'task.wake'])
        expect(wakesOf(seen)).toStrictEqual([
          {
            sessionId: 's1',
            taskId: t.id,
            transition: 'message',
            text: `${label(t)} sent a message: line 1\nline 2`,
            createdAt: at,
          },
        ])
      })

      it('an empty, whitespace-only or data-only outbound message wakes as a structured progress update', async () => {
        const h = await setup()
        const t = await h.registry.create(withPolicy('on_activity'))
        const seen = h.record('s1')
        await h.registry.recordMessage('s1', t.id, outbound(''))
        await h.registry.recordMessage('s1', t.id, outbound('  \n\t '))
        await h.registry.recordMessage('s1', t.id, {
          direction: 'outbound',
          content: [{ type: 'data', data: { pct: 50 } }],
        })
        const expected = `${label(t)} sent a message: structured progress update`
        expect(wakesOf(seen).map((w) => w.text)).toEqual([expected, expected, expected])
      })

      it('inbound messages, on_terminal messages, requestCancel and output never wake', async () => {
        const h = await setup()
        const activity = await h.registry.create(withPolicy('on_activity'))
        const terminal = await h.registry.create(withPolicy('on_terminal'))
        const seen = h.record('s1')
        await h.registry.recordMessage('s1', activity.id, inbound('hi'))
        await h.registry.recordMessage('s1', terminal.id, outbound('hi'))
        await h.registry.requestCancel('s1', activity.id)
        await h.registry.requestCancel('s1', terminal.id)
        await h.registry.publishOutput('s1', activity.id, { stream: 'o', delta: 'd' })
        expect(seen.map((e) => e.type)).toEqual([
          'task.message.sent',
          'task.message.received',
          'task.updated',
          'task.updated',
          'task.output',
        ])
      })

      it('create never wakes, even in a terminal or awaiting state', async () => {
        const h = await setup()
        const seen = h.record('s1')
        for (const wakePolicy of ['on_terminal', 'on_activity'] as const) {
          for (const state of ['succeeded', 'failed', 'canceled', 'awaiting_input'] as const) {
            await h.registry.create(base('s1', { wakePolicy, state }))
          }
        }
        expect(seen).toHaveLength(8)
        expect(wakesOf(seen)).toEqual([])
      })

      it('subscribeAll sees wakes with their session id', async () => {
        const h = await setup()
        const all = h.recordAll()
        const t = await h.registry.create(base('s9', { wakePolicy: 'on_terminal' }))
        await h.registry.update('s9', t.id, { state: 'succeeded' })
        const wake = all.find((e) => e.type === 'task.wake')
        expect(wake?.sessionId).toBe('s9')
        expect((wake?.payload as TaskWake | undefined)?.sessionId).toBe('s9')
      })
    })

    // ------------------------------------------------------------------ secrets

    group('secrets', (it) => {
      it('event payloads carry the redacted projection; return values carry the full record', async () => {
        const h = await setup()
        const all = h.recordAll()
        const created = await h.registry.create(base('s1', { spec: SECRET_SPEC }))
        expect(created.spec).toEqual(SECRET_SPEC)
        const updated = await h.registry.update('s1', created.id, { state: 'running' })
        expect(updated?.spec).toEqual(SECRET_SPEC)
        expect((await h.registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
        expect((await h.registry.list('s1'))[0]?.spec).toEqual(SECRET_SPEC)
        const canceled = await h.registry.requestCancel('s1', created.id)
        expect(canceled?.spec).toEqual(SECRET_SPEC)
        const outcome = await h.registry.updateWithOutcome('s1', created.id, { summary: 's' })
        expect(outcome?.task.spec).toEqual(SECRET_SPEC)
        expect(all.map((e) => e.type)).toEqual([
          'task.created',
          'task.updated',
          'task.updated',
          'task.updated',
        ])
        for (const e of all) expect(taskOf(e).spec).toEqual(REDACTED_SPEC)
        expect(taskOf(all[0] as SeenAll)).toEqual({ ...created, spec: REDACTED_SPEC })
        expect(JSON.stringify(all)).not.toContain('s3cr3t')
        await h.registry.update('s1', created.id, { heartbeatAt: '2020-01-01T00:00:00.000Z' })
        const stale = await h.registry.listStale({ heartbeatBefore: new Date(T0) })
        expect(stale[0]?.spec).toEqual(SECRET_SPEC)
        await h.registry.update('s1', created.id, { state: 'succeeded' })
        h.tick()
        const pruned = await h.registry.prune({ finishedBefore: new Date(h.iso()) })
        expect(pruned[0]?.spec).toEqual(SECRET_SPEC)
      })

      it('redacts only top-level push_configs object elements with an own secret key', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const spec = {
          push_configs: [
            { url: 'a', secret: null },
            { url: 'b', secret: '' },
            { url: 'c' },
            'plain',
            ['secret'],
            null,
          ],
          nested: { push_configs: [{ secret: 'deep' }] },
          secret: 'top',
        }
        const created = await h.registry.create(base('s1', { spec }))
        expect(created.spec).toEqual(spec)
        expect(taskOf(seen[0] as Seen).spec).toEqual({
          push_configs: [
            { url: 'a', has_secret: true },
            { url: 'b', has_secret: true },
            { url: 'c' },
            'plain',
            ['secret'],
            null,
          ],
          nested: { push_configs: [{ secret: 'deep' }] },
          secret: 'top',
        })
        const notArray = await h.registry.create(
          base('s1', { spec: { push_configs: { secret: 'x' } } }),
        )
        expect(taskOf(seen[1] as Seen).spec).toEqual(notArray.spec)
      })

      it('mutating a redacted event payload never reaches the stored secret', async () => {
        const { registry } = await setup()
        registry.events('s1').on('task.created', ({ task }) => {
          const spec = task.spec as { prompt: string; push_configs: Record<string, unknown>[] }
          spec.prompt = 'evil'
          for (const config of spec.push_configs) {
            config.url = 'https://evil'
            config.secret = 'replaced'
          }
        })
        const created = await registry.create(base('s1', { spec: SECRET_SPEC }))
        expect(created.spec).toEqual(SECRET_SPEC)
        expect((await registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
      })
    })

    // ------------------------------------------------------------------ immutability

    group('immutability', (it) => {
      const richUpdate = (): SessionTaskUpdate => ({
        state: 'running',
        progress: { current: 1, steps: [{ title: 'step', status: 'in_progress' }] },
        artifacts: [{ name: 'out', type: 'file', path: '/out' }],
        links: { resourceIds: ['r1'] },
        error: { kind: 'k', message: 'm' },
      })

      // Every write to a frozen value throws a TypeError in strict mode (ES modules are strict).
      function vandalize(value: SessionTask): void {
        const task = value as Writable<SessionTask>
        expectDeepFrozen(task)
        const attempts: (() => void)[] = [
          () => {
            task.displayName = 'hacked'
          },
          () => {
            task.state = 'failed'
          },
          () => task.links.resourceIds.push('evil'),
          () => task.artifacts.push({ name: 'evil', type: 'file' }),
        ]
        const spec = task.spec as { nested?: { v: number } } | null
        if (spec?.nested !== undefined) {
          const nested = spec.nested
          attempts.push(() => {
            nested.v = 999
          })
        }
        const artifact = task.artifacts[0]
        if (artifact !== undefined) {
          attempts.push(() => {
            artifact.name = 'evil'
          })
        }
        const steps = task.progress?.steps
        if (steps !== undefined) attempts.push(() => steps.push({ title: 'evil', status: 'done' }))
        const error = task.error
        if (error !== undefined) {
          attempts.push(() => {
            error.kind = 'evil'
          })
        }
        for (const attempt of attempts) expect(attempt).toThrow(TypeError)
      }

      async function prepared() {
        const h = await setup()
        const created = await h.registry.create(
          base('s1', { spec: { nested: { v: 1 } }, links: { resourceIds: ['r0'] } }),
        )
        const updated = (await h.registry.update('s1', created.id, richUpdate())) as SessionTask
        const snapshot = structuredClone(updated) as SessionTask
        return { ...h, created, updated, snapshot }
      }

      it('records returned by create, update, get, list and requestCancel are deeply frozen', async () => {
        const { registry, created, updated, snapshot } = await prepared()
        vandalize(created)
        vandalize(updated)
        vandalize((await registry.get('s1', snapshot.id)) as SessionTask)
        for (const t of await registry.list('s1')) vandalize(t)
        const outcome = await registry.updateWithOutcome('s1', snapshot.id, {})
        vandalize((outcome as { task: SessionTask }).task)
        expect(await registry.get('s1', snapshot.id)).toStrictEqual(snapshot)
        const canceled = (await registry.requestCancel('s1', snapshot.id)) as SessionTask
        const afterCancel = structuredClone(canceled)
        vandalize(canceled)
        expect(await registry.get('s1', snapshot.id)).toStrictEqual(afterCancel)
      })

      it('an idempotent create, a no-op and a dropped update return frozen records too', async () => {
        const { registry, snapshot } = await prepared()
        vandalize(await registry.create(base('s1', { id: 'fixed', spec: { nested: { v: 1 } } })))
        const fixedSnap = structuredClone(await registry.get('s1', 'fixed'))
        vandalize(await registry.create(base('s1', { id: 'fixed' })))
        vandalize((await registry.update('s1', snapshot.id, {})) as SessionTask)
        vandalize((await registry.update('s1', snapshot.id, { expectedAttempt: 9 })) as SessionTask)
        expect(await registry.get('s1', snapshot.id)).toStrictEqual(snapshot)
        expect(await registry.get('s1', 'fixed')).toStrictEqual(fixedSnap)
      })

      it('records returned by listStale and prune are deeply frozen', async () => {
        const { registry, snapshot } = await prepared()
        await registry.update('s1', snapshot.id, { heartbeatAt: '2020-01-01T00:00:00.000Z' })
        const stored = structuredClone(await registry.get('s1', snapshot.id))
        for (const t of await registry.listStale({ heartbeatBefore: new Date(T0) })) vandalize(t)
        expect(await registry.get('s1', snapshot.id)).toStrictEqual(stored)
        const done = await registry.create(
          base('s1', { state: 'succeeded', spec: { nested: { v: 1 } } }),
        )
        const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
        expect(pruned.map((t) => t.id)).toEqual([done.id])
        for (const t of pruned) vandalize(t)
        expect(await registry.get('s1', snapshot.id)).toStrictEqual(stored)
      })

      it('event payloads are deeply frozen and one object is shared by every listener', async () => {
        const h = await setup()
        const { registry } = h
        const byLocal: unknown[] = []
        const byAll: unknown[] = []
        registry.subscribe('s1', (type, payload) => {
          byLocal.push(payload)
          expectDeepFrozen(payload)
          if (type === 'task.created' || type === 'task.updated') {
            ;(payload as Writable<{ task: SessionTask }>).task.summary = 'evil'
          } else if (type === 'task.message.received') {
            const p = payload as Writable<SessionTaskEvents['task.message.received']>
            p.message.content.push({ type: 'text', text: 'evil' })
          } else if (type === 'task.wake') {
            ;(payload as Writable<TaskWake>).text = 'evil'
          }
        })
        registry.subscribeAll((_s, _type, payload) => {
          byAll.push(payload)
        })
        const created = await registry.create(
          base('s1', { spec: { nested: { v: 1 } }, wakePolicy: 'on_activity' }),
        )
        const updated = await registry.update('s1', created.id, richUpdate())
        const msg = await registry.recordMessage('s1', created.id, {
          direction: 'outbound',
          content: [{ type: 'data', data: { v: 1 } }],
        })
        expect(byLocal.length).toBeGreaterThanOrEqual(4)
        expect(byAll).toHaveLength(byLocal.length)
        for (let i = 0; i < byLocal.length; i++) expect(byAll[i]).toBe(byLocal[i])
        // Each write attempt threw inside the listener and went to onListenerError.
        expect(h.listenerErrors.length).toBe(byLocal.length)
        for (const report of h.listenerErrors) expect(report.error).toBeInstanceOf(TypeError)
        const stored = await registry.get('s1', created.id)
        expect(stored).toStrictEqual(updated)
        expect(stored?.summary).toBeUndefined()
        expect(await registry.listMessages('s1', created.id)).toStrictEqual([msg])
        expect(msg.content).toEqual([{ type: 'data', data: { v: 1 } }])
      })

      it('returned messages are deeply frozen', async () => {
        const { registry } = await setup()
        const t = await registry.create(base('s1'))
        const msg = await registry.recordMessage('s1', t.id, {
          direction: 'outbound',
          content: [
            { type: 'text', text: 'hello' },
            { type: 'data', data: { list: [1, 2] } },
          ],
        })
        const copy = structuredClone(msg)
        const mangle = (value: TaskMessage) => {
          const m = value as Writable<TaskMessage>
          expectDeepFrozen(m)
          expect(() => {
            m.id = 'tmsg_evil'
          }).toThrow(TypeError)
          expect(() => m.content.push({ type: 'text', text: 'more' })).toThrow(TypeError)
          const second = m.content[1]
          if (second?.type === 'data') {
            expect(() => (second.data as number[][] & { list: number[] }).list.push(3)).toThrow(
              TypeError,
            )
          }
        }
        mangle(msg)
        for (const m of await registry.listMessages('s1', t.id)) mangle(m)
        expect(await registry.listMessages('s1', t.id)).toStrictEqual([copy])
        expect(await registry.listMessages('s1', t.id, { afterId: copy.id })).toEqual([])
      })

      it('mutating the caller’s input objects after the call changes nothing', async () => {
        const { registry } = await setup()
        const createInput = base('s1', {
          spec: { nested: { v: 1 }, list: [1] },
          links: { resourceIds: ['r0'] },
        }) as Writable<CreateSessionTask>
        const created = await registry.create(createInput)
        ;(createInput.spec as { nested: { v: number } }).nested.v = 999
        ;(createInput.spec as { list: number[] }).list.push(2)
        createInput.links?.resourceIds?.push('evil')
        createInput.displayName = 'evil'
        expect(await registry.get('s1', created.id)).toStrictEqual(created)
        expect(created.spec).toEqual({ nested: { v: 1 }, list: [1] })

        const update = {
          ...richUpdate(),
          appendArtifact: { name: 'extra', type: 'url', url: 'https://x' },
        } as Writable<SessionTaskUpdate>
        const updated = await registry.update('s1', created.id, update)
        update.progress?.steps?.push({ title: 'evil', status: 'done' })
        if (update.progress?.steps?.[0] !== undefined) update.progress.steps[0].title = 'evil'
        update.artifacts?.push({ name: 'evil', type: 'file' })
        if (update.artifacts?.[0] !== undefined) update.artifacts[0].name = 'evil'
        if (update.appendArtifact !== undefined) update.appendArtifact.name = 'evil'
        update.links?.resourceIds?.push('evil')
        if (update.error !== undefined) update.error.kind = 'evil'
        expect(await registry.get('s1', created.id)).toStrictEqual(updated)

        const request = { id: 'q', prompt: 'p', expected: { choices: ['a'] } }
        const waiting = await registry.update('s1', created.id, { inputRequest: request })
        request.expected.choices.push('evil')
        request.prompt = 'evil'
        expect(await registry.get('s1', created.id)).toStrictEqual(waiting)

        const content: Writable<NewTaskMessage['content']> = [
          { type: 'text', text: 'hi' },
          { type: 'data', data: { deep: { v: 1 } } },
        ]
        const msgInput: Writable<NewTaskMessage> = { direction: 'outbound', content }
        const msg = await registry.recordMessage('s1', created.id, msgInput)
        content.push({ type: 'text', text: 'evil' })
        const first = content[0]
        if (first?.type === 'text') first.text = 'evil'
        const second = content[1]
        if (second?.type === 'data') (second.data as { deep: { v: number } }).deep.v = 999
        msgInput.direction = 'inbound'
        expect(await registry.listMessages('s1', created.id)).toStrictEqual([msg])
        expect(msg.content).toEqual([
          { type: 'text', text: 'hi' },
          { type: 'data', data: { deep: { v: 1 } } },
        ])
      })
    })

    // ------------------------------------------------------------------ values

    group('stored values', (it) => {
      it('JSON values round-trip: nesting, numbers, unicode, __proto__ as own data, undefined dropped', async () => {
        const { registry } = await setup()
        const spec = JSON.parse(
          '{"__proto__":{"polluted":true},"a":[1,-2.5,0.1,1e300,9007199254740991,"x",null,true,false,{}],"b":{"c":[[],[{}]]},"u":"héllo ✓ 😀 \\"quoted\\" \\\\ \\n\\t","":"empty key","n":null}',
        ) as Record<string, unknown>
        const withUndefined = { ...spec, gone: undefined, list: [1, { keep: 1, drop: undefined }] }
        const task = await registry.create(
          base('s1', { spec: withUndefined as unknown as CreateSessionTask['spec'] }),
        )
        const stored = (await registry.get('s1', task.id))?.spec as Record<string, unknown>
        for (const value of [task.spec as Record<string, unknown>, stored]) {
          expect(Object.hasOwn(value, '__proto__')).toBe(true)
          expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({
            polluted: true,
          })
          expect(value.a).toEqual(spec.a)
          expect(value.b).toEqual(spec.b)
          expect(value.u).toBe(spec.u)
          expect(value['']).toBe('empty key')
          expect(value.n).toBeNull()
          expect(Object.hasOwn(value, 'gone')).toBe(false)
          expect(value.list).toEqual([1, { keep: 1 }])
          expect(Object.hasOwn((value.list as object[])[1] as object, 'drop')).toBe(false)
        }
        expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
      })

      it('JSON nested 64 deep round-trips in spec, input requests and data parts', async () => {
        const { registry } = await setup()
        let deep: unknown = 'bottom'
        for (let i = 0; i < 63; i++) deep = [deep]
        const task = await registry.create(
          base('s1', { state: 'running', spec: deep as CreateSessionTask['spec'] }),
        )
        expect((await registry.get('s1', task.id))?.spec).toEqual(deep)
        await registry.update('s1', task.id, {
          inputRequest: { id: 'q', prompt: 'p', expected: deep as CreateSessionTask['spec'] },
        })
        expect((await registry.get('s1', task.id))?.inputRequest?.expected).toEqual(deep)
        await registry.recordMessage('s1', task.id, {
          direction: 'outbound',
          content: [{ type: 'data', data: deep as NonNullable<CreateSessionTask['spec']> }],
        })
        const [m] = await registry.listMessages('s1', task.id)
        expect(m?.content).toEqual([{ type: 'data', data: deep }])
      })

      it('strings keep every character, NUL and line breaks included', async () => {
        const { registry } = await setup()
        const odd = 'a\u0000b\r\n\u2028c\u007f😀'
        const task = await registry.create(
          base('s1', {
            displayName: odd,
            kind: odd,
            spec: { [odd]: odd },
            state: 'running',
          }),
        )
        await registry.update('s1', task.id, {
          summary: odd,
          stateDetail: odd,
          error: { kind: odd, message: odd },
          appendArtifact: { name: odd, type: odd, path: odd },
        })
        const stored = await registry.get('s1', task.id)
        expect(stored?.displayName).toBe(odd)
        expect(stored?.kind).toBe(odd)
        expect(stored?.spec).toEqual({ [odd]: odd })
        expect(stored?.summary).toBe(odd)
        expect(stored?.error).toEqual({ kind: odd, message: odd })
        expect(stored?.artifacts).toEqual([{ name: odd, type: odd, path: odd }])
        const msg = await registry.recordMessage('s1', task.id, {
          direction: 'outbound',
          content: [
            { type: 'text', text: odd },
            { type: 'data', data: { [odd]: [odd] } },
          ],
        })
        expect(await registry.listMessages('s1', task.id)).toStrictEqual([msg])
        expect(textOf(msg)).toBe(odd)
      })

      it('strings are stored exactly: surrogate pairs and astral characters kept', async () => {
        const { registry } = await setup()
        const odd = 'x\ud83d\ude00y\u{10FFFF}z\uFFFE'
        const task = await registry.create(base('s1', { displayName: odd, spec: { [odd]: odd } }))
        const stored = await registry.get('s1', task.id)
        expect(stored?.displayName).toBe(odd)
        expect(stored?.spec).toEqual({ [odd]: odd })
        const msg = await registry.recordMessage('s1', task.id, outbound(odd))
        expect((await registry.listMessages('s1', task.id))[0]).toStrictEqual(msg)
        expect(textOf(msg)).toBe(odd)
      })

      it('session ids that differ only in a lone surrogate are refused, never merged', async () => {
        const { registry } = await setup()
        await registry.create(base('victim', { id: 'secret-task', spec: { secret: 1 } }))
        for (const sid of ['victim\uD800', 'victim\uDBFF', 'victim\uDFFF']) {
          const error = await registry.get(sid, 'secret-task').then(
            () => NO_ERROR,
            (e: unknown) => e,
          )
          expect(isValidationError(error), `get with ${JSON.stringify(sid)}`).toBe(true)
        }
        expect(await registry.list('victim')).toHaveLength(1)
      })
    })

    // ------------------------------------------------------------------ isolation

    group('isolation', (it) => {
      it('a session can never read, change or be notified about another session’s task', async () => {
        const h = await setup()
        const a = await h.registry.create(base('A', { id: 'a-task', state: 'running' }))
        const m = await h.registry.recordMessage('A', a.id, outbound('secret talk'))
        const seenByB: string[] = []
        h.registry.events('B').on('*', (type) => seenByB.push(type))
        h.registry.subscribe('B', (type) => seenByB.push(type))
        const all = h.recordAll()
        h.tick()

        expect(await h.registry.get('B', a.id)).toBeUndefined()
        expect(await h.registry.list('B')).toEqual([])
        expect(await h.registry.list('B', { kind: a.kind })).toEqual([])
        expect(await h.registry.update('B', a.id, { state: 'failed' })).toBeUndefined()
        expect(await h.registry.updateWithOutcome('B', a.id, { state: 'failed' })).toBeUndefined()
        expect(await h.registry.requestCancel('B', a.id)).toBeUndefined()
        expect(await h.registry.publishOutput('B', a.id, { stream: 'o', delta: 'd' })).toBe(false)
        expect(
          isTaskNotFoundError(
            await caught(() => h.registry.recordMessage('B', a.id, inbound('x'))),
          ),
        ).toBe(true)
        expect(await h.registry.listMessages('B', a.id)).toEqual([])
        expect(await h.registry.listMessages('B', a.id, { afterId: m.id })).toEqual([])
        expect(
          isTaskConflictError(await caught(() => h.registry.create(base('B', { id: a.id })))),
        ).toBe(true)
        expect(await h.registry.deleteSession('B')).toBe(0)

        expect(all).toEqual([])
        expect(await h.registry.get('A', a.id)).toStrictEqual(a)
        expect(await h.registry.listMessages('A', a.id)).toStrictEqual([m])

        h.registry.events('B').on('*', (type) => seenByB.push(type))
        await h.registry.update('A', a.id, { summary: 'progress' })
        await h.registry.recordMessage('A', a.id, outbound('more'))
        await h.registry.requestCancel('A', a.id)
        expect(seenByB).toEqual([])
      })
    })

    // ------------------------------------------------------------------ listStale

    group('listStale', (it) => {
      const hb = (ms: number) => new Date(T0 + ms).toISOString()

      it('returns queued and running tasks of every session with a heartbeat strictly before the cutoff', async () => {
        const { registry } = await setup()
        const mk = async (sessionId: string, name: string, heartbeat: number | undefined) => {
          const t = await registry.create(base(sessionId, { displayName: name, state: 'running' }))
          if (heartbeat !== undefined)
            await registry.update(sessionId, t.id, { heartbeatAt: hb(heartbeat) })
          return t
        }
        const queued = await registry.create(base('s1', { displayName: 'queued' }))
        await registry.update('s1', queued.id, { heartbeatAt: hb(-3000) })
        await mk('s1', 'running-old', -2000)
        await mk('s2', 'other-session', -1000)
        await mk('s1', 'at-cutoff', 0)
        await mk('s1', 'fresh', 1000)
        await mk('s1', 'no-heartbeat', undefined)
        const awaiting = await mk('s1', 'awaiting', -5000)
        await registry.update('s1', awaiting.id, { inputRequest: { id: 'q', prompt: 'p' } })
        for (const state of ['succeeded', 'failed', 'canceled'] as const) {
          const t = await mk('s1', state, -5000)
          await registry.update('s1', t.id, { state })
        }
        const stale = await registry.listStale({ heartbeatBefore: new Date(T0) })
        expect(stale.map((t) => t.displayName)).toEqual(['queued', 'running-old', 'other-session'])
        expect(stale[0]).toStrictEqual(await registry.get('s1', queued.id))
      })

      it('orders by heartbeatAt, then createdAt, and honours limit', async () => {
        const { registry, at } = await setup()
        const mk = async (sessionId: string, name: string, created: number, heartbeat: number) => {
          at(created)
          const t = await registry.create(base(sessionId, { displayName: name, state: 'running' }))
          await registry.update(sessionId, t.id, { heartbeatAt: hb(heartbeat) })
        }
        await mk('s1', 'hb2-late', 9000, 2000)
        await mk('s2', 'hb2-early', 1000, 2000)
        await mk('s1', 'hb1', 5000, 1000)
        await mk('s3', 'hb3', 500, 3000)
        const cutoff = new Date(T0 + 100_000)
        const names = (await registry.listStale({ heartbeatBefore: cutoff })).map(
          (t) => t.displayName,
        )
        expect(names).toEqual(['hb1', 'hb2-early', 'hb2-late', 'hb3'])
        const two = await registry.listStale({ heartbeatBefore: cutoff, limit: 2 })
        expect(two.map((t) => t.displayName)).toEqual(['hb1', 'hb2-early'])
      })

      it('returns at most 100 tasks by default, the oldest heartbeats', async () => {
        const { registry } = await setup()
        for (let i = 0; i < 105; i++) {
          const sid = `s${i % 3}`
          const t = await registry.create(base(sid, { displayName: `t${i}`, state: 'running' }))
          await registry.update(sid, t.id, { heartbeatAt: hb(-200_000 + i * 10) })
        }
        const stale = await registry.listStale({ heartbeatBefore: new Date(T0) })
        expect(stale).toHaveLength(100)
        expect(stale[0]?.displayName).toBe('t0')
        expect(stale[99]?.displayName).toBe('t99')
      })

      it('changes nothing and emits nothing', async () => {
        const h = await setup()
        const t = await h.registry.create(base('s1', { state: 'running' }))
        const beat = await h.registry.update('s1', t.id, { heartbeatAt: hb(-1000) })
        const all = h.recordAll()
        await h.registry.listStale({ heartbeatBefore: new Date(T0) })
        expect(all).toEqual([])
        expect(await h.registry.get('s1', t.id)).toStrictEqual(beat)
      })
    })

    // ------------------------------------------------------------------ prune

    group('prune', (it) => {
      it('deletes terminal tasks of every session finished strictly before the cutoff, oldest first', async () => {
        const h = await setup()
        const finish = async (sessionId: string, name: string, ms: number) => {
          h.at(ms - 500)
          const t = await h.registry.create(base(sessionId, { displayName: name }))
          h.at(ms)
          return (await h.registry.update(sessionId, t.id, { state: 'succeeded' })) as SessionTask
        }
        const late = await finish('s1', 'late', 3000)
        const early = await finish('s2', 'early', 1000)
        const mid = await finish('s1', 'mid', 2000)
        const atCutoff = await finish('s1', 'at-cutoff', 5000)
        const all = h.recordAll()
        const pruned = await h.registry.prune({ finishedBefore: new Date(T0 + 5000) })
        expect(pruned).toStrictEqual([early, mid, late])
        expect(await h.registry.get('s1', late.id)).toBeUndefined()
        expect(await h.registry.get('s2', early.id)).toBeUndefined()
        expect(await h.registry.list('s1')).toStrictEqual([atCutoff])
        expect(await h.registry.list('s2')).toEqual([])
        expect(all).toEqual([])
      })

      it('never touches live tasks however old', async () => {
        const { registry, at } = await setup()
        at(-1_000_000)
        const queued = await registry.create(base('s1'))
        const running = await registry.create(base('s1', { state: 'running' }))
        const awaiting = await registry.create(base('s1', { state: 'running' }))
        const waiting = await registry.update('s1', awaiting.id, {
          inputRequest: { id: 'q', prompt: 'p' },
        })
        at(0)
        expect(await registry.prune({ finishedBefore: new Date(T0 + 10_000_000) })).toEqual([])
        expect(await registry.list('s1')).toStrictEqual([queued, running, waiting])
      })

      it('honours limit by pruning the oldest finishedAt first, then the oldest createdAt', async () => {
        const { registry, at } = await setup()
        for (const [name, created, finished] of [
          ['f3000', 0, 3000],
          ['f1000-late', 500, 1000],
          ['f1000-early', 100, 1000],
          ['f2000', 0, 2000],
        ] as const) {
          at(created)
          const t = await registry.create(base('s1', { displayName: name }))
          at(finished)
          await registry.update('s1', t.id, { state: 'failed' })
        }
        const pruned = await registry.prune({ finishedBefore: new Date(T0 + 10_000), limit: 3 })
        expect(pruned.map((t) => t.displayName)).toEqual(['f1000-early', 'f1000-late', 'f2000'])
        expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(['f3000'])
      })

      it('removes a pruned task’s messages and frees its caller id', async () => {
        const { registry, tick } = await setup()
        const t = await registry.create(base('s1', { id: 'job-1' }))
        await registry.recordMessage('s1', t.id, outbound('hello'))
        await registry.update('s1', t.id, { state: 'succeeded' })
        tick()
        const pruned = await registry.prune({ finishedBefore: new Date(T0 + 500) })
        expect(pruned.map((x) => x.id)).toEqual(['job-1'])
        const again = await registry.create(base('s2', { id: 'job-1', displayName: 'again' }))
        expect(again.displayName).toBe('again')
        expect(await registry.listMessages('s2', 'job-1')).toEqual([])
      })

      it('prunes at most 100 tasks by default', async () => {
        const { registry } = await setup()
        for (let i = 0; i < 105; i++) {
          await registry.create(base(`s${i % 2}`, { state: 'canceled' }))
        }
        const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
        expect(pruned).toHaveLength(100)
        const left = (await registry.list('s0')).length + (await registry.list('s1')).length
        expect(left).toBe(5)
      })
    })

    // ------------------------------------------------------------------ deleteSession

    group('deleteSession', (it) => {
      it('returns the number of tasks removed and leaves no task or message behind', async () => {
        const { registry } = await setup()
        const a = await registry.create(base('s1', { id: 'job-a' }))
        const b = await registry.create(base('s1', { state: 'succeeded' }))
        await registry.recordMessage('s1', a.id, outbound('hi'))
        await registry.update('s1', a.id, { state: 'running', heartbeatAt: '2020-01-01T00:00:00Z' })
        expect(await registry.deleteSession('s1')).toBe(2)
        expect(await registry.list('s1')).toEqual([])
        expect(await registry.get('s1', a.id)).toBeUndefined()
        expect(await registry.get('s1', b.id)).toBeUndefined()
        expect(await registry.listMessages('s1', a.id)).toEqual([])
        expect(await registry.listStale({ heartbeatBefore: new Date(T0) })).toEqual([])
        expect(await registry.prune({ finishedBefore: new Date(T0 + 1000) })).toEqual([])
        await registry.create(base('s1', { id: 'job-a' }))
        expect(await registry.listMessages('s1', 'job-a')).toEqual([])
        expect(await registry.deleteSession('unknown')).toBe(0)
      })

      it('frees the session’s caller ids for other sessions', async () => {
        const { registry } = await setup()
        await registry.create(base('s1', { id: 'job-x' }))
        await registry.deleteSession('s1')
        const moved = await registry.create(base('s2', { id: 'job-x' }))
        expect(moved.sessionId).toBe('s2')
      })

      it('emits nothing and leaves other sessions untouched', async () => {
        const h = await setup()
        await h.registry.create(base('s1'))
        const keep = await h.registry.create(base('s2'))
        const msg = await h.registry.recordMessage('s2', keep.id, outbound('kept'))
        const s2Seen: string[] = []
        h.registry.events('s2').on('*', (type) => s2Seen.push(type))
        const all = h.recordAll()
        expect(await h.registry.deleteSession('s1')).toBe(1)
        expect(all).toEqual([])
        expect(await h.registry.list('s2')).toStrictEqual([keep])
        expect(await h.registry.listMessages('s2', keep.id)).toStrictEqual([msg])
        await h.registry.update('s2', keep.id, { state: 'running' })
        expect(s2Seen).toEqual(['task.updated'])
      })

      it('removes the session’s listeners; subscribeAll listeners stay', async () => {
        const { registry } = await setup()
        const seen: string[] = []
        registry.events('s1').on('task.created', () => seen.push('typed'))
        registry.events('s1').on('*', () => seen.push('wildcard'))
        registry.subscribe('s1', () => seen.push('subscribe'))
        registry.subscribeAll((sid) => seen.push(`all:${sid}`))
        await registry.create(base('s1'))
        expect(seen.slice().sort()).toEqual(['all:s1', 'subscribe', 'typed', 'wildcard'])
        seen.length = 0
        await registry.deleteSession('s1')
        const fresh: string[] = []
        registry.events('s1').on('task.created', (p) => fresh.push(p.task.displayName))
        await registry.create(base('s1', { displayName: 'after' }))
        expect(seen).toEqual(['all:s1'])
        expect(fresh).toEqual(['after'])
      })
    })

    // ------------------------------------------------------------------ stream

    group('stream', (it) => {
      /** created, updated, wake (on_terminal) in `sessionId`: three events. */
      async function threeEvents(registry: SessionTaskRegistry, sessionId = 's1') {
        const t = await registry.create(
          base(sessionId, { wakePolicy: 'on_terminal', spec: SECRET_SPEC }),
        )
        await registry.update(sessionId, t.id, { state: 'succeeded' })
        return t
      }

      it('starts with an empty snapshot at seq 0 for a session without events', async () => {
        const h = await setup()
        const it = h.stream('s1')
        expect(await it.next()).toEqual({
          done: false,
          value: { seq: 0, type: 'snapshot', payload: { tasks: [] } },
        })
      })

      it('starts with a public snapshot at the last event’s seq, then live events', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        h.tick()
        await h.registry.create(base('s1', { displayName: 'second' }))
        const it = h.stream('s1')
        const [snapshot] = await take(it, 1)
        const expectedTasks = (await h.registry.list('s1')).map(toPublicTask)
        expect(snapshot).toEqual({ seq: 4, type: 'snapshot', payload: { tasks: expectedTasks } })
        const tasks = (snapshot as unknown as { payload: { tasks: SessionTask[] } }).payload.tasks
        expect(tasks.map((t) => t.displayName)).toEqual(['Job', 'second'])
        expect(tasks[0]?.spec).toEqual(REDACTED_SPEC)
        expect(JSON.stringify(snapshot)).not.toContain('s3cr3t')
        const pending = it.next()
        const created = await h.registry.create(base('s1', { displayName: 'live' }))
        expect(await pending).toEqual({
          done: false,
          value: { seq: 5, type: 'task.created', payload: { task: toPublicTask(created) } },
        })
      })

      it('live items carry the public projection and equal the listener payloads', async () => {
        const h = await setup()
        const seen = h.record('s1')
        const it = h.stream('s1')
        await take(it, 1)
        const t = await h.registry.create(
          base('s1', { spec: SECRET_SPEC, wakePolicy: 'on_activity' }),
        )
        const updated = await h.registry.update('s1', t.id, { state: 'running' })
        await h.registry.recordMessage('s1', t.id, outbound('hello'))
        await h.registry.publishOutput('s1', t.id, { stream: 'stdout', delta: 'x' })
        const items = await take(it, seen.length)
        expect(items).toEqual(seen.map((e, i) => ({ seq: i + 1, ...e })))
        expect(items[0]?.payload).toEqual({ task: { ...t, spec: REDACTED_SPEC } })
        expect(items[1]?.payload).toEqual({ task: { ...updated, spec: REDACTED_SPEC } })
        expect(JSON.stringify(items)).not.toContain('s3cr3t')
      })

      it('seq is per session, starts at 1 and grows by 1 with every event, output included', async () => {
        const h = await setup()
        const types: SessionTaskEventType[] = []
        h.registry.subscribe('s1', (type) => types.push(type))
        const t = await h.registry.create(
          base('s1', { wakePolicy: 'on_activity', state: 'running' }),
        )
        await h.registry.create(base('s2'))
        await h.registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
        await h.registry.create(base('s2'))
        await h.registry.recordMessage('s1', t.id, inbound('a', { inReplyTo: 'q' }))
        await h.registry.recordMessage('s1', t.id, outbound('b'))
        await h.registry.publishOutput('s1', t.id, { stream: 'stdout', delta: 'c' })
        await h.registry.requestCancel('s1', t.id)
        await h.registry.update('s1', t.id, { state: 'canceled' })
        expect(types).toHaveLength(11)
        const it = h.stream('s1', { since: 0 })
        const items = await take(it, types.length)
        expect(items.map((i) => i.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
        expect(items.map((i) => i.type)).toEqual(types)
        const it2 = h.stream('s2', { since: 0 })
        expect((await take(it2, 2)).map((i) => [i.seq, i.type])).toEqual([
          [1, 'task.created'],
          [2, 'task.created'],
        ])
      })

      it('since within the buffer replays the events after it, then live ones, without a snapshot', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        await threeEvents(h.registry)
        const it = h.stream('s1', { since: 4 })
        expect((await take(it, 2)).map((i) => [i.seq, i.type])).toEqual([
          [5, 'task.updated'],
          [6, 'task.wake'],
        ])
        const pending = it.next()
        await h.registry.create(base('s1', { displayName: 'live' }))
        const live = (await pending).value as StreamItem
        expect([live.seq, live.type]).toEqual([7, 'task.created'])
      })

      it('since equal to the latest seq gives only live events', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        const it = h.stream('s1', { since: 3 })
        const pending = it.next()
        await h.registry.create(base('s1'))
        const live = (await pending).value as StreamItem
        expect([live.seq, live.type]).toEqual([4, 'task.created'])
      })

      it('since older than the replay buffer falls back to a snapshot', async () => {
        const h = await setup({ replayBuffer: 3 })
        await threeEvents(h.registry)
        await h.registry.create(base('s1'))
        await h.registry.create(base('s1'))
        // seqs 1..5; the buffer holds 3..5
        for (const since of [0, 1]) {
          const it = h.stream('s1', { since })
          const [first] = await take(it, 1)
          expect(first?.type).toBe('snapshot')
          // Each pass adds one task (and one event) for the next.
          expect(first?.seq).toBe(5 + since)
          expect(
            (first as unknown as { payload: { tasks: SessionTask[] } }).payload.tasks,
          ).toHaveLength(3 + since)
          await h.registry.create(base('s1', { displayName: `after-${since}` }))
          const [next] = await take(it, 1)
          expect(next?.type).toBe('task.created')
          expect((next as { payload: { task: SessionTask } }).payload.task.displayName).toBe(
            `after-${since}`,
          )
        }
      })

      it('the oldest cursor the buffer can still serve replays without a snapshot', async () => {
        const h = await setup({ replayBuffer: 3 })
        await threeEvents(h.registry)
        await h.registry.create(base('s1'))
        await h.registry.create(base('s1'))
        const it = h.stream('s1', { since: 2 })
        expect((await take(it, 3)).map((i) => [i.seq, i.type])).toEqual([
          [3, 'task.wake'],
          [4, 'task.created'],
          [5, 'task.created'],
        ])
      })

      it('since ahead of the latest seq falls back to a snapshot', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        const it = h.stream('s1', { since: 99 })
        const [first] = await take(it, 1)
        expect(first).toEqual({
          seq: 3,
          type: 'snapshot',
          payload: { tasks: (await h.registry.list('s1')).map(toPublicTask) },
        })
        await h.registry.create(base('s1'))
        expect((await take(it, 1)).map((i) => i.seq)).toEqual([4])
      })

      it('delivers every event exactly once across the replay/live boundary', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        await threeEvents(h.registry)
        const it = h.stream('s1', { since: 2 })
        // Raised between stream() and the first next().
        await h.registry.create(base('s1'))
        const first = await it.next()
        // Raised while the replay is still being consumed.
        await h.registry.create(base('s1'))
        await threeEvents(h.registry)
        await h.registry.create(base('s1', { displayName: 'sentinel' }))
        const rest = await takeUntil(it, createdNamed('sentinel'))
        const seqs = [first.value?.seq, ...rest.map((i) => i.seq)]
        expect(seqs).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        expect(rest.every((i) => i.type !== 'snapshot')).toBe(true)
      })

      it('has no gap or duplicate between a snapshot and the live events', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        const it = h.stream('s1')
        const racing = h.registry.create(base('s1', { displayName: 'racing' }))
        const [snapshot] = await take(it, 1)
        await racing
        await h.registry.create(base('s1', { displayName: 'sentinel' }))
        const rest = await takeUntil(it, createdNamed('sentinel'))
        expect(snapshot?.type).toBe('snapshot')
        const inSnapshot = (
          snapshot as unknown as { payload: { tasks: SessionTask[] } }
        ).payload.tasks.map((t) => t.displayName)
        const created = rest
          .filter((i) => i.type === 'task.created')
          .map((i) => (i.payload as { task: SessionTask }).task.displayName)
        const racingCount =
          inSnapshot.filter((n) => n === 'racing').length +
          created.filter((n) => n === 'racing').length
        expect(racingCount).toBe(1)
        const seqs = [snapshot?.seq, ...rest.map((i) => i.seq)]
        expect(seqs).toEqual(seqs.map((_, i) => (snapshot?.seq ?? 0) + i))
        expect(rest.at(-1)?.seq).toBe(5)
      })

      it('streams of different sessions are independent', async () => {
        const h = await setup()
        const a = h.stream('A')
        const b = h.stream('B')
        await take(a, 1)
        await take(b, 1)
        await h.registry.create(base('A'))
        await h.registry.create(base('B'))
        await h.registry.create(base('A'))
        await h.registry.create(base('B', { displayName: 'sentinel' }))
        expect((await take(a, 2)).map((i) => i.seq)).toEqual([1, 2])
        const fromB = await takeUntil(b, createdNamed('sentinel'))
        expect(fromB.map((i) => i.seq)).toEqual([1, 2])
      })

      it('snapshots and streamed payloads are deeply frozen; writes throw and change nothing', async () => {
        const h = await setup()
        const t = await h.registry.create(base('s1', { spec: { deep: { v: 1 } } }))
        const it = h.stream('s1')
        const [snapshot] = await take(it, 1)
        expectDeepFrozen(snapshot)
        const snapTask = (snapshot as unknown as { payload: { tasks: Writable<SessionTask>[] } })
          .payload.tasks[0] as Writable<SessionTask>
        expect(() => {
          snapTask.displayName = 'evil'
        }).toThrow(TypeError)
        expect(() => {
          ;(snapTask.spec as { deep: { v: number } }).deep.v = 2
        }).toThrow(TypeError)
        expect(() => snapTask.links.resourceIds.push('evil')).toThrow(TypeError)
        await h.registry.update('s1', t.id, { summary: 's' })
        const [item] = await take(it, 1)
        expectDeepFrozen(item)
        expect(() => {
          ;(item as unknown as { payload: Writable<{ task: SessionTask }> }).payload.task.state =
            'failed'
        }).toThrow(TypeError)
        const stored = await h.registry.get('s1', t.id)
        expect(stored?.displayName).toBe('Job')
        expect(stored?.spec).toEqual({ deep: { v: 1 } })
        expect(stored?.links.resourceIds).toEqual([])
        expect(stored?.state).toBe('queued')
      })

      it('return() ends the iteration at once, also while a next() is pending', async () => {
        const h = await setup()
        const it = h.stream('s1')
        await take(it, 1)
        const pending = it.next()
        expect(await it.return?.()).toEqual({ done: true, value: undefined })
        expect(await pending).toEqual({ done: true, value: undefined })
        await h.registry.create(base('s1'))
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('return() drops queued items', async () => {
        const h = await setup()
        const it = h.stream('s1')
        await take(it, 1)
        await h.registry.create(base('s1'))
        await h.registry.create(base('s1'))
        await it.return?.()
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('break ends a for-await loop; the iterator is done afterwards', async () => {
        const h = await setup()
        const it = h.stream('s1')
        const seen: StreamItem[] = []
        for await (const item of { [Symbol.asyncIterator]: () => it }) {
          seen.push(item)
          if (item.type === 'snapshot') await h.registry.create(base('s1'))
          else break
        }
        expect(seen.map((i) => i.type)).toEqual(['snapshot', 'task.created'])
        await h.registry.create(base('s1'))
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('an aborted signal ends the iteration, also while a next() is pending', async () => {
        const h = await setup()
        const controller = new AbortController()
        const it = h.stream('s1', { signal: controller.signal })
        await take(it, 1)
        const pending = it.next()
        controller.abort()
        expect(await pending).toEqual({ done: true, value: undefined })
        await h.registry.create(base('s1'))
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('an already aborted signal yields nothing', async () => {
        const h = await setup()
        await h.registry.create(base('s1'))
        const it = h.stream('s1', { signal: AbortSignal.abort() })
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('a consumer more than maxQueue behind ends with StreamOverflowError', async () => {
        const h = await setup()
        const it = h.stream('s1', { maxQueue: 2 })
        expect((await it.next()).value?.type).toBe('snapshot')
        for (let i = 0; i < 5; i++) await h.registry.create(base('s1', { displayName: `t${i}` }))
        const queued = await take(it, 2)
        expect(queued.map((i) => i.seq)).toEqual([1, 2])
        const error = await it.next().then(
          () => NO_ERROR,
          (e: unknown) => e,
        )
        expect(
          isStreamOverflowError(error),
          `expected StreamOverflowError, got ${String(error)}`,
        ).toBe(true)
        expect(await it.next()).toEqual({ done: true, value: undefined })
      })

      it('after deleteSession no deleted event is replayed', async () => {
        const h = await setup()
        await threeEvents(h.registry)
        await h.registry.create(base('s1'))
        await h.registry.deleteSession('s1')
        const it = h.stream('s1', { since: 0 })
        const fresh = h.registry.create(base('s1', { displayName: 'fresh' }))
        const first = await it.next()
        await fresh
        const item = first.value as StreamItem
        if (item.type === 'snapshot') {
          const names = item.payload.tasks.map((t) => t.displayName)
          expect(names.every((n) => n === 'fresh')).toBe(true)
          if (names.length === 0) await takeUntil(it, createdNamed('fresh'))
        } else {
          expect(item.type).toBe('task.created')
          expect((item.payload as { task: SessionTask }).task.displayName).toBe('fresh')
        }
      })
    })

    // ------------------------------------------------------------------ validation

    group('validation', (it) => {
      type Case = { title: string; field: string; call: (r: SessionTaskRegistry) => unknown }
      const S = 'sv-1'
      const T = 'job-1'
      const M: NewTaskMessage = { direction: 'inbound', content: text('x') }
      const never = <T>(value: unknown) => value as T

      const LONE = 'lone\uD800'
      const cases: Case[] = [
        // SPEC 4.1: every input string is well-formed UTF-16, on every backend.
        {
          title: 'a lone surrogate in a session id',
          field: 'sessionId',
          call: (r) => r.create(base('victim\uD800')),
        },
        {
          title: 'a lone surrogate in a lookup session id',
          field: 'sessionId',
          call: (r) => r.get('sv-1\uDBFF', T),
        },
        {
          title: 'a lone surrogate in a task id',
          field: 'taskId',
          call: (r) => r.update(S, 'job-1\uDC00', { summary: 'x' }),
        },
        {
          title: 'a lone surrogate in a kind',
          field: 'kind',
          call: (r) => r.create(base(S, { kind: LONE })),
        },
        {
          title: 'a lone surrogate in a displayName',
          field: 'displayName',
          call: (r) => r.create(base(S, { displayName: LONE })),
        },
        {
          title: 'a lone surrogate in a nested spec string',
          field: 'spec.a[0].b',
          call: (r) => r.create(base(S, { spec: { a: [{ b: LONE }] } })),
        },
        {
          title: 'a lone surrogate in a spec key',
          field: 'spec',
          call: (r) => r.create(base(S, { spec: { [LONE]: 1 } })),
        },
        {
          title: 'a lone surrogate in a summary',
          field: 'summary',
          call: (r) => r.update(S, T, { summary: LONE }),
        },
        {
          title: 'a lone surrogate in a text part',
          field: 'content[0].text',
          call: (r) =>
            r.recordMessage(S, T, {
              direction: 'outbound',
              content: [{ type: 'text', text: LONE }],
            }),
        },
        {
          title: 'a lone surrogate in an output delta',
          field: 'delta',
          call: (r) => r.publishOutput(S, T, { stream: 'stdout', delta: LONE }),
        },
        {
          title: 'create with an unknown key',
          field: 'title',
          call: (r) => r.create(never({ ...base(S), title: 'x' })),
        },
        {
          title: 'create with a caller id that is not a path segment',
          field: 'id',
          call: (r) => r.create(base(S, { id: 'a/b' })),
        },
        {
          title: 'create with an empty session id',
          field: 'sessionId',
          call: (r) => r.create(base('')),
        },
        {
          title: 'create with a function in spec',
          field: 'spec',
          call: (r) => r.create(base(S, { spec: never({ a: [1, () => 1] }) })),
        },
        {
          title: 'create with an unknown state',
          field: 'state',
          call: (r) => r.create(base(S, { state: never('done') })),
        },
        {
          title: 'update with a negative progress.current',
          field: 'progress.current',
          call: (r) => r.update(S, T, { progress: { current: -1 } }),
        },
        {
          title: 'update with null for an optional field',
          field: 'summary',
          call: (r) => r.update(S, T, never({ summary: null })),
        },
        {
          title: 'update with a heartbeatAt carrying an offset',
          field: 'heartbeatAt',
          call: (r) => r.update(S, T, { heartbeatAt: '2026-01-01T00:00:00+02:00' }),
        },
        {
          title: 'update with an unknown key',
          field: 'status',
          call: (r) => r.update(S, T, never({ status: 'running' })),
        },
        {
          title: 'updateWithOutcome with expectedAttempt 0',
          field: 'expectedAttempt',
          call: (r) => r.updateWithOutcome(S, T, { expectedAttempt: 0 }),
        },
        {
          title: 'recordMessage with empty content',
          field: 'content',
          call: (r) => r.recordMessage(S, T, { ...M, content: [] }),
        },
        {
          title: 'recordMessage with an unknown direction',
          field: 'direction',
          call: (r) => r.recordMessage(S, T, { ...M, direction: never('sideways') }),
        },
        {
          title: 'listMessages with limit 0',
          field: 'limit',
          call: (r) => r.listMessages(S, T, { limit: 0 }),
        },
        {
          title: 'list with an unknown state filter',
          field: 'state',
          call: (r) => r.list(S, { state: never('done') }),
        },
        {
          title: 'get with a control character in the session id',
          field: 'sessionId',
          call: (r) => r.get('s\u0000', T),
        },
        {
          title: 'requestCancel with an empty task id',
          field: 'taskId',
          call: (r) => r.requestCancel(S, ''),
        },
        {
          title: 'publishOutput with an empty stream name',
          field: 'stream',
          call: (r) => r.publishOutput(S, T, { stream: '', delta: 'x' }),
        },
        {
          title: 'listStale with a string cutoff',
          field: 'heartbeatBefore',
          call: (r) => r.listStale({ heartbeatBefore: never('2030-01-01T00:00:00.000Z') }),
        },
        {
          title: 'prune with limit 0',
          field: 'limit',
          call: (r) => r.prune({ finishedBefore: new Date(T0 + 10_000_000), limit: 0 }),
        },
        {
          title: 'deleteSession with an empty session id',
          field: 'sessionId',
          call: (r) => r.deleteSession(''),
        },
      ]

      async function fixture() {
        const h = await setup()
        await h.registry.create(
          base(S, { id: T, state: 'running', spec: SECRET_SPEC, wakePolicy: 'on_activity' }),
        )
        await h.registry.update(S, T, { heartbeatAt: '2025-01-01T00:00:00.000Z' })
        await h.registry.recordMessage(S, T, outbound('working'))
        await h.registry.create(base(S, { id: 'job-2', state: 'succeeded' }))
        const all = h.recordAll()
        h.tick()
        return { ...h, all }
      }

      async function state(r: SessionTaskRegistry) {
        return {
          list: await r.list(S),
          messages: await r.listMessages(S, T),
          stale: await r.listStale({ heartbeatBefore: new Date(T0 + 10_000_000) }),
        }
      }

      function expectValidationError(error: unknown, field: string): void {
        expect(error, 'the call should have failed').not.toBe(NO_ERROR)
        expect(isValidationError(error), `expected a ValidationError, got ${String(error)}`).toBe(
          true,
        )
        const e = error as ValidationError
        expect(e.code).toBe('validation')
        expect(e.message).toContain(field)
        expect(e.issues.length).toBeGreaterThan(0)
      }

      for (const c of cases) {
        it(`rejects ${c.title}: ValidationError naming the field, nothing changed or emitted`, async () => {
          const h = await fixture()
          const before = await state(h.registry)
          const error = await caught(() => c.call(h.registry))
          expectValidationError(error, c.field)
          expect(await state(h.registry)).toStrictEqual(before)
          expect(h.all).toEqual([])
        })
      }

      it('input is validated first: bad input for an unknown task is a ValidationError', async () => {
        const { registry } = await setup()
        expectValidationError(
          await caught(() => registry.update(S, 'task_nope', { state: never('bogus') })),
          'state',
        )
        expectValidationError(
          await caught(() => registry.recordMessage(S, 'task_nope', { ...M, content: [] })),
          'content',
        )
        expectValidationError(
          await caught(() => registry.listMessages(S, 'task_nope', { limit: -1 })),
          'limit',
        )
      })

      it('bad input is a rejected promise, never a synchronous throw', async () => {
        const { registry } = await setup()
        const calls: (() => unknown)[] = [
          () => registry.create(never(null)),
          () => registry.update('', T, {}),
          () => registry.get('', T),
          () => registry.list(''),
          () => registry.requestCancel('', T),
          () => registry.recordMessage('', T, M),
          () => registry.listMessages('', T),
          () => registry.listStale(never(null)),
          () => registry.prune(never(null)),
          () => registry.deleteSession(''),
        ]
        for (const call of calls) {
          let result: unknown
          expect(() => {
            result = call()
          }).not.toThrow()
          expect(result).toBeInstanceOf(Promise)
          expectValidationError(await caught(() => result), '')
        }
      })

      it('a rejected create stores and emits nothing, and the id stays free', async () => {
        const h = await setup()
        const all = h.recordAll()
        const error = await caught(() =>
          h.registry.create(base(S, { id: 'free', spec: never({ bad: Symbol('x') }) })),
        )
        expectValidationError(error, 'spec')
        expect(await h.registry.list(S)).toEqual([])
        expect(all).toEqual([])
        const ok = await h.registry.create(base(S, { id: 'free' }))
        expect(ok.id).toBe('free')
      })
    })
  })
}
