import { describe, expect, it } from 'vitest'
import {
  type CreateSessionTask,
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
  isStaleAttemptError,
  isTaskConflictError,
  isTaskNotFoundError,
  type NewTaskMessage,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type SessionTaskUpdate,
  StaleAttemptError,
  TaskConflictError,
  TaskNotFoundError,
  toPublicTask,
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

type Recorded = {
  sessionId: string
  type: SessionTaskEventType
  payload: SessionTaskEvents[SessionTaskEventType]
}

/** A registry on a hand-driven clock, with every event of every session recorded. */
function setup(options: Omit<InMemorySessionTaskRegistryOptions, 'now'> = {}) {
  let clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ ...options, now: () => clock })
  const events: Recorded[] = []
  registry.subscribeAll((sessionId, type, payload) => events.push({ sessionId, type, payload }))
  return {
    registry,
    events,
    /** Advances the clock by `ms` (negative goes backwards) and returns its ISO string. */
    tick(ms = 1000): string {
      clock = new Date(clock.getTime() + ms)
      return clock.toISOString()
    },
    /** Sets the clock to `T0 + ms`. */
    at(ms: number): string {
      clock = new Date(T0 + ms)
      return clock.toISOString()
    },
    iso(): string {
      return clock.toISOString()
    },
  }
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

const SECRET_SPEC = {
  prompt: 'hi',
  push_configs: [{ url: 'https://hook.example/a', secret: 's3cr3t' }, { url: 'https://b' }],
}

describe('InMemorySessionTaskRegistry.create', () => {
  it('generates a task_ id and fills the defaults of a new record', async () => {
    const { registry, iso } = setup()
    const task = await registry.create(base('s1'))
    expect(task.id).toMatch(/^task_[A-Za-z0-9_-]{21}$/)
    expect(task).toEqual({
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
    expect(Object.hasOwn(task, 'startedAt')).toBe(false)
    expect(await registry.get('s1', task.id)).toEqual(task)
  })

  it('gives every create without an id a distinct generated id', async () => {
    const { registry } = setup()
    const ids = new Set<string>()
    for (let i = 0; i < 20; i++) ids.add((await registry.create(base('s1'))).id)
    expect(ids.size).toBe(20)
    expect(await registry.list('s1')).toHaveLength(20)
  })

  it('stamps startedAt for a non-queued initial state and finishedAt for a terminal one', async () => {
    const { registry, iso } = setup()
    const running = await registry.create(base('s1', { state: 'running' }))
    expect(running.startedAt).toBe(iso())
    expect(running.finishedAt).toBeUndefined()
    const done = await registry.create(base('s1', { state: 'succeeded' }))
    expect(done.startedAt).toBe(iso())
    expect(done.finishedAt).toBe(iso())
  })

  it('emits exactly one task.created carrying the inserted record', async () => {
    const { registry, events } = setup()
    const task = await registry.create(base('s1', { links: { resourceIds: ['r1', 'r1', 'r2'] } }))
    expect(task.links.resourceIds).toEqual(['r1', 'r2'])
    expect(events).toEqual([{ sessionId: 's1', type: 'task.created', payload: { task } }])
  })

  it('uses a caller id and returns the stored record unchanged on a second create in the same session', async () => {
    const { registry, events, tick } = setup()
    const first = await registry.create(base('s1', { id: 'job-1', spec: { v: 1 } }))
    expect(first.id).toBe('job-1')
    tick(5000)
    const second = await registry.create({
      sessionId: 's1',
      id: 'job-1',
      kind: 'other_kind',
      displayName: 'Different',
      spec: { v: 2 },
      state: 'running',
      wakePolicy: 'on_activity',
    })
    expect(second).toEqual(first)
    expect(await registry.get('s1', 'job-1')).toEqual(first)
    expect(await registry.list('s1')).toHaveLength(1)
    expect(events.map((e) => e.type)).toEqual(['task.created'])
  })

  it('throws TaskConflictError for a caller id used by another session and stores or emits nothing', async () => {
    const { registry, events } = setup()
    const original = await registry.create(base('s1', { id: 'shared' }))
    const attempt = registry.create(base('s2', { id: 'shared', displayName: 'Other' }))
    await expect(attempt).rejects.toBeInstanceOf(TaskConflictError)
    await registry
      .create(base('s2', { id: 'shared' }))
      .then(() => expect.unreachable())
      .catch((e: unknown) => expect(isTaskConflictError(e)).toBe(true))
    expect(await registry.get('s2', 'shared')).toBeUndefined()
    expect(await registry.list('s2')).toEqual([])
    expect(await registry.get('s1', 'shared')).toEqual(original)
    expect(events.map((e) => `${e.sessionId}:${e.type}`)).toEqual(['s1:task.created'])
  })
})

describe('InMemorySessionTaskRegistry.update', () => {
  it('returns undefined and emits nothing for an unknown task', async () => {
    const { registry, events } = setup()
    await registry.create(base('s1'))
    events.length = 0
    expect(await registry.update('s1', 'task_missing', { state: 'running' })).toBeUndefined()
    expect(events).toEqual([])
  })

  it('returns undefined and leaves the task alone when another session updates it', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    events.length = 0
    tick()
    expect(await registry.update('s2', task.id, { state: 'running', summary: 'x' })).toBeUndefined()
    expect(await registry.get('s1', task.id)).toEqual(task)
    expect(events).toEqual([])
  })

  it('returns and stores the resulting record and emits exactly one task.updated', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    events.length = 0
    const at = tick()
    const updated = await registry.update('s1', task.id, {
      state: 'running',
      progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
      workerId: 'w1',
    })
    expect(updated).toEqual({
      ...task,
      state: 'running',
      startedAt: at,
      progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
      workerId: 'w1',
      updatedAt: at,
    })
    expect(await registry.get('s1', task.id)).toEqual(updated)
    expect(events).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: updated } }])
  })

  it('returns the unchanged record and emits nothing for a fenced update', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    events.length = 0
    tick()
    const result = await registry.update('s1', task.id, {
      state: 'running',
      summary: 'late',
      expectedAttempt: 2,
    })
    expect(result).toEqual(task)
    expect(await registry.get('s1', task.id)).toEqual(task)
    expect(events).toEqual([])
  })

  it('returns the unchanged record and emits nothing when a terminal task is asked for another state', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    const done = await registry.update('s1', task.id, { state: 'succeeded' })
    events.length = 0
    tick()
    const result = await registry.update('s1', task.id, { state: 'running', summary: 'ignored' })
    expect(result).toEqual(done)
    expect((await registry.get('s1', task.id))?.summary).toBeUndefined()
    expect(events).toEqual([])
  })

  it('accepts content enrichment with the same terminal state', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    const done = await registry.update('s1', task.id, { state: 'succeeded' })
    events.length = 0
    const at = tick()
    const result = await registry.update('s1', task.id, { state: 'succeeded', summary: 'all ok' })
    expect(result).toEqual({ ...done, summary: 'all ok', updatedAt: at })
    expect(events.map((e) => e.type)).toEqual(['task.updated'])
  })

  const noOps: [string, SessionTaskUpdate][] = [
    ['an empty update', {}],
    ['the current state', { state: 'running' }],
    ['the same stateDetail', { stateDetail: 'working' }],
    ['the same progress', { progress: { current: 1, steps: [{ title: 'a', status: 'done' }] } }],
    ['an already present resource id', { links: { resourceIds: ['r1'] } }],
    ['the same heartbeat in another ISO spelling', { heartbeatAt: '2023-12-31T00:00:00Z' }],
    ['a matching fence and nothing else', { expectedAttempt: 1 }],
  ]
  for (const [name, update] of noOps) {
    it(`stores nothing and emits nothing for a no-op update (${name})`, async () => {
      const { registry, events, tick } = setup()
      const task = await registry.create(base('s1', { state: 'running' }))
      const prepared = await registry.update('s1', task.id, {
        stateDetail: 'working',
        progress: { current: 1, steps: [{ title: 'a', status: 'done' }] },
        links: { resourceIds: ['r1'] },
        heartbeatAt: '2023-12-31T00:00:00.000Z',
      })
      events.length = 0
      tick(60_000)
      const result = await registry.update('s1', task.id, update)
      expect(result).toEqual(prepared)
      expect((await registry.get('s1', task.id))?.updatedAt).toBe(prepared?.updatedAt)
      expect(events).toEqual([])
    })
  }
})

