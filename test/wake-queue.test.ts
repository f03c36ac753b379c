import { afterEach, describe, expect, test, vi } from 'vitest'
import {
  createWakeQueue,
  type EventGap,
  InMemorySessionTaskRegistry,
  InMemoryTaskStore,
  SessionTaskRegistryCore,
  type StoreEventSink,
  type TaskWake,
  ValidationError,
} from '../src/index.js'

async function finish(registry: InMemorySessionTaskRegistry, sessionId: string, name: string) {
  const task = await registry.create({
    sessionId,
    kind: 'k',
    displayName: name,
    wakePolicy: 'on_terminal',
    state: 'running',
  })
  await registry.update(sessionId, task.id, { state: 'succeeded' })
  return task
}

afterEach(() => {
  vi.useRealTimers()
})

describe('WakeQueue.next', () => {
  test('takes a pending wake at once, oldest first, and removes it', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const a = await finish(registry, 's', 'a')
    const b = await finish(registry, 's', 'b')
    expect((await queue.next('s'))?.taskId).toBe(a.id)
    expect(queue.pending('s')).toBe(1)
    expect((await queue.next('s'))?.taskId).toBe(b.id)
    expect(queue.drain('s')).toEqual([])
    queue.stop()
  })

  test('waits for the next wake of its session only; two takers get one wake each, in order', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const first = queue.next('s')
    const second = queue.next('s')
    await finish(registry, 'other', 'elsewhere')
    const a = await finish(registry, 's', 'a')
    const b = await finish(registry, 's', 'b')
    expect((await first)?.taskId).toBe(a.id)
    expect((await second)?.taskId).toBe(b.id)
    // Handed over, not kept: neither drain nor pending sees them.
    expect(queue.pending('s')).toBe(0)
    expect(queue.drain('other').map((w) => w.transition)).toEqual(['terminal'])
    queue.stop()
  })

  test('resolves undefined after timeoutMs, and the timed-out taker gets nothing later', async () => {
    vi.useFakeTimers()
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const waiting = queue.next('s', { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1000)
    expect(await waiting).toBeUndefined()
    await finish(registry, 's', 'late')
    expect(queue.pending('s')).toBe(1)
    queue.stop()
  })

  test('rejects with the reason of an aborted signal, before or while waiting, and lets the wake go to the queue', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const early = new AbortController()
    early.abort(new Error('turn over'))
    await expect(queue.next('s', { signal: early.signal })).rejects.toThrow('turn over')
    const later = new AbortController()
    const waiting = queue.next('s', { signal: later.signal })
    later.abort(new Error('user left'))
    await expect(waiting).rejects.toThrow('user left')
    await finish(registry, 's', 'after')
    expect(queue.pending('s')).toBe(1)
    queue.stop()
  })

  test('stop() answers every waiting taker with undefined, and later calls too', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const waiting = [queue.next('s'), queue.next('t')]
    queue.stop()
    expect(await Promise.all(waiting)).toEqual([undefined, undefined])
    expect(await queue.next('s')).toBeUndefined()
  })

  test('bad options are refused by name and leave no taker behind', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    expect(() => queue.next('', {})).toThrow(/sessionId/)
    expect(() => queue.next('s', { timeoutMs: -1 })).toThrow(ValidationError)
    expect(() => queue.next('s', { signal: 'x' as unknown as AbortSignal })).toThrow(/signal/)
    await finish(registry, 's', 'kept')
    expect(queue.pending('s')).toBe(1)
    queue.stop()
  })
})

describe('WakeQueue.describe', () => {
  test("adds a failed task's error to its wake's text; other wakes keep their text", async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const failing = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'deploy',
      wakePolicy: 'on_terminal',
      state: 'running',
    })
    await registry.update('s', failing.id, {
      state: 'failed',
      summary: 'stopped at step 2',
      error: { kind: 'exit', message: 'kubectl exited with 1' },
    })
    await finish(registry, 's', 'fine')
    const [failed, fine] = queue.drain('s')
    if (failed === undefined || fine === undefined) throw new Error('two wakes expected')
    // The SPEC text stays as it is; the error is an extra line.
    expect(failed.text).toBe(
      `Task "deploy" (${failing.id}) finished: failed.\n- summary: stopped at step 2`,
    )
    expect(queue.describe(failed)).toBe(`${failed.text}\n- error: kubectl exited with 1`)
    expect(queue.describe(fine)).toBe(fine.text)
    expect(queue.describe({ ...failed })).toBe(failed.text)
    queue.stop()
  })

  test("a failed task's wake rebuilt after lost events carries its error, and goes to a waiting taker", async () => {
    let sink: StoreEventSink | undefined
    let losing = false
    const store = new (class extends InMemoryTaskStore {
      override attach(out: StoreEventSink): void {
        sink = out
        super.attach({
          ...out,
          deliver: (sid, events) => (losing ? undefined : out.deliver(sid, events)),
        })
      }
    })()
    const registry = new SessionTaskRegistryCore(store, { onEventGap: () => {} })
    const queue = createWakeQueue(registry)
    const task = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'deploy',
      wakePolicy: 'on_terminal',
      state: 'running',
    })
    const waiting = queue.next('s')
    losing = true
    await registry.update('s', task.id, {
      state: 'failed',
      error: { kind: 'exit', message: 'kubectl exited with 1' },
    })
    losing = false
    const gap: EventGap = { sessionId: 's', after: 1, through: 2 }
    sink?.gap(gap)
    const wake = await waiting
    if (wake === undefined) throw new Error('the rebuilt wake was expected')
    expect(wake.text).toBe(`Task "deploy" (${task.id}) finished: failed.`)
    expect(queue.describe(wake)).toBe(`${wake.text}\n- error: kubectl exited with 1`)
    queue.stop()
  })
})

