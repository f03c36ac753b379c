import { describe, expect, it } from 'vitest'
import {
  type CreateSessionTask,
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
  isStreamOverflowError,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type StreamItem,
  StreamOverflowError,
  toPublicTask,
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

function setup(options: Omit<InMemorySessionTaskRegistryOptions, 'now'> = {}) {
  let clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ ...options, now: () => clock })
  return {
    registry,
    tick(ms = 1000): string {
      clock = new Date(clock.getTime() + ms)
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

const SECRET_SPEC = { push_configs: [{ url: 'https://hook', secret: 'hunter2' }] }
const REDACTED_SPEC = { push_configs: [{ url: 'https://hook', has_secret: true }] }

const iter = (iterable: AsyncIterable<StreamItem>) => iterable[Symbol.asyncIterator]()

/**
 * Calls `next()` once and lets the microtask queue settle; `ready` says whether
 * an item (or the end) was already available. A pending `result` still
 * resolves with the next item later, so it must be awaited instead of calling
 * `next()` again.
 */
async function nextNow(
  it: AsyncIterator<StreamItem>,
): Promise<{ ready: boolean; result: Promise<IteratorResult<StreamItem>> }> {
  let ready = false
  const result = it.next()
  result.then(
    () => {
      ready = true
    },
    () => {
      ready = true
    },
  )
  for (let i = 0; i < 20; i++) await Promise.resolve()
  return { ready, result }
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

/** Three events in session s1 (created, updated, wake under on_terminal) plus one per extra create. */
async function someEvents(registry: InMemorySessionTaskRegistry, sessionId = 's1') {
  const t = await registry.create(base(sessionId, { wakePolicy: 'on_terminal', spec: SECRET_SPEC }))
  await registry.update(sessionId, t.id, { state: 'succeeded' })
  return t
}

describe('registry.stream without since', () => {
  it('starts with an empty snapshot at seq 0 for a session without events', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1'))
    const first = await it.next()
    expect(first).toEqual({
      done: false,
      value: { seq: 0, type: 'snapshot', payload: { tasks: [] } },
    })
    await it.return?.()
  })

  it('starts with a public snapshot at the last event’s seq, then live events', async () => {
    const { registry, tick } = setup()
    await someEvents(registry)
    tick()
    await registry.create(base('s1', { displayName: 'second' }))
    const it = iter(registry.stream('s1'))
    const [snapshot] = await take(it, 1)
    const expectedTasks = (await registry.list('s1')).map(toPublicTask)
    expect(snapshot).toEqual({ seq: 4, type: 'snapshot', payload: { tasks: expectedTasks } })
    const tasks = (snapshot!.payload as { tasks: SessionTask[] }).tasks
    expect(tasks.map((t) => t.displayName)).toEqual(['Job', 'second'])
    expect(tasks[0]?.spec).toEqual(REDACTED_SPEC)
    expect(JSON.stringify(snapshot)).not.toContain('hunter2')

    const waiting = await nextNow(it)
    expect(waiting.ready).toBe(false)
    const created = await registry.create(base('s1', { displayName: 'live' }))
    expect(await waiting.result).toEqual({
      done: false,
      value: { seq: 5, type: 'task.created', payload: { task: toPublicTask(created) } },
    })
    await it.return?.()
  })

  it('live task events carry the public projection', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1'))
    await take(it, 1)
    const t = await registry.create(base('s1', { spec: SECRET_SPEC }))
    const updated = (await registry.update('s1', t.id, { state: 'running' })) as SessionTask
    const items = await take(it, 2)
    expect(items).toEqual([
      { seq: 1, type: 'task.created', payload: { task: { ...t, spec: REDACTED_SPEC } } },
      { seq: 2, type: 'task.updated', payload: { task: { ...updated, spec: REDACTED_SPEC } } },
    ])
    expect(t.spec).toEqual(SECRET_SPEC)
    await it.return?.()
  })

  it('mutating a snapshot or a streamed payload does not change the registry', async () => {
    const { registry } = setup()
    const t = await registry.create(base('s1', { spec: { deep: { v: 1 } } }))
    const it = iter(registry.stream('s1'))
    const [snapshot] = await take(it, 1)
    const snapTask = (snapshot!.payload as { tasks: SessionTask[] }).tasks[0] as SessionTask
    snapTask.displayName = 'evil'
    ;(snapTask.spec as { deep: { v: number } }).deep.v = 2
    snapTask.links.resourceIds.push('evil')
    await registry.update('s1', t.id, { summary: 's' })
    const [item] = await take(it, 1)
    ;(item!.payload as { task: SessionTask }).task.state = 'failed'
    const stored = await registry.get('s1', t.id)
    expect(stored?.displayName).toBe('Job')
    expect(stored?.spec).toEqual({ deep: { v: 1 } })
    expect(stored?.links.resourceIds).toEqual([])
    expect(stored?.state).toBe('queued')
    await it.return?.()
  })
})

describe('stream sequence numbers', () => {
  it('seq is per session, starts at 1 and grows by 1 for every event, wakes and messages included', async () => {
    const { registry } = setup()
    const types: SessionTaskEventType[] = []
    registry.subscribe('s1', (type) => types.push(type))
    const t = await registry.create(base('s1', { wakePolicy: 'on_activity', state: 'running' }))
    await registry.create(base('s2'))
    await registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await registry.create(base('s2'))
    await registry.recordMessage('s1', t.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'a' }],
      inReplyTo: 'q',
    })
    await registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [{ type: 'text', text: 'b' }],
    })
    await registry.requestCancel('s1', t.id)
    await registry.update('s1', t.id, { state: 'canceled' })
    expect(types).toHaveLength(10)

    const it = iter(registry.stream('s1', { since: 0 }))
    const items = await take(it, types.length)
    expect(items.map((i) => i.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(items.map((i) => i.type)).toEqual(types)
    await it.return?.()

    const it2 = iter(registry.stream('s2', { since: 0 }))
    expect((await take(it2, 2)).map((i) => [i.seq, i.type])).toEqual([
      [1, 'task.created'],
      [2, 'task.created'],
    ])
    await it2.return?.()
  })

  it('streamed payloads equal the listener payloads', async () => {
    const { registry } = setup()
    const seen: { type: SessionTaskEventType; payload: SessionTaskEvents[SessionTaskEventType] }[] =
      []
    registry.subscribe('s1', (type, payload) => seen.push({ type, payload }))
    const t = await someEvents(registry)
    await registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { x: [1] } }],
    })
    const it = iter(registry.stream('s1', { since: 0 }))
    const items = await take(it, seen.length)
    expect(items).toEqual(seen.map((e, i) => ({ seq: i + 1, ...e })))
    await it.return?.()
  })
})