describe('InMemorySessionTaskRegistry.get and list', () => {
  it('get returns undefined for an unknown task or another session', async () => {
    const { registry } = setup()
    const task = await registry.create(base('s1'))
    expect(await registry.get('s1', 'task_nope')).toBeUndefined()
    expect(await registry.get('s2', task.id)).toBeUndefined()
    expect(await registry.get('s1', task.id)).toEqual(task)
  })

  it('list returns only the session’s own tasks', async () => {
    const { registry } = setup()
    const a = await registry.create(base('s1', { displayName: 'A' }))
    const b = await registry.create(base('s2', { displayName: 'B' }))
    expect(await registry.list('s1')).toEqual([a])
    expect(await registry.list('s2')).toEqual([b])
    expect(await registry.list('s3')).toEqual([])
  })

  it('list orders by createdAt then insertion order, even when the clock goes backwards', async () => {
    const { registry, at } = setup()
    at(10_000)
    const a = await registry.create(base('s1', { displayName: 'a' }))
    at(5_000)
    const b = await registry.create(base('s1', { displayName: 'b' }))
    at(10_000)
    const c = await registry.create(base('s1', { displayName: 'c' }))
    at(5_000)
    const d = await registry.create(base('s1', { displayName: 'd' }))
    at(1_000)
    const e = await registry.create(base('s1', { displayName: 'e' }))
    const names = (await registry.list('s1')).map((t) => t.displayName)
    expect(names).toEqual(['e', 'b', 'd', 'a', 'c'])
    expect((await registry.list('s1')).map((t) => t.id)).toEqual([e.id, b.id, d.id, a.id, c.id])
  })

  it('list keeps insertion order for tasks created at the same instant', async () => {
    const { registry } = setup()
    const names = ['z', 'a', 'm', 'b']
    for (const displayName of names) await registry.create(base('s1', { displayName }))
    expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(names)
  })

  it('list filters by kind and by state, combined with AND', async () => {
    const { registry } = setup()
    const a = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
    const b = await registry.create(base('s1', { kind: 'subagent', state: 'queued' }))
    const c = await registry.create(base('s1', { kind: 'monitor', state: 'running' }))
    const d = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
    await registry.create(base('s2', { kind: 'subagent', state: 'running' }))
    expect(await registry.list('s1', { kind: 'subagent' })).toEqual([a, b, d])
    expect(await registry.list('s1', { state: 'running' })).toEqual([a, c, d])
    expect(await registry.list('s1', { kind: 'subagent', state: 'running' })).toEqual([a, d])
    expect(await registry.list('s1', { kind: 'monitor', state: 'queued' })).toEqual([])
    expect(await registry.list('s1', {})).toEqual([a, b, c, d])
  })
})

