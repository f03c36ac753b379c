import { describe, expect, it } from 'vitest'
import {
  InMemorySessionTaskRegistry,
  isStaleAttemptError,
  isTaskNotFoundError,
  RegistryTaskSink,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskEventType,
  StaleAttemptError,
  type TaskArtifact,
  TaskNotFoundError,
  type TaskSink,
  ValidationError,
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

type Recorded = {
  sessionId: string
  type: SessionTaskEventType
  payload: SessionTaskEvents[SessionTaskEventType]
}

/** A registry on a hand-driven clock with one running task and every event recorded. */
async function setup() {
  let clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ now: () => clock })
  const task = await registry.create({
    sessionId: 's1',
    kind: 'background_tool',
    displayName: 'Job',
    state: 'running',
  })
  const events: Recorded[] = []
  registry.subscribeAll((sessionId, type, payload) => events.push({ sessionId, type, payload }))
  const sink = new RegistryTaskSink(registry, 's1', task.id)
  return {
    registry,
    task,
    sink,
    events,
    tick(ms = 1000): string {
      clock = new Date(clock.getTime() + ms)
      return clock.toISOString()
    },
    async read(): Promise<SessionTask> {
      const current = await registry.get('s1', task.id)
      if (current === undefined) throw new Error('task vanished')
      return current
    },
  }
}

const text = (t: string) => [{ type: 'text' as const, text: t }]

/** Runs every non-post write method of a sink once. */
async function writeEverything(sink: TaskSink): Promise<void> {
  await sink.progress({ current: 1, total: 2 })
  await sink.artifact({ name: 'a.txt', type: 'file', path: '/a.txt' })
  await sink.heartbeat()
  await sink.output('stdout', 'hello')
  await sink.requestInput({ id: 'q1', prompt: 'Continue?' })
  await sink.state('succeeded', 'done')
}

describe('RegistryTaskSink writes through the registry', () => {
  it('is fenced on attempt 1 by default and withAttempt(n) fences on n', async () => {
    const { registry, task, sink } = await setup()
    expect(sink.attempt).toBe(1)
    const second = sink.withAttempt(2)
    expect(second.attempt).toBe(2)
    expect(second).toBeInstanceOf(RegistryTaskSink)
    expect(sink.attempt).toBe(1)
    expect(new RegistryTaskSink(registry, 's1', task.id, 3).attempt).toBe(3)
  })

  it('state moves the task and stores the detail', async () => {
    const { sink, read, events, task } = await setup()
    await sink.state('succeeded', 'all done')
    const after = await read()
    expect(after.state).toBe('succeeded')
    expect(after.stateDetail).toBe('all done')
    expect(after.finishedAt).toBeDefined()
    const updated = events.filter((e) => e.type === 'task.updated')
    expect(updated).toHaveLength(1)
    expect((updated[0]!.payload as { task: SessionTask }).task).toMatchObject({
      id: task.id,
      state: 'succeeded',
    })
  })

  it('state without a detail leaves stateDetail absent', async () => {
    const { sink, read } = await setup()
    await sink.state('failed')
    const after = await read()
    expect(after.state).toBe('failed')
    expect('stateDetail' in after).toBe(false)
  })

  it('progress replaces the stored progress', async () => {
    const { sink, read } = await setup()
    await sink.progress({ current: 1, total: 4, unit: 'files' })
    await sink.progress({ current: 2, total: 4 })
    expect((await read()).progress).toEqual({ current: 2, total: 4 })
  })

  it('requestInput stores the request and makes the task awaiting_input', async () => {
    const { sink, read } = await setup()
    await sink.requestInput({ id: 'q1', prompt: 'Which branch?', expected: { type: 'string' } })
    const after = await read()
    expect(after.state).toBe('awaiting_input')
    expect(after.inputRequest).toEqual({
      id: 'q1',
      prompt: 'Which branch?',
      expected: { type: 'string' },
    })
  })

  it('artifact appends to the list', async () => {
    const { sink, read } = await setup()
    const a: TaskArtifact = { name: 'report', type: 'file', path: '/r.md' }
    const b: TaskArtifact = { name: 'pr', type: 'pr', url: 'https://example.com/pr/1' }
    await sink.artifact(a)
    await sink.artifact(b)
    expect((await read()).artifacts).toEqual([a, b])
  })

  it('heartbeat stamps heartbeatAt with the registry clock', async () => {
    const { sink, read, tick } = await setup()
    const first = tick(5000)
    await sink.heartbeat()
    expect((await read()).heartbeatAt).toBe(first)
    const second = tick(7000)
    await sink.heartbeat()
    const after = await read()
    expect(after.heartbeatAt).toBe(second)
    expect(after.heartbeatAt).toBe(new Date(T0 + 12_000).toISOString())
  })

  it('output emits task.output with taskId, stream and delta and stores nothing', async () => {
    const { sink, read, events, registry, task } = await setup()
    const before = await read()
    await sink.output('stdout', 'line 1\n')
    expect(events).toEqual([
      {
        sessionId: 's1',
        type: 'task.output',
        payload: { taskId: task.id, stream: 'stdout', delta: 'line 1\n' },
      },
    ])
    expect(await read()).toEqual(before)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
  })

  it('post records an outbound message and emits task.message.received', async () => {
    const { sink, events, registry, task, read } = await setup()
    const before = await read()
    await sink.post({ content: text('halfway there'), inReplyTo: 'q0' })
    const messages = await registry.listMessages('s1', task.id)
    expect(messages).toHaveLength(1)
    expect(messages[0]).toMatchObject({
      taskId: task.id,
      direction: 'outbound',
      content: text('halfway there'),
      inReplyTo: 'q0',
    })
    const received = events.filter((e) => e.type === 'task.message.received')
    expect(received).toHaveLength(1)
    expect(received[0]?.payload).toEqual({ taskId: task.id, message: messages[0] })
    expect(events.some((e) => e.type === 'task.message.sent')).toBe(false)
    expect(await read()).toEqual(before)
  })

  it('post forces expectedAttempt to the sink attempt, whatever the caller passes', async () => {
    const { sink, registry, task } = await setup()
    await expect(
      sink.post({ content: text('current sink, bogus fence'), expectedAttempt: 7 }),
    ).resolves.toBeUndefined()
    expect(await registry.listMessages('s1', task.id)).toHaveLength(1)

    await registry.update('s1', task.id, { incrementAttempt: true })
    await expect(
      sink.post({ content: text('stale sink, matching fence'), expectedAttempt: 2 }),
    ).rejects.toBeInstanceOf(StaleAttemptError)
    expect(await registry.listMessages('s1', task.id)).toHaveLength(1)
  })
})

