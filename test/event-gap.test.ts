import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type AllSessionsListener,
  createTaskSupervisor,
  createWakeQueue,
  type EventGap,
  InMemorySessionTaskRegistry,
  type SessionTaskRegistry,
  SessionTaskRegistryCore,
  type StoreEventSink,
  type StreamItem,
  TaskExecutorRegistry,
  type TaskSink,
} from '../src/index.js'
import { LossyStore } from './fixtures/lossy-store.js'

// SPEC 12.5: when a backend can no longer supply committed events, the
// process is told: streams go on from a fresh snapshot; the supervisor, the
// wake queue and waits re-read the records; onEventGap hears of it.

function world() {
  const store = new LossyStore()
  const gaps: EventGap[] = []
  const registry = new SessionTaskRegistryCore(store, { onEventGap: (gap) => gaps.push(gap) })
  return { store, registry, gaps }
}

async function take(iterator: AsyncIterator<StreamItem>, n: number): Promise<StreamItem[]> {
  const items: StreamItem[] = []
  for (let i = 0; i < n; i++) {
    const next = await iterator.next()
    if (next.done === true) break
    items.push(next.value)
  }
  return items
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('streams across a gap', () => {
  it('go on from a fresh snapshot, then the events after it', async () => {
    const { store, registry, gaps } = world()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    const it = registry.stream('s')[Symbol.asyncIterator]()
    expect((await take(it, 1))[0]?.type).toBe('snapshot')
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    await registry.update('s', task.id, { progress: { label: 'half' } })
    store.forget()
    const gap = store.report('s')
    expect(gaps).toEqual([gap])
    await registry.update('s', task.id, { state: 'succeeded' })
    const [snapshot, next] = await take(it, 2)
    expect(snapshot?.type).toBe('snapshot')
    expect(snapshot?.seq).toBe(3)
    const payload = snapshot?.payload as { tasks: readonly { state: string; progress?: unknown }[] }
    const tasks = payload.tasks
    expect(tasks[0]?.state).toBe('running')
    expect(tasks[0]?.progress).toEqual({ label: 'half' })
    expect(next?.seq).toBe(4)
    expect(next?.type).toBe('task.updated')
    await it.return?.()
  })

  it('cover a jump in live seqs the store cannot fill with a snapshot, not an error', async () => {
    const { store, registry } = world()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    const it = registry.stream('s')[Symbol.asyncIterator]()
    await take(it, 1)
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    store.losing = false
    store.lost = []
    store.forget()
    await registry.update('s', task.id, { state: 'succeeded' })
    const [item] = await take(it, 1)
    expect(item?.type).toBe('snapshot')
    expect(item?.seq).toBe(3)
    await it.return?.()
  })

  it('cover a jump whose fill read fails with a snapshot too', async () => {
    const { store, registry } = world()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    const it = registry.stream('s')[Symbol.asyncIterator]()
    await take(it, 1)
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    store.losing = false
    store.lost = []
    store.readEvents = async () => {
      throw new Error('events table unreachable')
    }
    await registry.update('s', task.id, { state: 'succeeded' })
    const [item] = await take(it, 1)
    expect(item?.type).toBe('snapshot')
    expect(item?.seq).toBe(3)
    await it.return?.()
  })

  it('ignore a gap they already hold (the start read covered it)', async () => {
    const { store, registry } = world()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    const it = registry.stream('s')[Symbol.asyncIterator]()
    await take(it, 1)
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    store.losing = false
    store.lost = []
    // Told of a gap that ends before what the stream has seen.
    ;(store as unknown as { out: StoreEventSink }).out.gap({ sessionId: 's', after: 0, through: 1 })
    await registry.update('s', task.id, { state: 'succeeded' })
    const [a, b] = await take(it, 2)
    expect([a?.type, a?.seq]).toEqual(['task.updated', 2])
    expect([b?.type, b?.seq]).toEqual(['task.updated', 3])
    await it.return?.()
  })
})

describe('readers that resynchronise from the records', () => {
  function supervised() {
    const w = world()
    const executors = new TaskExecutorRegistry()
    const sinks: TaskSink[] = []
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        async start(_task, ctx) {
          sinks.push(ctx.sink)
          await ctx.sink.state('running')
        },
        async cancel() {},
      }),
    })
    const supervisor = createTaskSupervisor({
      registry: w.registry,
      executors,
      concurrency: { global: 1 },
      cancelGraceMs: 10,
      onError: () => {},
    })
    return { ...w, supervisor, sinks }
  }

  it('the supervisor frees the slot of a task whose terminal event was lost', async () => {
    const w = supervised()
    const first = await w.supervisor.spawn({ sessionId: 's', kind: 'job', displayName: 'a' })
    const second = await w.supervisor.spawn({ sessionId: 's', kind: 'job', displayName: 'b' })
    w.store.losing = true
    await w.registry.update('s', first.id, { state: 'succeeded' })
    await new Promise((r) => setTimeout(r, 0))
    expect((await w.registry.get('s', second.id))?.state).toBe('queued')
    w.store.report('s')
    await vi.waitFor(async () =>
      expect((await w.registry.get('s', second.id))?.state).toBe('running'),
    )
    expect(w.sinks).toHaveLength(2)
    await w.supervisor.close()
  })

  it('wait() re-reads the task and resolves', async () => {
    const w = supervised()
    const task = await w.supervisor.spawn({ sessionId: 's', kind: 'job', displayName: 'a' })
    const waiting = w.supervisor.wait('s', task.id)
    w.store.losing = true
    await w.registry.update('s', task.id, { state: 'failed', error: { kind: 'x', message: 'y' } })
    w.store.report('s')
    const { task: done, timedOut } = await waiting
    expect(timedOut).toBe(false)
    expect(done.state).toBe('failed')
    await w.supervisor.close()
  })

  it('the wake queue rebuilds lost wakes from the records, once', async () => {
    const w = world()
    const queue = createWakeQueue(w.registry)
    const a = await w.registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'seen',
      wakePolicy: 'on_terminal',
    })
    const b = await w.registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'lost',
      wakePolicy: 'on_activity',
    })
    await w.registry.update('s', a.id, { state: 'succeeded', summary: 'ok' })
    const live = queue.drain('s')
    expect(live.map((x) => x.taskId)).toEqual([a.id])
    w.store.losing = true
    await w.registry.update('s', b.id, { inputRequest: { id: 'r', prompt: 'Which?' } })
    w.store.report('s')
    await vi.waitFor(() => expect(queue.pending('s')).toBe(1))
    const [rebuilt] = queue.drain('s')
    expect(rebuilt).toMatchObject({
      sessionId: 's',
      taskId: b.id,
      transition: 'awaiting_input',
      text: `Task "lost" (${b.id}) is awaiting input: Which?`,
    })
    // A second gap raises nothing new: both wakes were seen.
    const c = await w.registry.create({ sessionId: 's', kind: 'k', displayName: 'quiet' })
    w.store.losing = true
    await w.registry.update('s', c.id, { state: 'succeeded' })
    w.store.report('s')
    await new Promise((r) => setTimeout(r, 5))
    expect(queue.pending('s')).toBe(0)
    queue.stop()
  })
})