describe('InMemorySessionTaskRegistry.requestCancel', () => {
  it('first call stamps cancelRequestedAt and updatedAt without changing state and emits task.updated', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    events.length = 0
    const at = tick()
    const result = await registry.requestCancel('s1', task.id)
    expect(result).toEqual({ ...task, cancelRequestedAt: at, updatedAt: at })
    expect(await registry.get('s1', task.id)).toEqual(result)
    expect(events).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: result } }])
  })

  it('later calls return the record unchanged and emit nothing', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    tick()
    const first = await registry.requestCancel('s1', task.id)
    events.length = 0
    tick()
    expect(await registry.requestCancel('s1', task.id)).toEqual(first)
    tick()
    expect(await registry.requestCancel('s1', task.id)).toEqual(first)
    expect(await registry.get('s1', task.id)).toEqual(first)
    expect(events).toEqual([])
  })

  it('works on a terminal task and keeps its state and finishedAt', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    const done = await registry.update('s1', task.id, { state: 'failed' })
    events.length = 0
    const at = tick()
    const result = await registry.requestCancel('s1', task.id)
    expect(result).toEqual({ ...done, cancelRequestedAt: at, updatedAt: at })
    expect(result?.state).toBe('failed')
    expect(events.map((e) => e.type)).toEqual(['task.updated'])
  })

  it('returns undefined for an unknown task or another session and stamps nothing', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1'))
    events.length = 0
    tick()
    expect(await registry.requestCancel('s1', 'task_missing')).toBeUndefined()
    expect(await registry.requestCancel('s2', task.id)).toBeUndefined()
    expect(await registry.get('s1', task.id)).toEqual(task)
    expect(events).toEqual([])
  })
})

describe('InMemorySessionTaskRegistry.recordMessage', () => {
  it('throws TaskNotFoundError for an unknown task', async () => {
    const { registry, events } = setup()
    await expect(
      registry.recordMessage('s1', 'task_missing', inbound('hi')),
    ).rejects.toBeInstanceOf(TaskNotFoundError)
    expect(events).toEqual([])
  })

  it('throws TaskNotFoundError for another session’s task and stores nothing', async () => {
    const { registry, events } = setup()
    const task = await registry.create(base('s1'))
    events.length = 0
    const error = await registry.recordMessage('s2', task.id, outbound('hi')).catch((e) => e)
    expect(isTaskNotFoundError(error)).toBe(true)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(events).toEqual([])
  })

  it('throws StaleAttemptError on an attempt mismatch and stores or emits nothing', async () => {
    const { registry, events } = setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    await registry.update('s1', task.id, { incrementAttempt: true })
    events.length = 0
    const error = await registry
      .recordMessage('s1', task.id, outbound('late', { expectedAttempt: 1 }))
      .catch((e) => e)
    expect(error).toBeInstanceOf(StaleAttemptError)
    expect(isStaleAttemptError(error)).toBe(true)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(events).toEqual([])
    const ok = await registry.recordMessage('s1', task.id, outbound('now', { expectedAttempt: 2 }))
    expect(await registry.listMessages('s1', task.id)).toEqual([ok])
  })

  it('stores a message with a tmsg_ id, the clock’s time and no expectedAttempt', async () => {
    const { registry, iso } = setup()
    const task = await registry.create(base('s1'))
    const msg = await registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'a' },
        { type: 'data', data: { n: 1 } },
      ],
      expectedAttempt: 1,
    })
    expect(msg.id).toMatch(/^tmsg_[A-Za-z0-9_-]{21}$/)
    expect(msg).toEqual({
      id: msg.id,
      taskId: task.id,
      direction: 'outbound',
      content: [
        { type: 'text', text: 'a' },
        { type: 'data', data: { n: 1 } },
      ],
      createdAt: iso(),
    })
    expect(Object.hasOwn(msg, 'inReplyTo')).toBe(false)
    expect(Object.hasOwn(msg, 'expectedAttempt')).toBe(false)
    const withReply = await registry.recordMessage('s1', task.id, inbound('b', { inReplyTo: 'q' }))
    expect(withReply.inReplyTo).toBe('q')
    expect(withReply.id).not.toBe(msg.id)
    expect(await registry.listMessages('s1', task.id)).toEqual([msg, withReply])
  })

  it('resumes an awaiting task to running when an inbound message answers the pending request', async () => {
    const { registry, events, tick } = setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    const waiting = await registry.update('s1', task.id, {
      inputRequest: { id: 'q1', prompt: 'Which branch?' },
    })
    expect(waiting?.state).toBe('awaiting_input')
    events.length = 0
    const at = tick()
    const msg = await registry.recordMessage('s1', task.id, inbound('main', { inReplyTo: 'q1' }))
    const after = await registry.get('s1', task.id)
    const { inputRequest: _dropped, ...rest } = waiting as SessionTask
    expect(after).toEqual({ ...rest, state: 'running', updatedAt: at })
    expect(events).toEqual([
      { sessionId: 's1', type: 'task.message.sent', payload: { taskId: task.id, message: msg } },
      { sessionId: 's1', type: 'task.updated', payload: { task: after } },
    ])
  })

  const untouched: [string, (inReplyTo: string) => NewTaskMessage][] = [
    ['an inbound message answering another request', () => inbound('x', { inReplyTo: 'other' })],
    ['an inbound message without inReplyTo', () => inbound('x')],
    ['an outbound message with the matching inReplyTo', (id) => outbound('x', { inReplyTo: id })],
  ]
  for (const [name, make] of untouched) {
    it(`stores ${name} without touching the task record`, async () => {
      const { registry, events, tick } = setup()
      const task = await registry.create(base('s1', { state: 'running' }))
      const waiting = await registry.update('s1', task.id, {
        inputRequest: { id: 'q1', prompt: 'Which?' },
      })
      events.length = 0
      tick()
      const msg = await registry.recordMessage('s1', task.id, make('q1'))
      expect(await registry.get('s1', task.id)).toEqual(waiting)
      expect(await registry.listMessages('s1', task.id)).toEqual([msg])
      expect(events.map((e) => e.type)).toEqual([
        msg.direction === 'inbound' ? 'task.message.sent' : 'task.message.received',
      ])
    })
  }

  it('stores messages for a running task without touching its record (not even updatedAt)', async () => {
    const { registry, tick } = setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    tick()
    await registry.recordMessage('s1', task.id, inbound('a', { inReplyTo: 'q1' }))
    tick()
    await registry.recordMessage('s1', task.id, outbound('b'))
    expect(await registry.get('s1', task.id)).toEqual(task)
  })

  it('accepts messages on terminal tasks without changing them', async () => {
    const { registry, tick } = setup()
    const task = await registry.create(base('s1'))
    const done = await registry.update('s1', task.id, { state: 'canceled' })
    tick()
    const m1 = await registry.recordMessage('s1', task.id, inbound('still there?'))
    const m2 = await registry.recordMessage('s1', task.id, outbound('bye'))
    expect(await registry.listMessages('s1', task.id)).toEqual([m1, m2])
    expect(await registry.get('s1', task.id)).toEqual(done)
  })
})

