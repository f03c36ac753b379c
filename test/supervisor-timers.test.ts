import { afterEach, describe, expect, it } from 'vitest'
import {
  createTaskSupervisor,
  type SessionTask,
  TaskAbortReason,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from '../src/index.js'
import { createTestRegistry, type ManualClock } from '../src/testing/index.js'

// `createTaskSupervisor({ timers })`: a manual clock drives every timer of
// the supervisor (deadlines, cancel grace, wait timeouts, housekeeping, the
// close grace) without faking the global timers.

const MIN = 60_000
const open: { supervisor: TaskSupervisor; clock: ManualClock }[] = []

afterEach(async () => {
  for (const { supervisor, clock } of open.splice(0)) {
    const closing = supervisor.close()
    clock.advance(MIN)
    await closing
  }
})

/** A supervisor on the test registry's manual clock; `stubborn` tasks ignore their signal. */
function setup() {
  const { registry, clock } = createTestRegistry()
  const executors = new TaskExecutorRegistry()
  const contexts: TaskExecutionContext[] = []
  const cancels: SessionTask[] = []
  executors.register({
    kind: 'stubborn',
    executor: () => ({
      kind: 'stubborn',
      async start(_task, ctx) {
        contexts.push(ctx)
        await ctx.sink.state('running')
      },
      async cancel(task) {
        cancels.push(task)
      },
    }),
  })
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    timers: clock,
    cancelGraceMs: 2000,
    onError: () => {},
  })
  open.push({ supervisor, clock })
  const spawn = (timeoutMs?: number) =>
    supervisor.spawn(
      { sessionId: 's', kind: 'stubborn', displayName: 'Stubborn' },
      timeoutMs === undefined ? {} : { timeoutMs },
    )
  const read = async (id: string) => (await registry.get('s', id)) as SessionTask
  return { registry, clock, supervisor, contexts, cancels, spawn, read }
}

const flush = async () => {
  for (let i = 0; i < 30; i++) await Promise.resolve()
}

const platformTimeouts = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length

describe('a supervisor on a manual clock', () => {
  it('times a spawn deadline and its forced end on the clock', async () => {
    const { clock, spawn, read, contexts, cancels } = setup()
    const task = await spawn(10_000)
    expect(task.deadlineAt).toBe(new Date(clock.now().getTime() + 10_000).toISOString())
    clock.advance(9_999)
    await flush()
    expect(cancels).toEqual([])
    clock.advance(1)
    await flush()
    expect(cancels).toHaveLength(1)
    expect(contexts[0]?.signal.reason).toMatchObject({ kind: 'timeout' })
    expect(contexts[0]?.signal.reason).toBeInstanceOf(TaskAbortReason)
    expect((await read(task.id)).state).toBe('running')
    clock.advance(2000)
    await flush()
    const ended = await read(task.id)
    expect(ended.state).toBe('failed')
    expect(ended.error).toEqual({ kind: 'timeout', message: 'task timed out after 10000 ms' })
    expect(clock.pendingTimers()).toBe(0)
  })

  it('ends a canceled task that ignores its signal after the grace, on the clock', async () => {
    const { clock, supervisor, spawn, read } = setup()
    const task = await spawn()
    await supervisor.cancel('s', task.id)
    expect(clock.pendingTimers()).toBe(1)
    clock.advance(1999)
    await flush()
    expect((await read(task.id)).state).toBe('running')
    clock.advance(1)
    await flush()
    expect((await read(task.id)).state).toBe('canceled')
  })

  it('times out a wait on the clock', async () => {
    const { clock, supervisor, spawn } = setup()
    const task = await spawn()
    const waiting = supervisor.wait('s', task.id, { timeoutMs: 30_000 })
    await flush()
    clock.advance(30_000)
    expect(await waiting).toMatchObject({ timedOut: true, task: { state: 'running' } })
  })

  it('runs housekeeping passes when the clock reaches each interval', async () => {
    const { clock, registry, supervisor } = setup()
    const stale = await registry.create({ sessionId: 's', kind: 'gone', displayName: 'Orphan' })
    await registry.update('s', stale.id, {
      state: 'running',
      heartbeatAt: clock.now().toISOString(),
    })
    const stop = supervisor.startHousekeeping({ intervalMs: 10 * MIN, staleAfterMs: 5 * MIN })
    clock.advance(10 * MIN - 1)
    await flush()
    expect((await registry.get('s', stale.id))?.state).toBe('running')
    clock.advance(1)
    await flush()
    expect((await registry.get('s', stale.id))?.error?.kind).toBe('orphaned')
    stop()
    expect(clock.pendingTimers()).toBe(0)
  })

  it('lets close() wait out its grace on the clock', async () => {
    const { clock, supervisor, spawn } = setup()
    await spawn()
    let closed = false
    const closing = supervisor.close().then(() => {
      closed = true
    })
    await flush()
    expect(closed).toBe(false)
    clock.advance(2000)
    await closing
    expect(closed).toBe(true)
  })

  it('arms none of the platform timers', async () => {
    const { supervisor, spawn } = setup()
    const before = platformTimeouts()
    const task = await spawn(5000)
    const waiting = supervisor.wait('s', task.id, { timeoutMs: 1000 })
    const stop = supervisor.startHousekeeping({ intervalMs: 1000 })
    await supervisor.cancel('s', task.id)
    expect(platformTimeouts()).toBe(before)
    stop()
    void waiting.catch(() => {})
  })

  it('rejects a timers option without startTimer, naming the field', () => {
    const { registry } = createTestRegistry()
    expect(() => createTaskSupervisor({ registry, timers: {} as never })).toThrow(
      'invalid TaskSupervisorOptions: timers: must be a TimerSource (with startTimer)',
    )
  })
})
