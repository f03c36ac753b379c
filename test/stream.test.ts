// What the contract does not cover. Snapshots, replay after `since`, seq
// numbering, the public projection, the replay/live and snapshot/live
// boundaries, independent sessions, frozen items, return(), break, abort
// signals, overflow of a live consumer and replay after deleteSession are
// checked on this registry by the contract suite in test/contract.test.ts
// (src/testing/contract/*). Kept here:
// - replayed items (since: 0) carry the very payloads the listeners saw (the
//   contract compares payloads only for live items);
// - at the replay buffer's edge nothing more is queued after the replay;
// - a stream opened inside a listener, while an event is being dispatched;
// - overflow: the error is a StreamOverflowError instance (the contract checks
//   the guard) and the ended stream stays ended after later events; a consumer
//   keeping up never overflows; a replay longer than maxQueue overflows;
// - deleteSession ends a waiting stream and a for-await loop;
// - ending one stream leaves the session's other streams running.
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
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

function setup(options: Omit<InMemorySessionTaskRegistryOptions, 'now'> = {}) {
  const clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ ...options, now: () => clock })
  return { registry }
}

const base = (sessionId: string, extra: Partial<CreateSessionTask> = {}): CreateSessionTask => ({
  sessionId,
  kind: 'background_tool',
  displayName: 'Job',
  ...extra,
})

const SECRET_SPEC = { push_configs: [{ url: 'https://hook', secret: 'hunter2' }] }

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

describe('registry.stream with since', () => {
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