describe('InMemorySessionTaskRegistry.listMessages', () => {
  async function fiveMessages() {
    const ctx = setup()
    const task = await ctx.registry.create(base('s1'))
    const m: string[] = []
    for (let i = 0; i < 5; i++) {
      ctx.tick()
      m.push((await ctx.registry.recordMessage('s1', task.id, outbound(`m${i}`))).id)
    }
    return { ...ctx, task, m }
  }

  it('without a cursor returns the newest `limit` messages oldest first', async () => {
    const { registry, task } = await fiveMessages()
    const got = await registry.listMessages('s1', task.id, { limit: 2 })
    expect(got.map(textOf)).toEqual(['m3', 'm4'])
    expect((await registry.listMessages('s1', task.id, { limit: 1 })).map(textOf)).toEqual(['m4'])
    expect((await registry.listMessages('s1', task.id, { limit: 50 })).map(textOf)).toEqual([
      'm0',
      'm1',
      'm2',
      'm3',
      'm4',
    ])
  })

  it('without a limit returns every message oldest first', async () => {
    const { registry, task, m } = await fiveMessages()
    expect((await registry.listMessages('s1', task.id)).map((x) => x.id)).toEqual(m)
    expect((await registry.listMessages('s1', task.id, {})).map((x) => x.id)).toEqual(m)
  })

  it('with afterId returns the first `limit` messages strictly after the cursor', async () => {
    const { registry, task, m } = await fiveMessages()
    const page = (afterId: string, limit?: number) =>
      registry
        .listMessages('s1', task.id, limit === undefined ? { afterId } : { afterId, limit })
        .then((xs) => xs.map(textOf))
    expect(await page(m[1]!, 2)).toEqual(['m2', 'm3'])
    expect(await page(m[0]!)).toEqual(['m1', 'm2', 'm3', 'm4'])
    expect(await page(m[3]!, 5)).toEqual(['m4'])
    expect(await page(m[4]!)).toEqual([])
  })

  it('returns [] for an unknown cursor or a cursor of another task', async () => {
    const { registry, task } = await fiveMessages()
    const other = await registry.create(base('s1'))
    const foreign = await registry.recordMessage('s1', other.id, outbound('other'))
    expect(await registry.listMessages('s1', task.id, { afterId: 'tmsg_unknown' })).toEqual([])
    expect(await registry.listMessages('s1', task.id, { afterId: foreign.id })).toEqual([])
    expect(await registry.listMessages('s1', task.id, { afterId: foreign.id, limit: 3 })).toEqual(
      [],
    )
  })

  it('returns [] for an unknown task, a task without messages, or another session', async () => {
    const { registry, task } = await fiveMessages()
    const empty = await registry.create(base('s1'))
    expect(await registry.listMessages('s1', 'task_missing')).toEqual([])
    expect(await registry.listMessages('s1', empty.id)).toEqual([])
    expect(await registry.listMessages('s2', task.id)).toEqual([])
    expect(await registry.listMessages('s2', task.id, { limit: 2 })).toEqual([])
  })

  it('orders by createdAt then record order when the clock goes backwards', async () => {
    const { registry, at } = setup()
    const task = await registry.create(base('s1'))
    const ids: Record<string, string> = {}
    const record = async (name: string, ms: number) => {
      at(ms)
      ids[name] = (await registry.recordMessage('s1', task.id, outbound(name))).id
    }
    await record('a', 10_000)
    await record('b', 5_000)
    await record('c', 10_000)
    await record('d', 5_000)
    await record('e', 1_000)
    const all = (await registry.listMessages('s1', task.id)).map(textOf)
    expect(all).toEqual(['e', 'b', 'd', 'a', 'c'])
    expect((await registry.listMessages('s1', task.id, { limit: 2 })).map(textOf)).toEqual([
      'a',
      'c',
    ])
    const afterD = await registry.listMessages('s1', task.id, { afterId: ids.d!, limit: 2 })
    expect(afterD.map(textOf)).toEqual(['a', 'c'])
    const afterE = await registry.listMessages('s1', task.id, { afterId: ids.e!, limit: 1 })
    expect(afterE.map(textOf)).toEqual(['b'])
    const afterB = await registry.listMessages('s1', task.id, { afterId: ids.b! })
    expect(afterB.map(textOf)).toEqual(['d', 'a', 'c'])
  })
})