describe('the wake queue across a gap', () => {
  it('does not raise a terminal wake twice when its event arrives after the rebuild read it', async () => {
    // A registry seen through a relay whose events lag behind direct reads,
    // as another process's write is visible to list() before its NOTIFY.
    const real = new InMemorySessionTaskRegistry({ onEventGap: () => {} })
    let gapHook: (gap: EventGap) => void = () => {}
    let live: AllSessionsListener = () => {}
    const lagging: Parameters<AllSessionsListener>[] = []
    real.subscribeAll((...args) => lagging.push(args))
    const lagged = {
      now: () => real.now(),
      list: (sessionId: string) => real.list(sessionId),
      subscribeAll: (listener: AllSessionsListener) => {
        live = listener
        return () => {}
      },
      onEventGap: (hook: (gap: EventGap) => void) => {
        gapHook = hook
        return () => {}
      },
    } as unknown as SessionTaskRegistry
    const queue = createWakeQueue(lagged)
    const t = await real.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'x',
      wakePolicy: 'on_terminal',
    })
    await real.update('s', t.id, { state: 'succeeded' })
    gapHook({ sessionId: 's', after: 0, through: 1 })
    await vi.waitFor(() => expect(queue.pending('s')).toBe(1))
    for (const args of lagging) live(...args)
    expect(queue.drain('s').map((w) => w.transition)).toEqual(['terminal'])
  })
})

describe('reporting', () => {
  it('warns on the console by default', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const store = new LossyStore()
    const registry = new SessionTaskRegistryCore(store)
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    store.report('s')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]?.[0])).toContain("events 2..2 of session 's'")
  })

  it('a throwing hook goes to onListenerError and the others still run', async () => {
    const errors: unknown[] = []
    const store = new LossyStore()
    const seen: EventGap[] = []
    const registry = new SessionTaskRegistryCore(store, {
      onListenerError: (error) => errors.push(error),
      onEventGap: (gap) => seen.push(gap),
    })
    registry.onEventGap(() => {
      throw new Error('hook broke')
    })
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    store.losing = true
    await registry.update('s', task.id, { state: 'running' })
    store.report('s')
    expect(errors).toHaveLength(1)
    expect(seen).toHaveLength(1)
  })

  it('a gap reported during a dispatch keeps its place between the events', async () => {
    const { store, registry } = world()
    const order: string[] = []
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'one' })
    registry.onEventGap((gap) => order.push(`gap ${gap.after}`))
    let reported = false
    registry.subscribe('s', (type, payload) => {
      order.push(`${type} ${(payload as { task?: { state: string } }).task?.state ?? ''}`)
      if (!reported) {
        reported = true
        ;(store as unknown as { out: StoreEventSink }).out.gap({ sessionId: 's', after: 9 })
        void registry.update('s', task.id, { state: 'succeeded' })
      }
    })
    await registry.update('s', task.id, { state: 'running' })
    await new Promise((r) => setTimeout(r, 0))
    expect(order).toEqual(['task.updated running', 'gap 9', 'task.updated succeeded'])
  })
})
