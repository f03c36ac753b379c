import type { Task } from '@a2a-js/sdk'
import { TaskNotFoundError, UnsupportedOperationError } from '@a2a-js/sdk/errors'
import { ServerCallContext } from '@a2a-js/sdk/server'
import { describe, expect, test, vi } from 'vitest'
import { RegistryMirrorBus } from '../src/bridges/a2a/mirror-bus.js'
import { InMemorySessionTaskRegistry, toSubscription } from '../src/index.js'
import {
  backends,
  ctx,
  folded,
  isArtifact,
  reader,
  send,
  serve,
  stateOf,
  taskOf,
} from './fixtures/a2a-handlers.js'

// Two A2A request handlers over one registry, as two server processes
// would be: what one starts, the other streams, cancels and answers.

describe.each(backends)('SessionTasksA2AEventBusManager on $name', ({ pair }) => {
  test('a resubscribe in the other process follows the task live to its end', async () => {
    const [ra, rb] = await pair()
    const a = serve(ra)
    const b = serve(rb)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    const follow = reader(b.handler.resubscribe({ tenant: '', id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    expect(a.agent.release(id)).toBe(true)
    await Promise.all([stream.done, follow.done])
    expect(
      follow.events
        .map(stateOf)
        .filter((s) => s !== undefined)
        .at(-1),
    ).toBe(3)
    // The resubscriber got the first part, then the second as an append.
    expect(folded(follow.events)).toEqual(['first part', ', second part'])
    expect(stream.events.map(stateOf).at(-1)).toBe(3)
  })

  test("a cancel in the other process stops this process's agent and the cancel stands", async () => {
    const [ra, rb] = await pair()
    const a = serve(ra)
    const b = serve(rb)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    const canceled = await b.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())
    expect(canceled.status?.state).toBe(5)
    await stream.done
    expect(a.agent.cancels).toEqual([id])
    expect(b.agent.cancels).toEqual([])
    // The agent's own late "canceled" did not replace the first terminal status.
    const stored = await a.handler.getTask({ tenant: '', id }, ctx())
    expect(stored.status?.state).toBe(5)
    expect(stored.status?.message?.parts[0]?.content).toMatchObject({
      value: 'Task cancellation requested by user.',
    })
  })

  test('an input request answered in the other process completes the task for both', async () => {
    const [ra, rb] = await pair()
    const a = serve(ra)
    const b = serve(rb)
    const asked = (await a.handler.sendMessage(send('ask'), ctx())) as Task
    expect(asked.status?.state).toBe(6)
    const follow = reader(a.handler.resubscribe({ tenant: '', id: asked.id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    const done = (await b.handler.sendMessage(send('blue', asked.id), ctx())) as Task
    expect(done.status?.state).toBe(3)
    expect(done.artifacts[0]?.parts[0]?.content).toMatchObject({ value: 'you chose blue' })
    await follow.done
    expect(
      follow.events
        .map(stateOf)
        .filter((s) => s !== undefined)
        .at(-1),
    ).toBe(3)
    expect(a.agent.executions).toEqual([asked.id])
    expect(b.agent.executions).toEqual([asked.id])
    const fetched = await a.handler.getTask({ tenant: '', id: asked.id }, ctx())
    expect(fetched.history.map((m) => m.role)).toContain(1)
  })

  test('a cancel in the same process goes to the agent directly', async () => {
    const [ra] = await pair()
    const a = serve(ra)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    const canceled = await a.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())
    expect(canceled.status?.state).toBe(5)
    expect(a.agent.cancels).toEqual([id])
    await stream.done
  })

  test('resubscribing to an unknown, foreign or finished task fails as the SDK says', async () => {
    const [ra, rb] = await pair()
    const a = serve(ra)
    const b = serve(rb)
    const follow = (id: string, context = ctx()) =>
      reader(b.handler.resubscribe({ tenant: '', id }, context)).done
    await expect(follow('nope')).rejects.toBeInstanceOf(TaskNotFoundError)
    const done = (await a.handler.sendMessage(send('hi'), ctx())) as Task
    await expect(follow(done.id)).rejects.toBeInstanceOf(UnsupportedOperationError)
    const other = new ServerCallContext({ user: { isAuthenticated: true, userName: 'bo' } })
    await expect(follow(done.id, other)).rejects.toBeInstanceOf(TaskNotFoundError)
  })
})

describe('RegistryMirrorBus', () => {
  test('follows the registry only while someone listens, and ends at a terminal state', async () => {
    const registry = new InMemorySessionTaskRegistry()
    let live = 0
    const subscribe = registry.subscribe.bind(registry)
    registry.subscribe = (sessionId, listener) => {
      live++
      const off = subscribe(sessionId, listener)
      return toSubscription(() => {
        live--
        off()
      })
    }
    const task = await registry.create({ sessionId: 'a2a//ana/c1', kind: 'a2a', displayName: 't' })
    const bus = new RegistryMirrorBus(registry, task.id, 'a2a//ana/')
    const seen: string[] = []
    let finished = 0
    bus.on('finished', () => finished++)
    const listener = (e: { kind: string }) => seen.push(e.kind)
    bus.on('event', listener)
    await new Promise((r) => setTimeout(r, 0))
    expect(live).toBe(1)
    await registry.update(task.sessionId, task.id, { state: 'running' })
    await registry.update(task.sessionId, task.id, { state: 'succeeded' })
    expect(seen.filter((k) => k === 'statusUpdate').length).toBeGreaterThanOrEqual(2)
    expect(finished).toBe(1)
    expect(live).toBe(0)
    const other = new RegistryMirrorBus(registry, task.id, 'a2a//bo/')
    other.on('finished', () => finished++)
    other.on('event', listener)
    await new Promise((r) => setTimeout(r, 0))
    expect(finished).toBe(2)
    const once = new RegistryMirrorBus(registry, task.id, 'a2a//ana/')
    once.once('event', listener)
    await new Promise((r) => setTimeout(r, 0))
    expect(live).toBe(0)
    const idle = new RegistryMirrorBus(registry, task.id, 'a2a//ana/')
    idle.on('event', listener)
    idle.off('event', listener)
    await new Promise((r) => setTimeout(r, 0))
    expect(live).toBe(0)
  })
})

test('a mirror of a task nobody runs any more ends after followIdleMs without a change', async () => {
  vi.useFakeTimers()
  try {
    const registry = new InMemorySessionTaskRegistry()
    const task = await registry.create({ sessionId: 'a2a//ana/c1', kind: 'a2a', displayName: 't' })
    await registry.update(task.sessionId, task.id, { state: 'running' })
    const bus = new RegistryMirrorBus(registry, task.id, 'a2a//ana/', 1000)
    let finished = 0
    bus.on('finished', () => finished++)
    bus.on('event', () => {})
    await vi.advanceTimersByTimeAsync(900)
    await registry.update(task.sessionId, task.id, { progress: { current: 1 } })
    await vi.advanceTimersByTimeAsync(900)
    expect(finished).toBe(0)
    await vi.advanceTimersByTimeAsync(200)
    expect(finished).toBe(1)
  } finally {
    vi.useRealTimers()
  }
})