describe('InMemorySessionTaskRegistry.listStale', () => {
  const hb = (ms: number) => new Date(T0 + ms).toISOString()

  it('returns queued and running tasks of every session whose heartbeat is strictly older than the cutoff', async () => {
    const { registry } = setup()
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
    expect(stale[0]).toEqual(await registry.get('s1', queued.id))
  })

  it('orders by heartbeatAt, then createdAt, and honours limit', async () => {
    const { registry, at } = setup()
    const mk = async (name: string, created: number, heartbeat: number) => {
      at(created)
      const t = await registry.create(base('s1', { displayName: name, state: 'running' }))
      await registry.update('s1', t.id, { heartbeatAt: hb(heartbeat) })
    }
    await mk('hb2-late', 9000, 2000)
    await mk('hb2-early', 1000, 2000)
    await mk('hb1', 5000, 1000)
    await mk('hb3', 500, 3000)
    const cutoff = new Date(T0 + 100_000)
    const names = (await registry.listStale({ heartbeatBefore: cutoff })).map((t) => t.displayName)
    expect(names).toEqual(['hb1', 'hb2-early', 'hb2-late', 'hb3'])
    const two = await registry.listStale({ heartbeatBefore: cutoff, limit: 2 })
    expect(two.map((t) => t.displayName)).toEqual(['hb1', 'hb2-early'])
  })

  it('returns at most 100 tasks by default, the oldest heartbeats', async () => {
    const { registry } = setup()
    for (let i = 0; i < 105; i++) {
      const t = await registry.create(base(`s${i % 3}`, { displayName: `t${i}`, state: 'running' }))
      await registry.update(`s${i % 3}`, t.id, { heartbeatAt: hb(-200_000 + i * 10) })
    }
    const stale = await registry.listStale({ heartbeatBefore: new Date(T0) })
    expect(stale).toHaveLength(100)
    expect(stale[0]?.displayName).toBe('t0')
    expect(stale[99]?.displayName).toBe('t99')
  })
})

describe('InMemorySessionTaskRegistry.prune', () => {
  it('deletes terminal tasks of every session finished strictly before the cutoff, oldest first, and returns them in full', async () => {
    const { registry, at } = setup()
    const finish = async (
      sessionId: string,
      name: string,
      ms: number,
      spec?: CreateSessionTask['spec'],
    ) => {
      at(ms - 500)
      const t = await registry.create(
        base(sessionId, spec === undefined ? { displayName: name } : { displayName: name, spec }),
      )
      at(ms)
      return (await registry.update(sessionId, t.id, { state: 'succeeded' })) as SessionTask
    }
    const late = await finish('s1', 'late', 3000)
    const early = await finish('s2', 'early', 1000, SECRET_SPEC)
    const mid = await finish('s1', 'mid', 2000)
    const atCutoff = await finish('s1', 'at-cutoff', 5000)
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 5000) })
    expect(pruned).toEqual([early, mid, late])
    expect(pruned[0]?.spec).toEqual(SECRET_SPEC)
    expect(await registry.get('s1', late.id)).toBeUndefined()
    expect(await registry.get('s2', early.id)).toBeUndefined()
    expect(await registry.list('s1')).toEqual([atCutoff])
    expect(await registry.list('s2')).toEqual([])
  })

  it('never touches live tasks however old', async () => {
    const { registry, at } = setup()
    at(-1_000_000)
    const queued = await registry.create(base('s1'))
    const running = await registry.create(base('s1', { state: 'running' }))
    const awaiting = await registry.create(base('s1', { state: 'running' }))
    const waiting = await registry.update('s1', awaiting.id, {
      inputRequest: { id: 'q', prompt: 'p' },
    })
    at(0)
    expect(await registry.prune({ finishedBefore: new Date(T0 + 10_000_000) })).toEqual([])
    expect(await registry.list('s1')).toEqual([queued, running, waiting])
  })

  it('honours limit by pruning the oldest finishedAt first', async () => {
    const { registry, at } = setup()
    const ids: string[] = []
    for (const ms of [3000, 1000, 2000]) {
      at(0)
      const t = await registry.create(base('s1', { displayName: `f${ms}` }))
      at(ms)
      await registry.update('s1', t.id, { state: 'failed' })
      ids.push(t.id)
    }
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 10_000), limit: 2 })
    expect(pruned.map((t) => t.displayName)).toEqual(['f1000', 'f2000'])
    expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(['f3000'])
  })

  it('removes a pruned task’s messages', async () => {
    const { registry, tick } = setup()
    const t = await registry.create(base('s1', { id: 'job-1' }))
    await registry.recordMessage('s1', t.id, outbound('hello'))
    await registry.update('s1', t.id, { state: 'succeeded' })
    tick()
    expect((await registry.prune({ finishedBefore: new Date(T0 + 500) })).map((x) => x.id)).toEqual(
      ['job-1'],
    )
    const again = await registry.create(base('s1', { id: 'job-1', displayName: 'again' }))
    expect(again.displayName).toBe('again')
    expect(await registry.listMessages('s1', 'job-1')).toEqual([])
  })

  it('prunes at most 100 tasks by default', async () => {
    const { registry } = setup()
    for (let i = 0; i < 105; i++) {
      await registry.create(base(`s${i % 2}`, { state: 'canceled' }))
    }
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
    expect(pruned).toHaveLength(100)
    const left = (await registry.list('s0')).length + (await registry.list('s1')).length
    expect(left).toBe(5)
  })
})

