import { describe, expect, test } from 'vitest'
import {
  createWakeQueue,
  InMemorySessionTaskRegistry,
  RegistryTaskSink,
  type StreamItem,
} from '../src/index.js'

async function churn(registry: InMemorySessionTaskRegistry, sessionId: string, tasks: number) {
  for (let i = 0; i < tasks; i++) {
    const task = await registry.create({
      sessionId,
      kind: 'k',
      displayName: 'd',
      wakePolicy: 'on_terminal',
    })
    const sink = new RegistryTaskSink(registry, sessionId, task.id)
    await sink.state('running')
    await sink.post({ content: [{ type: 'text', text: 'x' }] })
    await sink.state('succeeded')
  }
}

describe('memory', () => {
  test('deleted sessions leave no task, emitter, buffer or pending wake behind', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const wakes = createWakeQueue(registry)
    registry.subscribe('a', () => {})
    registry.events('b').on('task.created', () => {})
    await churn(registry, 'a', 5)
    await churn(registry, 'b', 5)
    expect(registry.stats()).toEqual({
      tasks: 10,
      sessions: 2,
      eventSessions: 2,
      bufferedEvents: 50,
    })
    expect(wakes.pending('a')).toBe(5)
    expect(await registry.deleteSession('a')).toBe(5)
    expect(await registry.deleteSession('b')).toBe(5)
    expect(registry.stats()).toEqual({ tasks: 0, sessions: 0, eventSessions: 0, bufferedEvents: 0 })
    expect(wakes.pending('a')).toBe(0)
    expect(registry.events('a').all.size).toBe(0)
    wakes.stop()
  })

  test('pruning every finished task leaves the registry empty', async () => {
    const registry = new InMemorySessionTaskRegistry()
    await churn(registry, 'a', 20)
    const pruned = await registry.prune({
      finishedBefore: new Date(Date.now() + 60_000),
      limit: 1000,
    })
    expect(pruned).toHaveLength(20)
    expect(registry.stats()).toEqual({ tasks: 0, sessions: 0, eventSessions: 0, bufferedEvents: 0 })
  })

  test('a stream from before a pruned task’s events falls back to a snapshot', async () => {
    const registry = new InMemorySessionTaskRegistry()
    await churn(registry, 'a', 1)
    const keep = await registry.create({ sessionId: 'a', kind: 'k', displayName: 'keep' })
    // 1 task x 5 events (created, running, message, succeeded, wake), then keep's created at seq 6.
    await registry.prune({ finishedBefore: new Date(Date.now() + 60_000) })
    const fromStart = registry.stream('a', { since: 1 })[Symbol.asyncIterator]()
    const first = (await fromStart.next()).value as StreamItem
    expect(first.type).toBe('snapshot')
    expect(first.seq).toBe(6)
    expect(first.type === 'snapshot' && first.payload.tasks.map((t) => t.id)).toEqual([keep.id])
    await fromStart.return?.()
    // After the dropped events, the buffer still serves.
    const fromFive = registry.stream('a', { since: 5 })[Symbol.asyncIterator]()
    const next = (await fromFive.next()).value as StreamItem
    expect(next).toMatchObject({ seq: 6, type: 'task.created' })
    await fromFive.return?.()
  })
})

describe('stream waiters', () => {
  test('two next() calls pending at once both settle, in order', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const it = registry.stream('a')[Symbol.asyncIterator]()
    expect((await it.next()).value).toMatchObject({ type: 'snapshot', seq: 0 })
    const first = it.next()
    const second = it.next()
    const third = it.next()
    const task = await registry.create({ sessionId: 'a', kind: 'k', displayName: 'd' })
    await registry.update('a', task.id, { state: 'running' })
    expect((await first).value).toMatchObject({ seq: 1, type: 'task.created' })
    expect((await second).value).toMatchObject({ seq: 2, type: 'task.updated' })
    await it.return?.()
    expect(await third).toEqual({ done: true, value: undefined })
  })

  test('the replay budget bounds buffered events across sessions; older cursors get a snapshot', async () => {
    const registry = new InMemorySessionTaskRegistry({ replayBudget: 100 })
    for (let i = 0; i < 300; i++) {
      const task = await registry.create({ sessionId: `s${i}`, kind: 'k', displayName: 'd' })
      await registry.update(`s${i}`, task.id, { state: 'running' })
    }
    expect(registry.stats().bufferedEvents).toBe(100)
    expect(registry.stats().sessions).toBe(300)
    const early = registry.stream('s0', { since: 0 })[Symbol.asyncIterator]()
    expect((await early.next()).value?.type).toBe('snapshot')
    await early.return?.()
    const late = registry.stream('s299', { since: 0 })[Symbol.asyncIterator]()
    expect((await late.next()).value?.type).toBe('task.created')
    await late.return?.()
  })

  test('a session nobody listens to any more keeps no event state', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const off = registry.subscribe('quiet', () => {})
    const it = registry.stream('quiet')[Symbol.asyncIterator]()
    await it.next()
    expect(registry.stats().eventSessions).toBe(1)
    off()
    await it.return?.()
    expect(registry.stats()).toEqual({ tasks: 0, sessions: 0, eventSessions: 0, bufferedEvents: 0 })
  })

  test('a listener that deletes its session on a wake leaves no pending wake (local and global listeners)', async () => {
    for (const global of [false, true]) {
      const registry = new InMemorySessionTaskRegistry()
      const wakes = createWakeQueue(registry)
      let deleting: Promise<number> | undefined
      const onEvent = (sessionId: string, type: string) => {
        if (type === 'task.wake') deleting = registry.deleteSession(sessionId)
      }
      if (global) registry.subscribeAll(onEvent)
      else registry.subscribe('s', (type) => onEvent('s', type))
      const task = await registry.create({
        sessionId: 's',
        kind: 'k',
        displayName: 'd',
        wakePolicy: 'on_terminal',
      })
      await registry.update('s', task.id, { state: 'succeeded' })
      expect(deleting).toBeDefined()
      await deleting
      expect(wakes.pending('s')).toBe(0)
      expect(wakes.drain('s')).toEqual([])
      expect(registry.stats().tasks).toBe(0)
      wakes.stop()
    }
  })
})