describe('registry.stream with since', () => {
  it('replays the buffered events after since, then live ones, without a snapshot', async () => {
    const { registry } = setup()
    await someEvents(registry)
    await someEvents(registry)
    // seqs 1..6
    const it = iter(registry.stream('s1', { since: 4 }))
    const replay = await take(it, 2)
    expect(replay.map((i) => [i.seq, i.type])).toEqual([
      [5, 'task.updated'],
      [6, 'task.wake'],
    ])
    const waiting = await nextNow(it)
    expect(waiting.ready).toBe(false)
    await registry.create(base('s1'))
    const live = (await waiting.result).value
    expect([live?.seq, live?.type]).toEqual([7, 'task.created'])
    await it.return?.()
  })

  it('since equal to the latest seq gives only live events', async () => {
    const { registry } = setup()
    await someEvents(registry)
    const it = iter(registry.stream('s1', { since: 3 }))
    const waiting = await nextNow(it)
    expect(waiting.ready).toBe(false)
    await registry.create(base('s1'))
    const live = (await waiting.result).value
    expect([live?.seq, live?.type]).toEqual([4, 'task.created'])
    await it.return?.()
  })

  it('a since older than the replay buffer falls back to a snapshot', async () => {
    const { registry } = setup({ replayBuffer: 3 })
    await someEvents(registry)
    await registry.create(base('s1'))
    await registry.create(base('s1'))
    // seqs 1..5, buffer holds 3..5
    for (const since of [0, 1]) {
      const it = iter(registry.stream('s1', { since }))
      const [first] = await take(it, 1)
      expect(first?.type).toBe('snapshot')
      expect(first?.seq).toBe(5)
      expect((first!.payload as { tasks: SessionTask[] }).tasks).toHaveLength(3)
      expect((await nextNow(it)).ready).toBe(false)
      await it.return?.()
    }
  })

  it('the oldest cursor the buffer can still serve replays without a snapshot', async () => {
    const { registry } = setup({ replayBuffer: 3 })
    await someEvents(registry)
    await registry.create(base('s1'))
    await registry.create(base('s1'))
    const it = iter(registry.stream('s1', { since: 2 }))
    expect((await take(it, 3)).map((i) => i.seq)).toEqual([3, 4, 5])
    expect((await nextNow(it)).ready).toBe(false)
    await it.return?.()
  })

  it('a since ahead of the latest seq falls back to a snapshot', async () => {
    const { registry } = setup()
    await someEvents(registry)
    const it = iter(registry.stream('s1', { since: 99 }))
    const [first] = await take(it, 1)
    expect(first).toEqual({
      seq: 3,
      type: 'snapshot',
      payload: { tasks: (await registry.list('s1')).map(toPublicTask) },
    })
    await registry.create(base('s1'))
    expect((await take(it, 1)).map((i) => i.seq)).toEqual([4])
    await it.return?.()
  })

  it('delivers every event exactly once across the replay/live boundary', async () => {
    const { registry } = setup()
    await someEvents(registry)
    await someEvents(registry)
    const stream = registry.stream('s1', { since: 2 })
    // Events raised between stream() and the first next().
    await registry.create(base('s1'))
    const it = iter(stream)
    const firstItem = await it.next()
    // Events raised after the start, while the replay is still queued.
    await registry.create(base('s1'))
    await someEvents(registry)
    const rest = await take(it, 8)
    const seqs = [firstItem.value?.seq, ...rest.map((i) => i.seq)]
    expect(seqs).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(rest.every((i) => i.type !== 'snapshot')).toBe(true)
    // Live events while the consumer waits.
    const waiting = await nextNow(it)
    expect(waiting.ready).toBe(false)
    await registry.create(base('s1'))
    expect((await waiting.result).value?.seq).toBe(12)
    await registry.create(base('s1'))
    await registry.create(base('s1'))
    expect((await take(it, 2)).map((i) => i.seq)).toEqual([13, 14])
    await it.return?.()
  })

  it('has no gap or duplicate between a snapshot and the live events', async () => {
    const { registry } = setup()
    await someEvents(registry)
    const it = iter(registry.stream('s1'))
    const created = registry.create(base('s1'))
    const [snapshot] = await take(it, 1)
    await created
    const ids = (snapshot!.payload as { tasks: SessionTask[] }).tasks.map((t) => t.id)
    const next = await nextNow(it)
    if (snapshot?.seq === 4) {
      // The snapshot already contains the new task: no event for it must follow.
      expect(ids).toHaveLength(2)
      expect(next.ready).toBe(false)
    } else {
      expect(snapshot?.seq).toBe(3)
      expect(ids).toHaveLength(1)
      expect(next.ready).toBe(true)
      expect((await next.result).value?.seq).toBe(4)
    }
    await it.return?.()
  })

  it('a stream started inside a listener neither repeats nor misses the events still being dispatched', async () => {
    const { registry } = setup()
    let plain: AsyncIterator<StreamItem> | undefined
    let resumed: AsyncIterator<StreamItem> | undefined
    let plainFirst: Promise<IteratorResult<StreamItem>> | undefined
    let resumedFirst: Promise<IteratorResult<StreamItem>> | undefined
    registry.events('s1').on('task.created', ({ task }) => {
      // Raises seq 2 while seq 1 is still being dispatched.
      void registry.update('s1', task.id, { state: 'running' })
      plain = iter(registry.stream('s1'))
      plainFirst = plain.next()
      resumed = iter(registry.stream('s1', { since: 1 }))
      resumedFirst = resumed.next()
    })
    await registry.create(base('s1'))
    const snapshot = (await plainFirst!).value
    expect(snapshot?.type).toBe('snapshot')
    expect(snapshot?.seq).toBe(2)
    expect((snapshot!.payload as { tasks: SessionTask[] }).tasks.map((t) => t.state)).toEqual([
      'running',
    ])
    const replayed = (await resumedFirst!).value
    expect([replayed?.seq, replayed?.type]).toEqual([2, 'task.updated'])
    const plainNext = await nextNow(plain!)
    const resumedNext = await nextNow(resumed!)
    expect(plainNext.ready).toBe(false)
    expect(resumedNext.ready).toBe(false)
    await registry.create(base('s1', { displayName: 'later' }))
    expect((await plainNext.result).value?.seq).toBe(3)
    expect((await resumedNext.result).value?.seq).toBe(3)
    await plain!.return?.()
    await resumed!.return?.()
  })

  it('streams of different sessions are independent', async () => {
    const { registry } = setup()
    const a = iter(registry.stream('A'))
    const b = iter(registry.stream('B'))
    await take(a, 1)
    await take(b, 1)
    await registry.create(base('A'))
    await registry.create(base('B'))
    await registry.create(base('A'))
    expect((await take(a, 2)).map((i) => i.seq)).toEqual([1, 2])
    expect((await take(b, 1)).map((i) => i.seq)).toEqual([1])
    expect((await nextNow(b)).ready).toBe(false)
    await a.return?.()
    await b.return?.()
  })
})