describe('InMemorySessionTaskRegistry.deleteSession', () => {
  it('returns the number of tasks removed and removes tasks and messages', async () => {
    const { registry } = setup()
    const a = await registry.create(base('s1', { id: 'job-a' }))
    await registry.create(base('s1'))
    await registry.recordMessage('s1', a.id, outbound('hi'))
    expect(await registry.deleteSession('s1')).toBe(2)
    expect(await registry.list('s1')).toEqual([])
    expect(await registry.get('s1', a.id)).toBeUndefined()
    expect(await registry.listMessages('s1', a.id)).toEqual([])
    await registry.create(base('s1', { id: 'job-a' }))
    expect(await registry.listMessages('s1', 'job-a')).toEqual([])
    expect(await registry.deleteSession('unknown')).toBe(0)
  })

  it('emits nothing and leaves other sessions untouched', async () => {
    const { registry, events } = setup()
    await registry.create(base('s1'))
    const keep = await registry.create(base('s2'))
    const msg = await registry.recordMessage('s2', keep.id, outbound('kept'))
    const s2Seen: string[] = []
    registry.events('s2').on('*', (type) => s2Seen.push(type))
    events.length = 0
    expect(await registry.deleteSession('s1')).toBe(1)
    expect(events).toEqual([])
    expect(await registry.list('s2')).toEqual([keep])
    expect(await registry.listMessages('s2', keep.id)).toEqual([msg])
    await registry.update('s2', keep.id, { state: 'running' })
    expect(s2Seen).toEqual(['task.updated'])
  })

  it('removes the session’s listeners; events() afterwards is a fresh emitter', async () => {
    const { registry } = setup()
    const old = registry.events('s1')
    const seen: string[] = []
    old.on('task.created', () => seen.push('typed'))
    old.on('*', () => seen.push('wildcard'))
    registry.subscribe('s1', () => seen.push('subscribe'))
    await registry.create(base('s1'))
    expect(seen).toEqual(['typed', 'wildcard', 'subscribe'])
    seen.length = 0
    await registry.deleteSession('s1')
    const fresh = registry.events('s1')
    expect(fresh).not.toBe(old)
    expect([...fresh.all.values()].every((list) => list.length === 0)).toBe(true)
    const freshSeen: string[] = []
    fresh.on('task.created', (p) => freshSeen.push(p.task.displayName))
    await registry.create(base('s1', { displayName: 'after' }))
    expect(seen).toEqual([])
    expect(freshSeen).toEqual(['after'])
  })
})

describe('InMemorySessionTaskRegistry.now', () => {
  it('returns the injected clock', () => {
    const { registry, at } = setup()
    expect(registry.now().toISOString()).toBe(new Date(T0).toISOString())
    const later = at(42_000)
    expect(registry.now().toISOString()).toBe(later)
  })
})

describe('session isolation', () => {
  it('session B can never read, change or be notified about session A’s task', async () => {
    const { registry, events, tick } = setup()
    const a = await registry.create(base('A', { id: 'a-task', state: 'running' }))
    const m = await registry.recordMessage('A', a.id, outbound('secret talk'))
    const seenByB: string[] = []
    registry.events('B').on('*', (type) => seenByB.push(type))
    registry.subscribe('B', (type) => seenByB.push(type))
    events.length = 0
    tick()

    expect(await registry.get('B', a.id)).toBeUndefined()
    expect(await registry.list('B')).toEqual([])
    expect(await registry.list('B', { kind: a.kind })).toEqual([])
    expect(await registry.update('B', a.id, { state: 'failed' })).toBeUndefined()
    expect(await registry.requestCancel('B', a.id)).toBeUndefined()
    await expect(registry.recordMessage('B', a.id, inbound('x'))).rejects.toSatisfy(
      isTaskNotFoundError,
    )
    expect(await registry.listMessages('B', a.id)).toEqual([])
    expect(await registry.listMessages('B', a.id, { afterId: m.id })).toEqual([])
    await expect(registry.create(base('B', { id: a.id }))).rejects.toSatisfy(isTaskConflictError)
    expect(await registry.deleteSession('B')).toBe(0)

    expect(events).toEqual([])
    expect(await registry.get('A', a.id)).toEqual(a)
    expect(await registry.listMessages('A', a.id)).toEqual([m])

    registry.events('B').on('*', (type) => seenByB.push(type))
    await registry.update('A', a.id, { summary: 'progress' })
    await registry.recordMessage('A', a.id, outbound('more'))
    await registry.requestCancel('A', a.id)
    expect(seenByB).toEqual([])
  })
})