describe('WakeQueue.wakes', () => {
  test('yields every wake of the session once, pending ones first, shared with drain', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const a = await finish(registry, 's', 'a')
    const seen: TaskWake[] = []
    const controller = new AbortController()
    const loop = (async () => {
      for await (const wake of queue.wakes('s', { signal: controller.signal })) {
        seen.push(wake)
        if (seen.length === 3) controller.abort()
      }
    })()
    const b = await finish(registry, 's', 'b')
    const c = await finish(registry, 's', 'c')
    await loop
    expect(seen.map((w) => w.taskId)).toEqual([a.id, b.id, c.id])
    await finish(registry, 's', 'd')
    expect(queue.drain('s').map((w) => w.transition)).toEqual(['terminal'])
    queue.stop()
  })

  test('an abort while waiting ends the loop without an error; stop() ends it too', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const controller = new AbortController()
    const aborted = (async () => {
      for await (const _ of queue.wakes('s', { signal: controller.signal })) {
        throw new Error('no wake was raised')
      }
      return 'ended'
    })()
    controller.abort(new Error('turn over'))
    expect(await aborted).toBe('ended')
    const stopped = (async () => {
      for await (const _ of queue.wakes('s')) throw new Error('no wake was raised')
      return 'ended'
    })()
    queue.stop()
    expect(await stopped).toBe('ended')
  })

  test('breaking out of the loop takes no further wake', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    await finish(registry, 's', 'a')
    for await (const _ of queue.wakes('s')) break
    await finish(registry, 's', 'b')
    expect(queue.pending('s')).toBe(1)
    queue.stop()
  })

  test('two loops over one session share its wakes: each wake reaches exactly one of them', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const got: Record<'left' | 'right', string[]> = { left: [], right: [] }
    const loop = async (side: 'left' | 'right') => {
      for await (const wake of queue.wakes('s')) got[side].push(wake.taskId)
    }
    const loops = Promise.all([loop('left'), loop('right')])
    const ids: string[] = []
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f'])
      ids.push((await finish(registry, 's', name)).id)
    queue.stop()
    await loops
    // Waiting takers are served oldest first, so the two loops alternate.
    expect(got.left).toEqual([ids[0], ids[2], ids[4]])
    expect(got.right).toEqual([ids[1], ids[3], ids[5]])
    expect(queue.pending('s')).toBe(0)
  })

  test('a loop that ends by break, abort or stop leaves no abort listener and no taker behind', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const counted = () => {
      const controller = new AbortController()
      const add = vi.spyOn(controller.signal, 'addEventListener')
      const remove = vi.spyOn(controller.signal, 'removeEventListener')
      const active = () => add.mock.calls.length - remove.mock.calls.length
      return { controller, signal: controller.signal, active, added: () => add.mock.calls.length }
    }
    const one = counted()
    const broken = (async () => {
      let n = 0
      for await (const _ of queue.wakes('s', { signal: one.signal })) if (++n === 2) break
    })()
    await finish(registry, 's', 'a')
    await finish(registry, 's', 'b')
    await broken
    await finish(registry, 's', 'c')
    // No taker of the ended loop swallowed it.
    expect(queue.drain('s')).toHaveLength(1)

    const two = counted()
    const aborted = (async () => {
      for await (const _ of queue.wakes('s', { signal: two.signal })) throw new Error('no wake')
    })()
    two.controller.abort()
    await aborted
    await finish(registry, 's', 'd')
    expect(queue.drain('s')).toHaveLength(1)

    const three = counted()
    const stopped = (async () => {
      for await (const _ of queue.wakes('s', { signal: three.signal })) throw new Error('no wake')
    })()
    queue.stop()
    await stopped
    for (const { added, active } of [one, two, three]) {
      expect(added()).toBeGreaterThan(0)
      expect(active()).toBe(0)
    }
  })

  test('refuses a timeoutMs by name: a loop ends on its signal or stop(), not on a pause', () => {
    const queue = createWakeQueue(new InMemorySessionTaskRegistry())
    expect(() => queue.wakes('s', { timeoutMs: 10 } as { signal?: AbortSignal })).toThrow(
      /^invalid WakeWaitOptions: timeoutMs: /,
    )
    expect(() => queue.wakes('')).toThrow(/sessionId/)
    queue.stop()
  })

  test('Symbol.dispose stops the queue (using)', async () => {
    const registry = new InMemorySessionTaskRegistry()
    let waiting: Promise<TaskWake | undefined> | undefined
    {
      using queue = createWakeQueue(registry)
      waiting = queue.next('s')
    }
    expect(await waiting).toBeUndefined()
  })
})

describe('subscriptions and registries are disposable', () => {
  test('using a subscription unsubscribes at block end; calling it twice is harmless', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const seen: string[] = []
    {
      using _sub = registry.subscribe('s', (type) => seen.push(type))
      await registry.create({ sessionId: 's', kind: 'k', displayName: 'in' })
    }
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'out' })
    expect(seen).toEqual(['task.created'])
    const all = registry.subscribeAll(() => seen.push('all'))
    all()
    all[Symbol.dispose]()
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'after' })
    expect(seen).toEqual(['task.created'])
  })
})