describe('stream overflow', () => {
  it('ends with StreamOverflowError after the queued items when the consumer falls behind', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1', { maxQueue: 2 }))
    expect((await it.next()).value?.type).toBe('snapshot')
    for (let i = 0; i < 5; i++) await registry.create(base('s1', { displayName: `t${i}` }))
    const queued = await take(it, 2)
    expect(queued.map((i) => i.seq)).toEqual([1, 2])
    const error = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamOverflowError)
    expect(isStreamOverflowError(error)).toBe(true)
    expect(await it.next()).toEqual({ done: true, value: undefined })
    await registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('a consumer keeping up never overflows', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1', { maxQueue: 1 }))
    await take(it, 1)
    for (let i = 0; i < 10; i++) {
      const pending = it.next()
      await registry.create(base('s1'))
      expect((await pending).value?.seq).toBe(i + 1)
    }
    await it.return?.()
  })

  it('a replay larger than maxQueue overflows after the items that fit', async () => {
    const { registry } = setup()
    for (let i = 0; i < 5; i++) await registry.create(base('s1'))
    const it = iter(registry.stream('s1', { since: 0, maxQueue: 2 }))
    expect((await take(it, 2)).map((i) => i.seq)).toEqual([1, 2])
    await expect(it.next()).rejects.toSatisfy(isStreamOverflowError)
    expect((await it.next()).done).toBe(true)
  })
})