describe('immutability of returned values and inputs', () => {
  const richUpdate = (): SessionTaskUpdate => ({
    state: 'running',
    progress: { current: 1, steps: [{ title: 'step', status: 'in_progress' }] },
    artifacts: [{ name: 'out', type: 'file', path: '/out' }],
    links: { resourceIds: ['r1'] },
    error: { kind: 'k', message: 'm' },
  })

  function vandalize(task: SessionTask): void {
    task.displayName = 'hacked'
    task.state = 'failed'
    ;(task.spec as { nested: { v: number } }).nested.v = 999
    task.links.resourceIds.push('evil')
    task.artifacts.push({ name: 'evil', type: 'file' })
    if (task.artifacts[0] !== undefined) task.artifacts[0].name = 'evil'
    task.progress?.steps?.push({ title: 'evil', status: 'done' })
    if (task.progress?.steps?.[0] !== undefined) task.progress.steps[0].title = 'evil'
    if (task.error !== undefined) task.error.kind = 'evil'
  }

  async function prepared() {
    const ctx = setup()
    const created = await ctx.registry.create(
      base('s1', { spec: { nested: { v: 1 } }, links: { resourceIds: ['r0'] } }),
    )
    const updated = (await ctx.registry.update('s1', created.id, richUpdate())) as SessionTask
    const snapshot = structuredClone(updated)
    return { ...ctx, created, updated, snapshot }
  }

  it('mutating records returned by create, update, get, list and requestCancel changes nothing', async () => {
    const { registry, created, updated, snapshot } = await prepared()
    vandalize(created)
    vandalize(updated)
    vandalize((await registry.get('s1', snapshot.id)) as SessionTask)
    for (const t of await registry.list('s1')) vandalize(t)
    expect(await registry.get('s1', snapshot.id)).toEqual(snapshot)
    const canceled = (await registry.requestCancel('s1', snapshot.id)) as SessionTask
    const afterCancel = structuredClone(canceled)
    vandalize(canceled)
    expect(await registry.get('s1', snapshot.id)).toEqual(afterCancel)
  })

  it('mutating records returned by an idempotent create, a no-op or a dropped update changes nothing', async () => {
    const { registry, snapshot } = await prepared()
    vandalize(await registry.create(base('s1', { id: 'fixed', spec: { nested: { v: 1 } } })))
    const fixedSnap = structuredClone(await registry.get('s1', 'fixed'))
    vandalize(await registry.create(base('s1', { id: 'fixed' })))
    vandalize((await registry.update('s1', snapshot.id, {})) as SessionTask)
    vandalize((await registry.update('s1', snapshot.id, { expectedAttempt: 9 })) as SessionTask)
    expect(await registry.get('s1', snapshot.id)).toEqual(snapshot)
    expect(await registry.get('s1', 'fixed')).toEqual(fixedSnap)
  })

  it('mutating records returned by listStale and prune changes nothing', async () => {
    const { registry, snapshot } = await prepared()
    await registry.update('s1', snapshot.id, { heartbeatAt: '2020-01-01T00:00:00.000Z' })
    const stored = structuredClone(await registry.get('s1', snapshot.id))
    for (const t of await registry.listStale({ heartbeatBefore: new Date(T0) })) vandalize(t)
    expect(await registry.get('s1', snapshot.id)).toEqual(stored)
    const done = await registry.create(
      base('s1', { state: 'succeeded', spec: { nested: { v: 1 } } }),
    )
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
    expect(pruned.map((t) => t.id)).toEqual([done.id])
    for (const t of pruned) vandalize(t)
    expect(await registry.get('s1', snapshot.id)).toEqual(stored)
  })

  it('mutating event payloads inside listeners changes nothing', async () => {
    const { registry } = setup()
    const unsubscribe = registry.subscribe('s1', (type, payload) => {
      if (type === 'task.created' || type === 'task.updated') {
        vandalize((payload as SessionTaskEvents['task.created']).task)
      } else if (type === 'task.message.received') {
        const p = payload as SessionTaskEvents['task.message.received']
        p.message.content.push({ type: 'text', text: 'evil' })
        const first = p.message.content[0]
        if (first?.type === 'data') (first.data as { v: number }).v = 999
        p.message.direction = 'inbound'
      }
    })
    registry.subscribeAll((_s, type, payload) => {
      if (type === 'task.updated') (payload as SessionTaskEvents['task.updated']).task.summary = 'x'
    })
    const created = await registry.create(base('s1', { spec: { nested: { v: 1 } } }))
    const updated = await registry.update('s1', created.id, richUpdate())
    const msg = await registry.recordMessage('s1', created.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { v: 1 } }],
    })
    unsubscribe()
    const stored = await registry.get('s1', created.id)
    expect(stored).toEqual(updated)
    expect(stored).toEqual({
      ...created,
      state: 'running',
      startedAt: created.createdAt,
      progress: { current: 1, steps: [{ title: 'step', status: 'in_progress' }] },
      artifacts: [{ name: 'out', type: 'file', path: '/out' }],
      links: { resourceIds: ['r1'] },
      error: { kind: 'k', message: 'm' },
    })
    expect(stored?.displayName).toBe('Job')
    expect(stored?.spec).toEqual({ nested: { v: 1 } })
    expect(stored?.summary).toBeUndefined()
    expect(await registry.listMessages('s1', created.id)).toEqual([msg])
    expect(msg.direction).toBe('outbound')
    expect(msg.content).toEqual([{ type: 'data', data: { v: 1 } }])
  })

  it('mutating returned messages changes nothing', async () => {
    const { registry } = setup()
    const t = await registry.create(base('s1'))
    const msg = await registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'hello' },
        { type: 'data', data: { list: [1, 2] } },
      ],
    })
    const copy = structuredClone(msg)
    const mangle = (m: typeof msg) => {
      m.id = 'tmsg_evil'
      const first = m.content[0]
      if (first?.type === 'text') first.text = 'evil'
      const second = m.content[1]
      if (second?.type === 'data') (second.data as { list: number[] }).list.push(3)
      m.content.push({ type: 'text', text: 'more' })
    }
    mangle(msg)
    for (const m of await registry.listMessages('s1', t.id)) mangle(m)
    expect(await registry.listMessages('s1', t.id)).toEqual([copy])
    expect(await registry.listMessages('s1', t.id, { afterId: copy.id })).toEqual([])
  })

  it('mutating the caller’s input objects after the call changes nothing', async () => {
    const { registry } = setup()
    const createInput = base('s1', {
      spec: { nested: { v: 1 }, list: [1] },
      links: { resourceIds: ['r0'] },
    })
    const created = await registry.create(createInput)
    ;(createInput.spec as { nested: { v: number } }).nested.v = 999
    ;(createInput.spec as { list: number[] }).list.push(2)
    createInput.links?.resourceIds?.push('evil')
    createInput.displayName = 'evil'
    expect(await registry.get('s1', created.id)).toEqual(created)

    const update: SessionTaskUpdate = {
      ...richUpdate(),
      appendArtifact: { name: 'extra', type: 'url', url: 'https://x' },
    }
    const updated = await registry.update('s1', created.id, update)
    update.progress?.steps?.push({ title: 'evil', status: 'done' })
    if (update.progress?.steps?.[0] !== undefined) update.progress.steps[0].title = 'evil'
    update.artifacts?.push({ name: 'evil', type: 'file' })
    if (update.artifacts?.[0] !== undefined) update.artifacts[0].name = 'evil'
    if (update.appendArtifact !== undefined) update.appendArtifact.name = 'evil'
    update.links?.resourceIds?.push('evil')
    if (update.error !== undefined) update.error.kind = 'evil'
    expect(await registry.get('s1', created.id)).toEqual(updated)

    const request = { id: 'q', prompt: 'p', expected: { choices: ['a'] } }
    const waiting = await registry.update('s1', created.id, { inputRequest: request })
    request.expected.choices.push('evil')
    request.prompt = 'evil'
    expect(await registry.get('s1', created.id)).toEqual(waiting)

    const content: NewTaskMessage['content'] = [
      { type: 'text', text: 'hi' },
      { type: 'data', data: { deep: { v: 1 } } },
    ]
    const msgInput: NewTaskMessage = { direction: 'outbound', content }
    const msg = await registry.recordMessage('s1', created.id, msgInput)
    content.push({ type: 'text', text: 'evil' })
    const first = content[0]
    if (first?.type === 'text') first.text = 'evil'
    const second = content[1]
    if (second?.type === 'data') (second.data as { deep: { v: number } }).deep.v = 999
    msgInput.direction = 'inbound'
    expect(await registry.listMessages('s1', created.id)).toEqual([msg])
    expect(msg.content).toEqual([
      { type: 'text', text: 'hi' },
      { type: 'data', data: { deep: { v: 1 } } },
    ])
  })
})

