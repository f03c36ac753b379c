import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isStaleAttemptError,
  isValidationError,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from '../src/index.js'

// SPEC 12.4 forced end: an executor that ignores its signal cannot hold a
// task (or its concurrency slot) past cancelGraceMs, and its later writes
// are rejected because the forced write starts a new attempt.

const supervisors: TaskSupervisor[] = []

function world(cancelGraceMs = 500) {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  const contexts: TaskExecutionContext[] = []
  executors.register({
    kind: 'stubborn',
    executor: () => ({
      kind: 'stubborn',
      async start(_task, ctx) {
        contexts.push(ctx)
        await ctx.sink.state('running')
      },
      // Ignores cancel and the signal entirely.
      async cancel() {},
    }),
  })
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    cancelGraceMs,
    concurrency: { global: 1 },
    onError: () => {},
  })
  supervisors.push(supervisor)
  const spawn = (timeoutMs?: number) =>
    supervisor.spawn(
      { sessionId: 's', kind: 'stubborn', displayName: 'stubborn' },
      timeoutMs === undefined ? undefined : { timeoutMs },
    )
  const read = async (id: string) => {
    const task = await registry.get('s', id)
    if (task === undefined) throw new Error('vanished')
    return task
  }
  return { registry, supervisor, contexts, spawn, read }
}

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(async () => {
  const closing = supervisors.splice(0).map((s) => s.close())
  await vi.runAllTimersAsync()
  await Promise.all(closing)
  vi.useRealTimers()
})

describe('forced end after cancel', () => {
  it('ends an ignored cancel canceled cancelGraceMs later, on a new attempt', async () => {
    const w = world(500)
    const task = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    const canceled = await w.supervisor.cancel('s', task.id)
    expect(canceled?.state).toBe('running')

    await vi.advanceTimersByTimeAsync(499)
    expect((await w.read(task.id)).state).toBe('running')
    await vi.advanceTimersByTimeAsync(1)
    const ended = await w.read(task.id)
    expect(ended.state).toBe('canceled')
    expect(ended.attempt).toBe(task.attempt + 1)
    expect(ended.stateDetail).toBe('did not stop within 500 ms of cancel')
  })

  it("rejects the old worker's later writes", async () => {
    const w = world(100)
    const task = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    await w.supervisor.cancel('s', task.id)
    await vi.advanceTimersByTimeAsync(100)
    const sink = w.contexts[0]?.sink
    expect(sink).toBeDefined()
    await sink?.state('succeeded', 'finished anyway')
    const error = await sink
      ?.post({ content: [{ type: 'text', text: 'late news' }] })
      .catch((e: unknown) => e)
    expect(isStaleAttemptError(error)).toBe(true)
    const after = await w.read(task.id)
    expect(after.state).toBe('canceled')
    expect(after.stateDetail).toBe('did not stop within 100 ms of cancel')
  })

  it('frees the slot: the next queued task starts', async () => {
    const w = world(100)
    const first = await w.spawn()
    const second = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    expect((await w.read(second.id)).state).toBe('queued')
    await w.supervisor.cancel('s', first.id)
    await vi.advanceTimersByTimeAsync(100)
    expect(w.contexts).toHaveLength(2)
    expect((await w.read(second.id)).state).toBe('running')
  })

  it('leaves a task that settles within the grace alone', async () => {
    const w = world(500)
    const task = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    await w.supervisor.cancel('s', task.id)
    await vi.advanceTimersByTimeAsync(200)
    await w.contexts[0]?.sink.state('canceled', 'stopped cleanly')
    await vi.advanceTimersByTimeAsync(1000)
    const after = await w.read(task.id)
    expect(after.stateDetail).toBe('stopped cleanly')
    expect(after.attempt).toBe(task.attempt)
  })

  it('arms no timer after close', async () => {
    const w = world(100)
    const task = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    const closing = w.supervisor.close()
    await vi.advanceTimersByTimeAsync(100)
    await closing
    expect(vi.getTimerCount()).toBe(0)
    expect((await w.read(task.id)).state).toBe('running')
  })
})