describe('ending a stream', () => {
  it('break ends the iteration', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1'))
    const seen: StreamItem[] = []
    for await (const item of { [Symbol.asyncIterator]: () => it }) {
      seen.push(item)
      break
    }
    expect(seen.map((i) => i.type)).toEqual(['snapshot'])
    await registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('return() ends the iteration and resolves a pending next() with done', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1'))
    await take(it, 1)
    const pending = it.next()
    expect(await it.return?.()).toEqual({ done: true, value: undefined })
    expect(await pending).toEqual({ done: true, value: undefined })
    await registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('return() drops queued items and ends at once', async () => {
    const { registry } = setup()
    const it = iter(registry.stream('s1'))
    await take(it, 1)
    await registry.create(base('s1'))
    await registry.create(base('s1'))
    await it.return?.()
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('an aborted signal ends the iteration, also while a next() is pending', async () => {
    const { registry } = setup()
    const controller = new AbortController()
    const it = iter(registry.stream('s1', { signal: controller.signal }))
    await take(it, 1)
    const pending = it.next()
    controller.abort()
    expect(await pending).toEqual({ done: true, value: undefined })
    await registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('an already aborted signal yields nothing', async () => {
    const { registry } = setup()
    await registry.create(base('s1'))
    const it = iter(registry.stream('s1', { signal: AbortSignal.abort() }))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('deleteSession ends a stream that is waiting', async () => {
    const { registry } = setup()
    await registry.create(base('s1'))
    const it = iter(registry.stream('s1'))
    await take(it, 1)
    const pending = it.next()
    await registry.deleteSession('s1')
    expect(await pending).toEqual({ done: true, value: undefined })
    await registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('deleteSession ends a for-await loop over the stream', async () => {
    const { registry } = setup()
    const items: StreamItem[] = []
    const loop = (async () => {
      for await (const item of registry.stream('s1')) items.push(item)
      return 'ended'
    })()
    for (let i = 0; i < 10; i++) await Promise.resolve()
    await registry.create(base('s1'))
    await registry.deleteSession('s1')
    expect(await loop).toBe('ended')
    expect(items[0]?.type).toBe('snapshot')
  })

  it('deleteSession drops the buffered events: a later stream replays none of them', async () => {
    const { registry } = setup()
    await someEvents(registry)
    await registry.create(base('s1'))
    await registry.deleteSession('s1')
    const it = iter(registry.stream('s1', { since: 0 }))
    const first = await nextNow(it)
    const fresh = await registry.create(base('s1', { displayName: 'fresh' }))
    const item = (await first.result).value
    if (item?.type === 'snapshot') {
      expect(item.payload.tasks).toEqual([])
      const [next] = await take(it, 1)
      expect(next?.type).toBe('task.created')
      expect((next!.payload as { task: SessionTask }).task.id).toBe(fresh.id)
    } else {
      expect(item?.type).toBe('task.created')
      expect((item!.payload as { task: SessionTask }).task.id).toBe(fresh.id)
    }
    await it.return?.()
  })

  it('ending one stream leaves other streams of the session running', async () => {
    const { registry } = setup()
    const a = iter(registry.stream('s1'))
    const b = iter(registry.stream('s1'))
    await take(a, 1)
    await take(b, 1)
    await a.return?.()
    await registry.create(base('s1'))
    expect((await take(b, 1)).map((i) => i.type)).toEqual(['task.created'])
    expect(await a.next()).toEqual({ done: true, value: undefined })
    await b.return?.()
  })
})