describe('secrets in push configs', () => {
  it('event payloads carry the redacted projection while return values carry the full record', async () => {
    const { registry, events } = setup()
    const created = await registry.create(base('s1', { spec: SECRET_SPEC }))
    expect(created.spec).toEqual(SECRET_SPEC)
    const updated = (await registry.update('s1', created.id, { state: 'running' })) as SessionTask
    expect(updated.spec).toEqual(SECRET_SPEC)
    expect((await registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
    expect((await registry.list('s1'))[0]?.spec).toEqual(SECRET_SPEC)
    const canceled = (await registry.requestCancel('s1', created.id)) as SessionTask
    expect(canceled.spec).toEqual(SECRET_SPEC)

    const redacted = {
      prompt: 'hi',
      push_configs: [{ url: 'https://hook.example/a', has_secret: true }, { url: 'https://b' }],
    }
    expect(events.map((e) => e.type)).toEqual(['task.created', 'task.updated', 'task.updated'])
    const payloadTasks = events.map((e) => (e.payload as { task: SessionTask }).task)
    for (const t of payloadTasks) expect(t.spec).toEqual(redacted)
    expect(payloadTasks[0]).toEqual(toPublicTask(created))
    expect(payloadTasks[1]).toEqual({ ...updated, spec: redacted })
    expect(JSON.stringify(events)).not.toContain('s3cr3t')
  })

  it('a redacted event payload never reaches the stored secret', async () => {
    const { registry } = setup()
    registry.events('s1').on('task.created', ({ task }) => {
      const spec = task.spec as { prompt: string; push_configs: Record<string, unknown>[] }
      spec.prompt = 'evil'
      for (const config of spec.push_configs) {
        config.url = 'https://evil'
        config.secret = 'replaced'
      }
    })
    const created = await registry.create(base('s1', { spec: SECRET_SPEC }))
    expect((await registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
  })
})