describe('a stale sink after the attempt was incremented', () => {
  async function staleSetup() {
    const ctx = await setup()
    await ctx.registry.update('s1', ctx.task.id, { incrementAttempt: true })
    ctx.events.length = 0
    return ctx
  }

  it('has its state, progress, requestInput, artifact, heartbeat and output silently ignored', async () => {
    const { sink, read, events, tick } = await staleSetup()
    const before = await read()
    expect(before.attempt).toBe(2)
    tick(1000)

    await expect(writeEverything(sink)).resolves.toBeUndefined()

    expect(await read()).toEqual(before)
    expect(events.filter((e) => e.type === 'task.updated')).toEqual([])
    expect(events.filter((e) => e.type === 'task.output')).toEqual([])
    expect(events).toEqual([])
  })

  it.each([
    ['state', (s: TaskSink) => s.state('succeeded')],
    ['progress', (s: TaskSink) => s.progress({ current: 1 })],
    ['requestInput', (s: TaskSink) => s.requestInput({ id: 'q', prompt: 'p' })],
    ['artifact', (s: TaskSink) => s.artifact({ name: 'n', type: 'file' })],
    ['heartbeat', (s: TaskSink) => s.heartbeat()],
    ['output', (s: TaskSink) => s.output('stdout', 'x')],
  ] as const)('ignores %s and emits nothing', async (_name, write) => {
    const { sink, read, events, tick } = await staleSetup()
    const before = await read()
    tick(1000)
    await write(sink)
    expect(await read()).toEqual(before)
    expect(events).toEqual([])
  })

  it('has its post rejected with StaleAttemptError and nothing stored or emitted', async () => {
    const { sink, registry, task, events } = await staleSetup()
    let error: unknown
    try {
      await sink.post({ content: text('late') })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(StaleAttemptError)
    expect(isStaleAttemptError(error)).toBe(true)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(events).toEqual([])
  })

  it('does not block the fresh sink fenced on the new attempt', async () => {
    const { sink, read, events, registry, task, tick } = await staleSetup()
    const fresh = sink.withAttempt(2)
    const stamp = tick(3000)

    await fresh.progress({ current: 3, total: 3 })
    await fresh.artifact({ name: 'out', type: 'file' })
    await fresh.heartbeat()
    await fresh.output('stderr', 'warn')
    await fresh.post({ content: text('done soon') })
    await fresh.requestInput({ id: 'q2', prompt: 'Ship it?' })
    let after = await read()
    expect(after.state).toBe('awaiting_input')
    expect(after.inputRequest).toEqual({ id: 'q2', prompt: 'Ship it?' })
    await fresh.state('succeeded', 'shipped')

    after = await read()
    expect(after.state).toBe('succeeded')
    expect(after.stateDetail).toBe('shipped')
    expect(after.progress).toEqual({ current: 3, total: 3 })
    expect(after.artifacts).toEqual([{ name: 'out', type: 'file' }])
    expect(after.heartbeatAt).toBe(stamp)
    expect(await registry.listMessages('s1', task.id)).toHaveLength(1)
    expect(events.filter((e) => e.type === 'task.output')).toEqual([
      {
        sessionId: 's1',
        type: 'task.output',
        payload: { taskId: task.id, stream: 'stderr', delta: 'warn' },
      },
    ])
    expect(events.filter((e) => e.type === 'task.updated').length).toBeGreaterThan(0)
  })

  it('a sink fenced on a future attempt is ignored too', async () => {
    const { sink, read, events } = await setup()
    const before = await read()
    events.length = 0
    await writeEverything(sink.withAttempt(2))
    expect(await read()).toEqual(before)
    expect(events).toEqual([])
  })
})

describe('concurrent artifacts', () => {
  it('1,000 concurrent artifact calls across two sinks keep all 1,000 artifacts', async () => {
    const { registry, task, read } = await setup()
    const one = new RegistryTaskSink(registry, 's1', task.id)
    const two = new RegistryTaskSink(registry, 's1', task.id).withAttempt(1)
    const writes: Promise<void>[] = []
    for (let i = 0; i < 1000; i++) {
      const sink = i % 2 === 0 ? one : two
      writes.push(sink.artifact({ name: `artifact-${i}`, type: 'file' }))
    }
    await Promise.all(writes)
    const artifacts = (await read()).artifacts
    expect(artifacts).toHaveLength(1000)
    const names = new Set(artifacts.map((a) => a.name))
    expect(names.size).toBe(1000)
    for (let i = 0; i < 1000; i++) expect(names.has(`artifact-${i}`)).toBe(true)
  })
})

describe('a sink for a missing task or the wrong session', () => {
  async function missingSetup() {
    const ctx = await setup()
    const other = await ctx.registry.create({
      sessionId: 's2',
      kind: 'background_tool',
      displayName: 'Other',
      state: 'running',
    })
    ctx.events.length = 0
    return { ...ctx, other }
  }

  it.each([
    ['a missing task', 's1', 'task_missing'],
    ['another session', 's2', 'OWN'],
  ] as const)(
    'for %s is a silent no-op for every method except post',
    async (_label, sid, tidKey) => {
      const { registry, task, read, events, other } = await missingSetup()
      const taskId = tidKey === 'OWN' ? task.id : tidKey
      const sink = new RegistryTaskSink(registry, sid, taskId)
      const mine = await read()
      const theirs = await registry.get('s2', other.id)

      await expect(writeEverything(sink)).resolves.toBeUndefined()

      expect(await read()).toEqual(mine)
      expect(await registry.get('s2', other.id)).toEqual(theirs)
      expect(await registry.get('s2', task.id)).toBeUndefined()
      expect(events).toEqual([])
    },
  )

  it.each([
    ['a missing task', 's1', 'task_missing'],
    ['another session', 's2', 'OWN'],
  ] as const)('for %s rejects post with TaskNotFoundError', async (_label, sid, tidKey) => {
    const { registry, task, events } = await missingSetup()
    const taskId = tidKey === 'OWN' ? task.id : tidKey
    const sink = new RegistryTaskSink(registry, sid, taskId)
    let error: unknown
    try {
      await sink.post({ content: text('anyone?') })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(TaskNotFoundError)
    expect(isTaskNotFoundError(error)).toBe(true)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(events).toEqual([])
  })
})

describe('sink input validation', () => {
  it('rejects a non-positive attempt with ValidationError', async () => {
    const { sink } = await setup()
    expect(() => sink.withAttempt(0)).toThrow(ValidationError)
    expect(() => sink.withAttempt(1.5)).toThrow(ValidationError)
  })
})
