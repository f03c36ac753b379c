import { describe, expect, test } from 'vitest'
import { createTaskSupervisor, TaskExecutorRegistry } from '../src/index.js'
import {
  createManualClock,
  createTestRegistry,
  expectTaskToSettle,
  recordEvents,
} from '../src/testing/index.js'

// An executor as a user would write it, and its test written with the helpers.
const echoPlugin = {
  kind: 'echo',
  executor: () => ({
    kind: 'echo',
    async start(task: { spec: unknown }, ctx: import('../src/index.js').TaskExecutionContext) {
      await ctx.sink.state('running')
      const { fail } = (task.spec ?? {}) as { fail?: boolean }
      queueMicrotask(() => {
        void (fail
          ? ctx.sink.update({ state: 'failed', error: { kind: 'boom', message: 'asked to fail' } })
          : ctx.sink.update({ state: 'succeeded', summary: 'echoed' }))
      })
    },
    async cancel() {},
  }),
}

describe('testing helpers', () => {
  test('a user executor test in a few lines', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register(echoPlugin)
    const supervisor = createTaskSupervisor({ registry, executors })
    const events = recordEvents(registry, 's')
    const task = await supervisor.spawn({ sessionId: 's', kind: 'echo', displayName: 'echo' })
    const done = await expectTaskToSettle(registry, 's', task.id, 'succeeded')
    expect(done.summary).toBe('echoed')
    expect(events.states(task.id)).toEqual(['running', 'succeeded'])
    expect(events.types()).toEqual(['task.created', 'task.updated', 'task.updated'])
    events.stop()
    await supervisor.close()
  })

  test('expectTaskToSettle rejects with a readable message when the task ends otherwise', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register(echoPlugin)
    const supervisor = createTaskSupervisor({ registry, executors })
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'echo',
      displayName: 'echo',
      spec: { fail: true },
    })
    await expect(expectTaskToSettle(registry, 's', task.id, 'succeeded')).rejects.toThrow(
      `expected task ${task.id} to settle as succeeded, but it is failed (boom: asked to fail)`,
    )
    await supervisor.close()
  })

  test('expectTaskToSettle times out with the current state, and fails for an unknown task', async () => {
    const { registry } = createTestRegistry()
    const task = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      state: 'running',
    })
    await expect(
      expectTaskToSettle(registry, 's', task.id, 'succeeded', { timeoutMs: 5 }),
    ).rejects.toThrow(`task ${task.id} did not settle within 5 ms (it is running)`)
    await expect(expectTaskToSettle(registry, 's', 'missing', 'succeeded')).rejects.toThrow(
      'not found',
    )
  })

  test('expectTaskToSettle can wait for awaiting_input', async () => {
    const { registry } = createTestRegistry()
    const task = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      state: 'running',
    })
    const waiting = expectTaskToSettle(registry, 's', task.id, 'awaiting_input')
    await registry.update('s', task.id, { inputRequest: { id: 'q', prompt: 'ok?' } })
    expect((await waiting).inputRequest?.id).toBe('q')
  })

  test('the manual clock stamps records and moves only when told', async () => {
    const { registry, clock } = createTestRegistry({ start: '2030-05-01T00:00:00.000Z' })
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    expect(task.createdAt).toBe('2030-05-01T00:00:00.000Z')
    clock.advance(1500)
    const later = await registry.update('s', task.id, { state: 'running' })
    expect(later?.startedAt).toBe('2030-05-01T00:00:01.500Z')
    clock.set('2031-01-01T00:00:00.000Z')
    expect(registry.now().toISOString()).toBe('2031-01-01T00:00:00.000Z')
    expect(createManualClock(0).now().getTime()).toBe(0)
  })

  test('listener errors are collected instead of logged', async () => {
    const { registry, listenerErrors } = createTestRegistry()
    registry.subscribe('s', () => {
      throw new Error('listener broke')
    })
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    expect(listenerErrors).toHaveLength(1)
  })
})
