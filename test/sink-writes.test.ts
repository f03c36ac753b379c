import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createTaskSupervisor,
  isStaleAttemptError,
  isValidationError,
  RegistryTaskSink,
  type SessionTaskState,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskProgress,
} from '../src/index.js'
import { createTestRegistry, expectTaskToSettle, recordEvents } from '../src/testing/index.js'

// RegistryTaskSink: heartbeats leave finished tasks alone, and a failed
// write never becomes an unhandled rejection (src/execution/sink.ts).

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
})

afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
})

/** Lets the event loop turn, so Node would have reported an unhandled rejection. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function setup(state: SessionTaskState = 'running') {
  const { registry, clock } = createTestRegistry()
  const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
  if (state !== 'queued') await registry.update('s', task.id, { state: 'running' })
  if (state !== 'queued' && state !== 'running') await registry.update('s', task.id, { state })
  const errors: [unknown, string][] = []
  const sink = new RegistryTaskSink(registry, 's', task.id, 1, {
    onError: (error, context) => errors.push([error, context]),
  })
  const events = recordEvents(registry, 's')
  const read = async () => registry.get('s', task.id)
  return { registry, clock, task, sink, errors, events, read }
}

const bad = { current: Number.NaN } as unknown as TaskProgress

describe('heartbeat', () => {
  it.each(['succeeded', 'failed', 'canceled'] as const)(
    'on a %s task writes nothing and emits nothing',
    async (state) => {
      const { sink, clock, events, read } = await setup(state)
      const before = await read()
      clock.advance(60_000)
      await sink.heartbeat()
      expect(await read()).toBe(before)
      expect(events.events).toEqual([])
    },
  )

  it.each(['queued', 'running', 'awaiting_input'] as const)(
    'on a %s task stamps heartbeatAt',
    async (state) => {
      const { sink, clock, read, registry, task } = await setup(state)
      if (state === 'awaiting_input') {
        await registry.update('s', task.id, { inputRequest: { id: 'q', prompt: 'ok?' } })
      }
      clock.advance(5000)
      await sink.heartbeat()
      const after = await read()
      expect(after?.state).toBe(state)
      expect(after?.heartbeatAt).toBe(clock.now().toISOString())
    },
  )
})

describe('a failed write', () => {
  it('discarded without await is no unhandled rejection, and goes to onError', async () => {
    const { sink, errors, task } = await setup()
    void sink.progress(bad)
    sink.update({ summary: 1 } as never)
    sink.state('bogus' as SessionTaskState)
    sink.post({ content: [] })
    await turn()
    await turn()
    expect(unhandled).toEqual([])
    const seen = errors.map(([error, context]) => [isValidationError(error), context])
    expect(seen.sort()).toEqual([
      [true, `sink.post of task '${task.id}'`],
      [true, `sink.progress of task '${task.id}'`],
      [true, `sink.state of task '${task.id}'`],
      [true, `sink.update of task '${task.id}'`],
    ])
  })

  it('still rejects for a caller that awaits it, naming the field', async () => {
    const { sink } = await setup()
    await expect(sink.progress(bad)).rejects.toThrow(/invalid .*progress\.current/)
  })

  it('is no unhandled rejection when onError throws, or without onError', async () => {
    const { registry, task } = await setup()
    const throwing = new RegistryTaskSink(registry, 's', task.id, 1, {
      onError: () => {
        throw new Error('reporter broke')
      },
    })
    void throwing.progress(bad)
    void new RegistryTaskSink(registry, 's', task.id).progress(bad)
    await turn()
    await turn()
    expect(unhandled).toEqual([])
  })

  it('carries onError over to withAttempt', async () => {
    const { sink, errors, registry, task } = await setup()
    await registry.update('s', task.id, { incrementAttempt: true })
    await expect(sink.post({ content: [{ type: 'text', text: 'x' }] })).rejects.toSatisfy(
      isStaleAttemptError,
    )
    void sink.withAttempt(2).progress(bad)
    await turn()
    expect(errors.map(([error]) => isStaleAttemptError(error) || isValidationError(error))).toEqual(
      [true, true],
    )
  })

  it('rejects an onError that is not a function, naming the field', async () => {
    const { registry, task } = await setup()
    expect(() => new RegistryTaskSink(registry, 's', task.id, 1, { onError: 5 as never })).toThrow(
      'invalid RegistryTaskSinkOptions: onError: must be a function',
    )
  })
})

describe("a supervisor's sinks", () => {
  it('report a discarded bad write to onError, not as an unhandled rejection', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'sloppy',
      executor: () => ({
        kind: 'sloppy',
        async start(_task, ctx: TaskExecutionContext) {
          await ctx.sink.state('running')
          void ctx.sink.progress(bad)
          await ctx.sink.state('succeeded')
        },
        async cancel() {},
      }),
    })
    const reported: [unknown, string][] = []
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      onError: (error, context) => reported.push([error, context]),
    })
    const task = await supervisor.spawn({ sessionId: 's', kind: 'sloppy', displayName: 'd' })
    await expectTaskToSettle(registry, 's', task.id, 'succeeded')
    await turn()
    await turn()
    expect(unhandled).toEqual([])
    expect(reported).toHaveLength(1)
    expect(isValidationError(reported[0]?.[0])).toBe(true)
    expect(reported[0]?.[1]).toBe(`sink.progress of task '${task.id}'`)
    await supervisor.close()
  })

  it('leave a stale post to the caller that awaits it (not reported)', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    let outcome: unknown
    executors.register({
      kind: 'late',
      executor: () => ({
        kind: 'late',
        async start(task, ctx) {
          await registry.update('s', task.id, { incrementAttempt: true })
          outcome = await ctx.sink.post({ content: [{ type: 'text', text: 'x' }] }).catch((e) => e)
        },
        async cancel() {},
      }),
    })
    const reported: unknown[] = []
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      cancelGraceMs: 0,
      onError: (error) => reported.push(error),
    })
    await supervisor.spawn({ sessionId: 's', kind: 'late', displayName: 'd' })
    await turn()
    expect(isStaleAttemptError(outcome)).toBe(true)
    expect(reported).toEqual([])
    await supervisor.close()
  })
})