describe('forced end after a timeout', () => {
  it('fails an ignored timeout with kind timeout on a new attempt and rejects later writes', async () => {
    const w = world(300)
    const task = await w.spawn(1000)
    await vi.advanceTimersByTimeAsync(1000)
    expect(w.contexts[0]?.signal.aborted).toBe(true)
    expect((await w.read(task.id)).state).toBe('running')
    await vi.advanceTimersByTimeAsync(300)
    const ended = await w.read(task.id)
    expect(ended.state).toBe('failed')
    expect(ended.error?.kind).toBe('timeout')
    expect(ended.attempt).toBe(task.attempt + 1)
    await w.contexts[0]?.sink.state('succeeded')
    const late = await w.contexts[0]?.sink
      .post({ content: [{ type: 'text', text: 'late' }] })
      .catch((e: unknown) => e)
    expect(isStaleAttemptError(late)).toBe(true)
    expect((await w.read(task.id)).state).toBe('failed')
  })
})

describe('grace timers of a run elsewhere', () => {
  it('are cleared when the task ends, whoever ends it', async () => {
    const w = world(300)
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'stubborn',
      executor: () => ({ kind: 'stubborn', async start() {}, async cancel() {} }),
    })
    const other = createTaskSupervisor({
      registry: w.registry,
      executors,
      cancelGraceMs: 300,
      onError: () => {},
    })
    supervisors.push(other)
    const task = await w.spawn()
    await vi.advanceTimersByTimeAsync(0)
    // Canceled from a supervisor that does not run it, finished by the worker.
    await other.cancel('s', task.id)
    await w.contexts[0]?.sink.state('succeeded')
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(1000)
    const after = await w.read(task.id)
    expect(after.state).toBe('succeeded')
    expect(after.attempt).toBe(task.attempt)
  })
})

describe('stored deadlines (SPEC 12.2, 12.4)', () => {
  it('spawn with timeoutMs stores deadlineAt on the record', async () => {
    vi.setSystemTime(new Date('2026-05-01T00:00:00.000Z'))
    const w = world(100)
    const task = await w.spawn(60_000)
    expect(task.deadlineAt).toBe('2026-05-01T00:01:00.000Z')
    expect((await w.read(task.id)).deadlineAt).toBe('2026-05-01T00:01:00.000Z')
  })

  it('a deadlineAt given at spawn is timed too, and the earlier of the two wins', async () => {
    vi.setSystemTime(new Date('2026-05-01T00:00:00.000Z'))
    const w = world(100)
    const task = await w.supervisor.spawn(
      {
        sessionId: 's',
        kind: 'stubborn',
        displayName: 'due',
        deadlineAt: '2026-05-01T00:00:01Z',
      },
      { timeoutMs: 60_000 },
    )
    expect(task.deadlineAt).toBe('2026-05-01T00:00:01.000Z')
    await vi.advanceTimersByTimeAsync(1000)
    expect(w.contexts[0]?.signal.aborted).toBe(true)
    await vi.advanceTimersByTimeAsync(100)
    const ended = await w.read(task.id)
    expect(ended.state).toBe('failed')
    expect(ended.error?.kind).toBe('timeout')
  })

  it('a timeout past what a Date holds is timed but not stored', async () => {
    const w = world(100)
    const task = await w.spawn(Number.MAX_SAFE_INTEGER)
    expect(task.deadlineAt).toBeUndefined()
    expect(vi.getTimerCount()).toBeGreaterThan(0)
  })

  it('an update sets deadlineAt; a bad one is a ValidationError that changes nothing', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    const moved = await registry.update('s', task.id, { deadlineAt: '2030-01-01T00:00:00Z' })
    expect(moved?.deadlineAt).toBe('2030-01-01T00:00:00.000Z')
    const error = await registry
      .update('s', task.id, { deadlineAt: 'tomorrow' })
      .catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    expect(String(error)).toContain('deadlineAt')
    expect((await registry.get('s', task.id))?.deadlineAt).toBe('2030-01-01T00:00:00.000Z')
  })
})
