import { afterEach, describe, expect, test, vi } from 'vitest'
import { nextWakes, wakeMessage, wakeSteps } from '../src/bridges/ai/wakes.js'
import { createWakeQueue, InMemorySessionTaskRegistry, type WakeQueue } from '../src/index.js'

// wakes.ts imports only types from 'ai', so this runs on every Node.

describe('wake messages for the model', () => {
  test("the default message of wakeSteps carries a failed task's error", async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const task = await registry.create({
      sessionId: 'chat',
      kind: 'k',
      displayName: 'build',
      wakePolicy: 'on_terminal',
      state: 'running',
    })
    await registry.update('chat', task.id, {
      state: 'failed',
      error: { kind: 'compile', message: 'src/a.ts(3,1): missing semicolon' },
    })
    const prepare = wakeSteps({ queue, sessionId: 'chat' })
    const step = { messages: [], steps: [], stepNumber: 0 } as unknown as Parameters<
      typeof prepare
    >[0]
    const result = (await prepare(step)) as { messages: { content: string }[] }
    expect(result.messages.at(-1)?.content).toBe(
      `Background task updates:\n- Task "build" (${task.id}) finished: failed.\n- error: src/a.ts(3,1): missing semicolon`,
    )
    queue.stop()
  })

  test('wakeMessage without a describe lists the wake texts as they are', () => {
    const wake = {
      sessionId: 's',
      taskId: 't',
      transition: 'terminal' as const,
      text: 'Task "x" (t) finished: failed.',
      createdAt: '2026-01-01T00:00:00.000Z',
    }
    expect(wakeMessage([wake])).toEqual({
      role: 'user',
      content: 'Background task updates:\n- Task "x" (t) finished: failed.',
    })
  })
})

async function finish(registry: InMemorySessionTaskRegistry, name: string) {
  const task = await registry.create({
    sessionId: 'chat',
    kind: 'k',
    displayName: name,
    wakePolicy: 'on_terminal',
    state: 'running',
  })
  await registry.update('chat', task.id, { state: 'succeeded' })
  return task
}

afterEach(() => {
  vi.useRealTimers()
})

describe('nextWakes', () => {
  test('is woken by the queue when a wake comes, with no timer firing', async () => {
    vi.useFakeTimers()
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const waiting = nextWakes(queue, 'chat', { timeoutMs: 60_000 })
    const task = await finish(registry, 'build')
    // Fake timers stand still: a polling wait could not see the wake.
    expect((await waiting).map((w) => w.taskId)).toEqual([task.id])
    expect(queue.pending('chat')).toBe(0)
    queue.stop()
  })

  test('resolves with none after timeoutMs or when the signal aborts, and the later wake stays queued', async () => {
    vi.useFakeTimers()
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const timedOut = nextWakes(queue, 'chat', { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1000)
    expect(await timedOut).toEqual([])
    const controller = new AbortController()
    const aborted = nextWakes(queue, 'chat', { timeoutMs: 60_000, signal: controller.signal })
    controller.abort(new Error('turn over'))
    expect(await aborted).toEqual([])
    await finish(registry, 'late')
    expect(queue.pending('chat')).toBe(1)
    queue.stop()
  })

  test('polls a hand-made queue that has no next()', async () => {
    vi.useFakeTimers()
    const registry = new InMemorySessionTaskRegistry()
    const real = createWakeQueue(registry)
    const { next: _next, ...rest } = real
    const handMade = rest as WakeQueue
    const waiting = nextWakes(handMade, 'chat', { timeoutMs: 60_000, pollMs: 10 })
    await finish(registry, 'build')
    await vi.advanceTimersByTimeAsync(10)
    expect(await waiting).toHaveLength(1)
    real.stop()
  })
})
