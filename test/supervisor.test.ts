import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type ConcurrencyLimits,
  type CreateSessionTask,
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isNoExecutorError,
  isTaskNotFoundError,
  isUnsupportedOperationError,
  isValidationError,
  NoExecutorError,
  registerTaskExecutor,
  type SessionTask,
  type SessionTaskEventType,
  TASK_ABORT_KINDS,
  TaskAbortReason,
  type TaskExecutionContext,
  type TaskExecutor,
  TaskExecutorRegistry,
  type TaskMessage,
  TaskNotFoundError,
  type TaskSupervisor,
  type TaskSupervisorOptions,
  ValidationError,
} from '../src/index.js'
import { track } from './fixtures/adversary.js'
import { CountingRegistry } from './fixtures/counting-registry.js'

type Call = { task: SessionTask; ctx: TaskExecutionContext }
type DeliverCall = Call & { message: TaskMessage }

/** A test executor that records every call; behaviour is overridable per method. */
function recordingExecutor(kind: string, overrides: Partial<Omit<TaskExecutor, 'kind'>> = {}) {
  const starts: Call[] = []
  const cancels: Call[] = []
  const delivers: DeliverCall[] = []
  const reconciles: Call[] = []
  const executor: TaskExecutor = {
    kind,
    start: async (task, ctx) => {
      starts.push({ task, ctx })
      await overrides.start?.(task, ctx)
    },
    cancel: async (task, ctx) => {
      cancels.push({ task, ctx })
      await overrides.cancel?.(task, ctx)
    },
    deliver: async (task, message, ctx) => {
      delivers.push({ task, message, ctx })
      await overrides.deliver?.(task, message, ctx)
    },
    reconcile: async (task, ctx) => {
      reconciles.push({ task, ctx })
      await overrides.reconcile?.(task, ctx)
    },
  }
  return { executor, starts, cancels, delivers, reconciles }
}

type Recorded = { sessionId: string; type: SessionTaskEventType; payload: unknown }

type SetupOptions = {
  concurrency?: ConcurrencyLimits
  cancelGraceMs?: number
}

const supervisors: TaskSupervisor[] = []

function setup(options: SetupOptions = {}) {
  const registry = new CountingRegistry()
  const executors = new TaskExecutorRegistry()
  const events: Recorded[] = []
  const supervisorOptions: TaskSupervisorOptions = {
    registry,
    executors,
    onError: () => {},
  }
  if (options.concurrency !== undefined) supervisorOptions.concurrency = options.concurrency
  if (options.cancelGraceMs !== undefined) supervisorOptions.cancelGraceMs = options.cancelGraceMs
  const supervisor = createTaskSupervisor(supervisorOptions)
  supervisors.push(supervisor)
  registry.subscribeAll((sessionId, type, payload) => events.push({ sessionId, type, payload }))
  const use = (kind: string, overrides: Partial<Omit<TaskExecutor, 'kind'>> = {}) => {
    const recorder = recordingExecutor(kind, overrides)
    executors.register({ kind, executor: () => recorder.executor })
    return recorder
  }
  const read = async (sessionId: string, taskId: string): Promise<SessionTask> => {
    const task = await registry.get(sessionId, taskId)
    if (task === undefined) throw new Error(`task ${taskId} vanished`)
    return task
  }
  return { registry, executors, supervisor, events, use, read }
}

const input = (
  sessionId: string,
  kind: string,
  extra: Partial<CreateSessionTask> = {},
): CreateSessionTask => ({ sessionId, kind, displayName: `Task of ${kind}`, ...extra })

/** Lets pending promise chains and due (zero-delay) timers run. */
const flush = () => vi.advanceTimersByTimeAsync(0)

const never = () => new Promise<void>(() => {})

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(async () => {
  const closing = supervisors.splice(0).map((s) => s.close())
  if (vi.isFakeTimers()) await vi.runAllTimersAsync()
  await Promise.all(closing)
  vi.useRealTimers()
})

describe('spawn', () => {
  it('throws NoExecutorError for a kind without executor and creates nothing', async () => {
    const { supervisor, registry, events } = setup()
    let error: unknown
    try {
      await supervisor.spawn(input('s1', 'unregistered'))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(NoExecutorError)
    expect(isNoExecutorError(error)).toBe(true)
    expect(await registry.list('s1')).toEqual([])
    expect(events).toEqual([])
  })

  it('creates the task and calls start with a fenced sink, an AbortSignal, the registry and the session id', async () => {
    const { supervisor, registry, use, read } = setup()
    const job = use('job')
    const task = await supervisor.spawn(input('s1', 'job'))

    expect(job.starts).toHaveLength(1)
    const call = job.starts[0]!
    expect(call.task.id).toBe(task.id)
    expect(call.task.sessionId).toBe('s1')
    expect(call.ctx.registry).toBe(registry)
    expect(call.ctx.sessionId).toBe('s1')
    expect(call.ctx.signal).toBeInstanceOf(AbortSignal)
    expect(call.ctx.signal.aborted).toBe(false)
    expect((call.ctx.sink as unknown as { attempt: number }).attempt).toBe(1)
    expect(await read('s1', task.id)).toMatchObject({ id: task.id, kind: 'job', attempt: 1 })
  })

  it('hands start a sink whose writes reach the task', async () => {
    const { supervisor, use, read } = setup()
    const job = use('job')
    const task = await supervisor.spawn(input('s1', 'job'))
    await job.starts[0]!.ctx.sink.state('running', 'working')
    expect(await read('s1', task.id)).toMatchObject({ state: 'running', stateDetail: 'working' })
  })

  it('hands start a sink fenced on the attempt: writes after an attempt bump are ignored', async () => {
    const { supervisor, registry, use, read } = setup()
    const job = use('job')
    const task = await supervisor.spawn(input('s1', 'job'))
    await registry.update('s1', task.id, { incrementAttempt: true, state: 'running' })
    await job.starts[0]!.ctx.sink.state('succeeded')
    expect((await read('s1', task.id)).state).toBe('running')
  })

  it('resolves without waiting for a start that never resolves', async () => {
    const { supervisor, use, registry } = setup()
    const job = use('job', { start: never })
    const spawned = track(supervisor.spawn(input('s1', 'job')))
    await flush()
    expect(spawned.settled).toBe(true)
    expect(spawned.error).toBeUndefined()
    expect(job.starts).toHaveLength(1)
    expect(await registry.list('s1')).toHaveLength(1)
  })

  it('resolves with the created record without waiting for the work to finish', async () => {
    const { supervisor, use, read } = setup()
    use('job', {
      start: async (_task, ctx) => {
        await ctx.sink.state('running')
        setTimeout(() => void ctx.sink.state('succeeded'), 1000)
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    expect(task.state).not.toBe('succeeded')
    expect((await read('s1', task.id)).state).toBe('running')
    await vi.advanceTimersByTimeAsync(1000)
    expect((await read('s1', task.id)).state).toBe('succeeded')
  })

  it('fails the task with start_failed when start throws synchronously', async () => {
    const { supervisor, executors, read } = setup()
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        start: () => {
          throw new Error('cannot launch')
        },
        cancel: async () => {},
      }),
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    await flush()
    const after = await read('s1', task.id)
    expect(after.state).toBe('failed')
    expect(after.error).toEqual({ kind: 'start_failed', message: 'cannot launch' })
  })

  it('fails the task with start_failed when start rejects before reporting anything', async () => {
    const { supervisor, use, read } = setup()
    use('job', {
      start: async () => {
        throw new Error('no capacity')
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    await flush()
    const after = await read('s1', task.id)
    expect(after.state).toBe('failed')
    expect(after.error).toEqual({ kind: 'start_failed', message: 'no capacity' })
  })

  it('fails the task with start_failed when start rejects later without having reported', async () => {
    const { supervisor, use, read } = setup()
    use('job', {
      start: () =>
        new Promise<void>((_resolve, reject) =>
          setTimeout(() => reject(new Error('late failure')), 500),
        ),
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    expect((await read('s1', task.id)).state).not.toBe('failed')
    await vi.advanceTimersByTimeAsync(500)
    const after = await read('s1', task.id)
    expect(after.state).toBe('failed')
    expect(after.error).toEqual({ kind: 'start_failed', message: 'late failure' })
  })
})

describe('concurrency limits', () => {
  it('keeps a spawn over the global limit queued with a slot detail and starts it when the slot frees', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))

    expect(job.starts.map((c) => c.task.id)).toEqual([a.id])
    const queued = await read('s1', b.id)
    expect(queued.state).toBe('queued')
    expect(queued.stateDetail).toMatch(/slot/i)
    expect(b.state).toBe('queued')

    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()

    expect(job.starts.map((c) => c.task.id)).toEqual([a.id, b.id])
  })

  it('starts queued tasks in FIFO order as slots free', async () => {
    const { supervisor, use } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push((await supervisor.spawn(input('s1', 'job'))).id)
    expect(job.starts.map((c) => c.task.id)).toEqual(ids.slice(0, 1))

    for (let i = 1; i < 4; i++) {
      await job.starts[i - 1]!.ctx.sink.state('succeeded')
      await flush()
      expect(job.starts.map((c) => c.task.id)).toEqual(ids.slice(0, i + 1))
    }
  })

  it('applies perSession: another session still starts', async () => {
    const { supervisor, use, read } = setup({ concurrency: { perSession: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    const c = await supervisor.spawn(input('s2', 'job'))

    expect(job.starts.map((x) => x.task.id)).toEqual([a.id, c.id])
    expect((await read('s1', b.id)).state).toBe('queued')

    await job.starts[0]!.ctx.sink.state('failed')
    await flush()
    expect(job.starts.map((x) => x.task.id)).toEqual([a.id, c.id, b.id])
  })

  it('applies perKind: another kind still starts', async () => {
    const { supervisor, use, read } = setup({ concurrency: { perKind: 1 } })
    const x = use('x', { start: never })
    const y = use('y', { start: never })
    const a = await supervisor.spawn(input('s1', 'x'))
    const b = await supervisor.spawn(input('s1', 'x'))
    const c = await supervisor.spawn(input('s1', 'y'))

    expect(x.starts.map((s) => s.task.id)).toEqual([a.id])
    expect(y.starts.map((s) => s.task.id)).toEqual([c.id])
    expect((await read('s1', b.id)).state).toBe('queued')

    await y.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(x.starts).toHaveLength(1)

    await x.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(x.starts.map((s) => s.task.id)).toEqual([a.id, b.id])
  })

  it('applies global, perSession and perKind at once', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 2, perSession: 1 } })
    const job = use('job', { start: never })
    const s1a = await supervisor.spawn(input('s1', 'job'))
    const s1b = await supervisor.spawn(input('s1', 'job'))
    const s2a = await supervisor.spawn(input('s2', 'job'))
    const s3a = await supervisor.spawn(input('s3', 'job'))

    expect(job.starts.map((c) => c.task.id)).toEqual([s1a.id, s2a.id])
    expect((await read('s1', s1b.id)).state).toBe('queued')
    expect((await read('s3', s3a.id)).state).toBe('queued')

    // s2a frees a global slot; s1b is still blocked by perSession, so s3a goes.
    await job.starts[1]!.ctx.sink.state('succeeded')
    await flush()
    expect(job.starts.map((c) => c.task.id)).toEqual([s1a.id, s2a.id, s3a.id])

    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(job.starts.map((c) => c.task.id)).toEqual([s1a.id, s2a.id, s3a.id, s1b.id])
  })

  it('keeps the slot while the running task is awaiting_input', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    await job.starts[0]!.ctx.sink.requestInput({ id: 'q1', prompt: 'Proceed?' })
    await flush()

    expect((await read('s1', a.id)).state).toBe('awaiting_input')
    expect(job.starts).toHaveLength(1)
    expect((await read('s1', b.id)).state).toBe('queued')
  })

  it('keeps the slot while the start has resolved but the task is not terminal', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    await vi.advanceTimersByTimeAsync(10_000)
    expect(job.starts).toHaveLength(1)
    expect((await read('s1', b.id)).state).toBe('queued')
  })

  type Finisher = (ctx: {
    supervisor: TaskSupervisor
    registry: InMemorySessionTaskRegistry
    first: SessionTask
    firstCtx: TaskExecutionContext
    settleOnCancel: () => void
  }) => Promise<unknown>

  const finishers: [string, Finisher, number][] = [
    ['its sink', ({ firstCtx }) => firstCtx.sink.state('succeeded'), 0],
    [
      'a direct registry.update',
      ({ registry, first }) =>
        registry.update(first.sessionId, first.id, {
          state: 'failed',
          error: { kind: 'external', message: 'killed' },
        }),
      0,
    ],
    [
      'supervisor.cancel',
      ({ supervisor, first, settleOnCancel }) => {
        settleOnCancel()
        return supervisor.cancel(first.sessionId, first.id)
      },
      0,
    ],
    ['the timeout', async () => {}, 1000 + 200],
  ]

  it.each(finishers)(
    'frees the slot when the terminal state is written by %s',
    async (_label, finish, advanceMs) => {
      const { supervisor, registry, use } = setup({
        concurrency: { global: 1 },
        cancelGraceMs: 200,
      })
      let settle = false
      const job = use('job', {
        start: never,
        cancel: async (_task, ctx) => {
          if (settle) await ctx.sink.state('canceled')
        },
      })
      const first = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
      const second = await supervisor.spawn(input('s1', 'job'))
      expect(job.starts).toHaveLength(1)
      expect((await registry.get('s1', second.id))?.state).toBe('queued')

      await finish({
        supervisor,
        registry,
        first,
        firstCtx: job.starts[0]!.ctx,
        settleOnCancel: () => {
          settle = true
        },
      })
      await vi.advanceTimersByTimeAsync(advanceMs)
      await flush()

      const firstAfter = await registry.get('s1', first.id)
      expect(['succeeded', 'failed', 'canceled']).toContain(firstAfter?.state)
      expect(job.starts.map((c) => c.task.id)).toEqual([first.id, second.id])
    },
  )

  it('does not free the slot when the timeout has not fired yet', async () => {
    const { supervisor, use } = setup({ concurrency: { global: 1 }, cancelGraceMs: 200 })
    const job = use('job', { start: never })
    await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    await supervisor.spawn(input('s1', 'job'))
    await vi.advanceTimersByTimeAsync(1199)
    expect(job.starts).toHaveLength(1)
  })

  it('a start failure frees the slot for the next queued task', async () => {
    const { supervisor, use } = setup({ concurrency: { global: 1 } })
    let calls = 0
    const job = use('job', {
      start: async () => {
        calls++
        if (calls === 1) throw new Error('first fails')
        await never()
      },
    })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    await flush()
    expect(job.starts.map((c) => c.task.id)).toEqual([a.id, b.id])
  })
})

describe('timeouts', () => {
  it('cancels at the deadline like cancel() and fails with timeout cancelGraceMs later', async () => {
    const { supervisor, use, read } = setup({ cancelGraceMs: 500 })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    const signal = job.starts[0]!.ctx.signal

    await vi.advanceTimersByTimeAsync(999)
    let current = await read('s1', task.id)
    expect(current.cancelRequestedAt).toBeUndefined()
    expect(signal.aborted).toBe(false)
    expect(job.cancels).toHaveLength(0)

    await vi.advanceTimersByTimeAsync(1)
    current = await read('s1', task.id)
    expect(current.cancelRequestedAt).toBeDefined()
    expect(signal.aborted).toBe(true)
    expect(job.cancels).toHaveLength(1)
    expect(job.cancels[0]!.task.id).toBe(task.id)
    expect(current.state).toBe('running')

    await vi.advanceTimersByTimeAsync(499)
    expect((await read('s1', task.id)).state).toBe('running')

    await vi.advanceTimersByTimeAsync(1)
    current = await read('s1', task.id)
    expect(current.state).toBe('failed')
    expect(current.error?.kind).toBe('timeout')
  })

  it('counts the deadline from spawn, not from the start resolving', async () => {
    const { supervisor, use, read } = setup({ cancelGraceMs: 100 })
    use('job', {
      start: (_t, ctx) =>
        new Promise<void>((resolve) => {
          setTimeout(() => {
            void ctx.sink.state('running')
            resolve()
          }, 600)
        }),
    })
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1000)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeDefined()
  })

  it('does not fail a task that settles during the grace period', async () => {
    const { supervisor, use, read } = setup({ cancelGraceMs: 500 })
    use('job', {
      start: async (_t, ctx) => {
        await ctx.sink.state('running')
        ctx.signal.addEventListener('abort', () => {
          setTimeout(() => void ctx.sink.state('canceled', 'stopped'), 100)
        })
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1100)
    expect((await read('s1', task.id)).state).toBe('canceled')
    await vi.advanceTimersByTimeAsync(1000)
    const after = await read('s1', task.id)
    expect(after.state).toBe('canceled')
    expect(after.error).toBeUndefined()
  })

  it('leaves a task that finished before its deadline untouched', async () => {
    const { supervisor, use, read } = setup({ cancelGraceMs: 500 })
    const job = use('job', {
      start: async (_t, ctx) => {
        await ctx.sink.state('running')
        setTimeout(() => void ctx.sink.state('succeeded', 'done'), 300)
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(300)
    const finished = await read('s1', task.id)
    expect(finished.state).toBe('succeeded')

    await vi.advanceTimersByTimeAsync(5000)
    const after = await read('s1', task.id)
    expect(after).toEqual(finished)
    expect(after.cancelRequestedAt).toBeUndefined()
    expect(after.state).toBe('succeeded')
    expect(job.cancels).toHaveLength(0)
  })

  it('ends a task still queued at its deadline canceled, and never starts it', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    expect((await read('s1', b.id)).state).toBe('queued')

    await vi.advanceTimersByTimeAsync(1000)
    expect((await read('s1', b.id)).state).toBe('canceled')

    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(job.starts.map((c) => c.task.id)).toEqual([a.id])
    expect(job.cancels.map((c) => c.task.id)).not.toContain(a.id)
  })
})

describe('durations past the setTimeout limit', () => {
  // setTimeout fires at once past 2^31-1 ms (fake timers copy that); these must wait it out.
  const LIMIT = 2 ** 31 - 1

  it('honours a housekeeping interval over the limit (30+ days), passes on schedule', async () => {
    const { supervisor } = setup()
    const reap = vi.spyOn(supervisor, 'reap')
    const intervalMs = LIMIT + 5000
    const stop = supervisor.startHousekeeping({ intervalMs })
    await vi.advanceTimersByTimeAsync(intervalMs - 1)
    expect(reap).toHaveBeenCalledTimes(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(reap).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(intervalMs)
    expect(reap).toHaveBeenCalledTimes(2)
    stop()
    await vi.advanceTimersByTimeAsync(3 * intervalMs)
    expect(reap).toHaveBeenCalledTimes(2)
  })

  it('honours a spawn timeoutMs over the limit', async () => {
    const { supervisor, use, read } = setup({ cancelGraceMs: 500 })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const timeoutMs = 2 * LIMIT + 10
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs })

    await vi.advanceTimersByTimeAsync(timeoutMs - 1)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeUndefined()
    expect(job.cancels).toHaveLength(0)

    await vi.advanceTimersByTimeAsync(1)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeDefined()
    expect(job.cancels).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(500)
    expect((await read('s1', task.id)).error?.kind).toBe('timeout')
  })

  it('honours a spawn timeoutMs of Number.MAX_SAFE_INTEGER', async () => {
    const { supervisor, use, read } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'), {
      timeoutMs: Number.MAX_SAFE_INTEGER,
    })
    await vi.advanceTimersByTimeAsync(3 * LIMIT)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeUndefined()
    expect(job.cancels).toHaveLength(0)
    // Finishing clears the timer, so nothing is left to run for ~285,000 years.
    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('honours a cancelGraceMs over the limit', async () => {
    const cancelGraceMs = LIMIT + 1000
    const { supervisor, use, read } = setup({ cancelGraceMs })
    use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'), { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1000)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeDefined()

    await vi.advanceTimersByTimeAsync(cancelGraceMs - 1)
    expect((await read('s1', task.id)).state).toBe('running')
    await vi.advanceTimersByTimeAsync(1)
    const failed = await read('s1', task.id)
    expect(failed.state).toBe('failed')
    expect(failed.error?.kind).toBe('timeout')
  })

  it('lets close wait a cancelGraceMs over the limit', async () => {
    const cancelGraceMs = LIMIT + 1000
    const { supervisor, use } = setup({ cancelGraceMs })
    use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    await supervisor.spawn(input('s1', 'job'))
    const closing = track(supervisor.close())
    await vi.advanceTimersByTimeAsync(cancelGraceMs - 1)
    expect(closing.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(closing.settled).toBe(true)
  })

  it('honours a wait timeoutMs over the limit', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const timeoutMs = LIMIT + 1000
    const waiting = track(supervisor.wait('s1', task.id, { timeoutMs }))
    await vi.advanceTimersByTimeAsync(timeoutMs - 1)
    expect(waiting.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(waiting.value?.timedOut).toBe(true)
  })
})

describe('cancel', () => {
  it('returns undefined for an unknown task', async () => {
    const { supervisor, use, events } = setup()
    const job = use('job')
    expect(await supervisor.cancel('s1', 'task_unknown')).toBeUndefined()
    expect(job.cancels).toHaveLength(0)
    expect(events).toEqual([])
  })

  it('returns undefined for a task of another session', async () => {
    const { supervisor, use, read } = setup()
    const job = use('job', { start: never })
    const task = await supervisor.spawn(input('s1', 'job'))
    expect(await supervisor.cancel('s2', task.id)).toBeUndefined()
    expect(job.cancels).toHaveLength(0)
    expect((await read('s1', task.id)).cancelRequestedAt).toBeUndefined()
  })

  it('records the intent, aborts the signal and calls executor.cancel, returning a fresh read', async () => {
    const { supervisor, use } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    const result = await supervisor.cancel('s1', task.id)

    expect(result?.cancelRequestedAt).toBeDefined()
    expect(result?.state).toBe('running')
    expect(job.starts[0]!.ctx.signal.aborted).toBe(true)
    expect(job.cancels).toHaveLength(1)
    expect(job.cancels[0]!.task.id).toBe(task.id)
    expect(job.cancels[0]!.ctx.sessionId).toBe('s1')
  })

  it('returns canceled when the executor settles the task inside cancel', async () => {
    const { supervisor, use, read } = setup()
    use('job', {
      start: async (_t, ctx) => ctx.sink.state('running'),
      cancel: async (_task, ctx) => ctx.sink.state('canceled'),
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    const result = await supervisor.cancel('s1', task.id)
    expect(result?.state).toBe('canceled')
    expect(result).toEqual(await read('s1', task.id))
  })

  it('never calls executor.cancel for a terminal task', async () => {
    const { supervisor, use, read } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('succeeded') })
    const task = await supervisor.spawn(input('s1', 'job'))
    await flush()
    expect((await read('s1', task.id)).state).toBe('succeeded')

    const result = await supervisor.cancel('s1', task.id)
    expect(result?.state).toBe('succeeded')
    expect(job.cancels).toHaveLength(0)
  })

  it('calls executor.cancel only once when cancel is called twice', async () => {
    const { supervisor, use } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    const first = await supervisor.cancel('s1', task.id)
    const second = await supervisor.cancel('s1', task.id)
    expect(job.cancels).toHaveLength(1)
    expect(second?.cancelRequestedAt).toBe(first?.cancelRequestedAt)
  })

  it('works on a task created directly in the registry by finding the executor by kind', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job', { cancel: async (_task, ctx) => ctx.sink.state('canceled') })
    const task = await registry.create(input('s1', 'job', { state: 'running' }))

    const result = await supervisor.cancel('s1', task.id)

    expect(job.cancels).toHaveLength(1)
    expect(job.cancels[0]!.task.id).toBe(task.id)
    expect(job.cancels[0]!.ctx.registry).toBe(registry)
    expect(job.cancels[0]!.ctx.sessionId).toBe('s1')
    expect(job.starts).toHaveLength(0)
    expect(result?.state).toBe('canceled')
    expect(result?.cancelRequestedAt).toBeDefined()
  })

  it('cancels a task still waiting for a slot without ever starting it', async () => {
    const { supervisor, use, read } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    const result = await supervisor.cancel('s1', b.id)
    expect(result?.state).toBe('canceled')

    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(job.starts.map((c) => c.task.id)).toEqual([a.id])
    expect((await read('s1', b.id)).state).toBe('canceled')
  })
})

describe('message', () => {
  it('records the inbound message, then calls deliver, and reports delivered', async () => {
    const { supervisor, registry, use, events } = setup()
    let storedWhenDelivered: TaskMessage[] = []
    const job = use('job', {
      start: async (_t, ctx) => ctx.sink.state('running'),
      deliver: async (task) => {
        storedWhenDelivered = await registry.listMessages('s1', task.id)
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'))

    const result = await supervisor.message('s1', task.id, { text: 'please continue' })

    expect(result.delivery).toBe('delivered')
    expect(result.message).toMatchObject({
      taskId: task.id,
      direction: 'inbound',
      content: [{ type: 'text', text: 'please continue' }],
    })
    expect(job.delivers).toHaveLength(1)
    expect(job.delivers[0]!.message).toEqual(result.message)
    expect(job.delivers[0]!.task.id).toBe(task.id)
    expect(storedWhenDelivered).toEqual([result.message])
    expect(await registry.listMessages('s1', task.id)).toEqual([result.message])
    expect(events.filter((e) => e.type === 'task.message.sent')).toHaveLength(1)
  })

  it('accepts structured content', async () => {
    const { supervisor, use } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    const content = [
      { type: 'text' as const, text: 'here' },
      { type: 'data' as const, data: { n: 1 } },
    ]
    const result = await supervisor.message('s1', task.id, { content })
    expect(result.message.content).toEqual(content)
    expect(job.delivers[0]!.message.content).toEqual(content)
  })

  it('reports failed with the reason when deliver throws, and keeps the message', async () => {
    const { supervisor, registry, use } = setup()
    use('job', {
      start: async (_t, ctx) => ctx.sink.state('running'),
      deliver: async () => {
        throw new Error('worker unreachable')
      },
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    const result = await supervisor.message('s1', task.id, { text: 'hello' })
    expect(result.delivery).toEqual({ failed: 'worker unreachable' })
    expect(await registry.listMessages('s1', task.id)).toEqual([result.message])
  })

  it('reports failed with the unsupported text for an executor without deliver', async () => {
    const { supervisor, executors, registry } = setup()
    executors.register({
      kind: 'mute',
      executor: () => ({
        kind: 'mute',
        start: async (_t, ctx) => ctx.sink.state('running'),
        cancel: async () => {},
      }),
    })
    const task = await supervisor.spawn(input('s1', 'mute'))
    const result = await supervisor.message('s1', task.id, { text: 'hello?' })
    expect(result.delivery).toEqual({
      failed: "task kind 'mute' does not accept inbound messages",
    })
    expect(await registry.listMessages('s1', task.id)).toHaveLength(1)
  })

  it('throws TaskNotFoundError for an unknown task and calls no executor', async () => {
    const { supervisor, use } = setup()
    const job = use('job')
    let error: unknown
    try {
      await supervisor.message('s1', 'task_unknown', { text: 'hi' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(TaskNotFoundError)
    expect(isTaskNotFoundError(error)).toBe(true)
    expect(job.delivers).toHaveLength(0)
  })

  it('resumes an awaiting task to running when inReplyTo answers its input request', async () => {
    const { supervisor, use, read } = setup()
    const job = use('job', {
      start: async (_t, ctx) => ctx.sink.requestInput({ id: 'q1', prompt: 'Which branch?' }),
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    await flush()
    expect((await read('s1', task.id)).state).toBe('awaiting_input')

    const result = await supervisor.message('s1', task.id, { text: 'main', inReplyTo: 'q1' })

    expect(result.message.inReplyTo).toBe('q1')
    const after = await read('s1', task.id)
    expect(after.state).toBe('running')
    expect(after.inputRequest).toBeUndefined()
    expect(job.delivers).toHaveLength(1)
  })

  it('works on a task created directly in the registry', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job')
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const result = await supervisor.message('s1', task.id, { text: 'ping' })
    expect(result.delivery).toBe('delivered')
    expect(job.delivers).toHaveLength(1)
    expect(job.delivers[0]!.ctx.sessionId).toBe('s1')
  })
})

describe('wait', () => {
  const starCount = (registry: InMemorySessionTaskRegistry, sid: string) =>
    registry.events(sid).all.get('*')?.length ?? 0

  it('resolves at once when the task is already terminal', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'succeeded' }))
    const result = await supervisor.wait('s1', task.id)
    expect(result.timedOut).toBe(false)
    expect(result.task).toEqual(await registry.get('s1', task.id))
  })

  it('resolves when the task becomes terminal, driven by events without timers', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const timersBefore = vi.getTimerCount()
    const waiting = track(supervisor.wait('s1', task.id))
    await flush()
    expect(waiting.settled).toBe(false)
    expect(vi.getTimerCount()).toBe(timersBefore)

    await registry.update('s1', task.id, { state: 'succeeded', summary: 'ok' })
    await flush()

    expect(waiting.settled).toBe(true)
    expect(waiting.value?.timedOut).toBe(false)
    expect(waiting.value?.task).toMatchObject({ id: task.id, state: 'succeeded', summary: 'ok' })
  })

  it('does not resolve on awaiting_input by default', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const waiting = track(supervisor.wait('s1', task.id))
    await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await flush()
    expect(waiting.settled).toBe(false)
    await registry.update('s1', task.id, { state: 'failed' })
    await flush()
    expect(waiting.value?.task.state).toBe('failed')
  })

  it("with until 'settled' resolves on awaiting_input", async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const waiting = track(supervisor.wait('s1', task.id, { until: 'settled' }))
    await flush()
    expect(waiting.settled).toBe(false)
    await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await flush()
    expect(waiting.value).toMatchObject({ timedOut: false, task: { state: 'awaiting_input' } })
  })

  it("with until 'settled' resolves at once on a task already awaiting_input", async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'awaiting_input' }))
    const result = await supervisor.wait('s1', task.id, { until: 'settled' })
    expect(result).toMatchObject({ timedOut: false, task: { state: 'awaiting_input' } })
  })

  it('resolves with timedOut true after timeoutMs', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const waiting = track(supervisor.wait('s1', task.id, { timeoutMs: 1000 }))
    await vi.advanceTimersByTimeAsync(999)
    expect(waiting.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(waiting.value?.timedOut).toBe(true)
    expect(waiting.value?.task).toMatchObject({ id: task.id, state: 'running' })
  })

  it('rejects when the signal is already aborted', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const controller = new AbortController()
    const reason = new Error('caller gave up')
    controller.abort(reason)
    await expect(supervisor.wait('s1', task.id, { signal: controller.signal })).rejects.toBe(reason)
    expect(starCount(registry, 's1')).toBe(0)
  })

  it('rejects when the signal aborts while waiting', async () => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const controller = new AbortController()
    const waiting = track(supervisor.wait('s1', task.id, { signal: controller.signal }))
    await flush()
    expect(waiting.settled).toBe(false)
    const reason = new Error('stop waiting')
    controller.abort(reason)
    await flush()
    expect(waiting.settled).toBe(true)
    expect(waiting.error).toBe(reason)
  })

  it('throws TaskNotFoundError for an unknown task', async () => {
    const { supervisor, registry } = setup()
    await expect(supervisor.wait('s1', 'task_unknown')).rejects.toBeInstanceOf(TaskNotFoundError)
    await registry.create(input('s2', 'job', { id: 'elsewhere', state: 'running' }))
    await expect(supervisor.wait('s1', 'elsewhere')).rejects.toBeInstanceOf(TaskNotFoundError)
    expect(starCount(registry, 's1')).toBe(0)
  })

  it.each([
    ['already terminal', 'terminal'],
    ['event-driven', 'event'],
    ['timed out', 'timeout'],
    ['aborted', 'abort'],
    ['unknown task', 'unknown'],
  ] as const)('leaves no listener and no timer behind when %s', async (_label, how) => {
    const { supervisor, registry } = setup()
    const task = await registry.create(
      input('s1', 'job', { state: how === 'terminal' ? 'succeeded' : 'running' }),
    )
    const listenersBefore = starCount(registry, 's1')
    const liveBefore = registry.live
    const timersBefore = vi.getTimerCount()
    const controller = new AbortController()
    const waiting = track(
      supervisor.wait('s1', how === 'unknown' ? 'task_unknown' : task.id, {
        timeoutMs: 60_000,
        signal: controller.signal,
      }),
    )
    await flush()
    if (how === 'event') await registry.update('s1', task.id, { state: 'canceled' })
    if (how === 'timeout') await vi.advanceTimersByTimeAsync(60_000)
    if (how === 'abort') controller.abort(new Error('bye'))
    await flush()

    expect(waiting.settled).toBe(true)
    expect(starCount(registry, 's1')).toBe(listenersBefore)
    expect(registry.live).toBe(liveBefore)
    expect(vi.getTimerCount()).toBe(timersBefore)
  })
})

describe('reconcile', () => {
  it('calls executor.reconcile with the task and a context', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job', {
      reconcile: async (_task, ctx) => ctx.sink.state('succeeded', 'found finished'),
    })
    const task = await registry.create(input('s1', 'job', { state: 'running' }))

    const result = await supervisor.reconcile('s1', task.id)

    expect(job.reconciles).toHaveLength(1)
    expect(job.reconciles[0]!.task.id).toBe(task.id)
    expect(job.reconciles[0]!.ctx.registry).toBe(registry)
    expect(job.reconciles[0]!.ctx.sessionId).toBe('s1')
    expect((await registry.get('s1', task.id))?.state).toBe('succeeded')
    expect(result?.state).toBe('succeeded')
  })

  it('resolves for an executor without reconcile (default no-op) and changes nothing', async () => {
    const { supervisor, executors, registry } = setup()
    executors.register({
      kind: 'plain',
      executor: () => ({ kind: 'plain', cancel: async () => {} }),
    })
    const task = await registry.create(input('s1', 'plain', { state: 'running' }))
    const before = await registry.get('s1', task.id)
    await expect(supervisor.reconcile('s1', task.id)).resolves.toBeDefined()
    expect(await registry.get('s1', task.id)).toEqual(before)
  })
})

describe('close', () => {
  it("aborts every running task's signal", async () => {
    const { supervisor, use } = setup({ cancelGraceMs: 100 })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    await supervisor.spawn(input('s1', 'job'))
    await supervisor.spawn(input('s2', 'job'))
    const closing = supervisor.close()
    expect(job.starts.map((c) => c.ctx.signal.aborted)).toEqual([true, true])
    await vi.advanceTimersByTimeAsync(100)
    await closing
  })

  it('waits at most cancelGraceMs for tasks that do not settle', async () => {
    const { supervisor, use } = setup({ cancelGraceMs: 1000 })
    use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    await supervisor.spawn(input('s1', 'job'))
    const closing = track(supervisor.close())
    await vi.advanceTimersByTimeAsync(999)
    expect(closing.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(closing.settled).toBe(true)
    expect(closing.error).toBeUndefined()
  })

  it('resolves as soon as the aborted tasks settle', async () => {
    const { supervisor, use, registry } = setup({ cancelGraceMs: 5000 })
    use('job', {
      start: async (_t, ctx) => {
        await ctx.sink.state('running')
        ctx.signal.addEventListener('abort', () => {
          setTimeout(() => void ctx.sink.state('canceled'), 100)
        })
      },
    })
    const a = await supervisor.spawn(input('s1', 'job'))
    const b = await supervisor.spawn(input('s1', 'job'))
    const closing = track(supervisor.close())
    await vi.advanceTimersByTimeAsync(99)
    expect(closing.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(closing.settled).toBe(true)
    expect((await registry.get('s1', a.id))?.state).toBe('canceled')
    expect((await registry.get('s1', b.id))?.state).toBe('canceled')
  })

  it('leaves no timer and no registry listener behind', async () => {
    const { supervisor, use, registry } = setup({
      cancelGraceMs: 300,
      concurrency: { global: 1 },
    })
    use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    await supervisor.spawn(input('s1', 'job'), { timeoutMs: 60_000 })
    await supervisor.spawn(input('s1', 'job'), { timeoutMs: 60_000 })
    expect(vi.getTimerCount()).toBeGreaterThan(0)
    // The supervisor listens to the registry while open.
    expect(registry.live).toBeGreaterThan(1)

    const closing = supervisor.close()
    await vi.advanceTimersByTimeAsync(300)
    await closing

    expect(vi.getTimerCount()).toBe(0)
    // The test's own subscribeAll recorder is the only listener left.
    expect(registry.live).toBe(1)
  })

  it('detaches from the registry: later terminal events start nothing', async () => {
    const { supervisor, use } = setup({ cancelGraceMs: 10, concurrency: { global: 1 } })
    const job = use('job', { start: never })
    await supervisor.spawn(input('s1', 'job'))
    await supervisor.spawn(input('s1', 'job'))
    const closing = supervisor.close()
    await vi.advanceTimersByTimeAsync(10)
    await closing
    await job.starts[0]!.ctx.sink.state('succeeded')
    await flush()
    expect(job.starts).toHaveLength(1)
  })
})

describe('close without fake timers', () => {
  beforeEach(() => {
    vi.useRealTimers()
  })

  it('leaves no open Timeout handle behind', async () => {
    const timeouts = () =>
      process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
    const before = timeouts()
    const registry = new InMemorySessionTaskRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        start: async (_t, ctx) => ctx.sink.state('running'),
        cancel: async () => {},
      }),
    })
    executors.register({
      kind: 'polite',
      executor: () => ({
        kind: 'polite',
        start: async (_t, ctx) => {
          await ctx.sink.state('running')
          ctx.signal.addEventListener('abort', () => void ctx.sink.state('canceled'))
        },
        cancel: async () => {},
      }),
    })
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      cancelGraceMs: 20,
      concurrency: { global: 2 },
    })
    await supervisor.spawn(input('s1', 'job'), { timeoutMs: 60_000 })
    await supervisor.spawn(input('s1', 'polite'), { timeoutMs: 60_000 })
    await supervisor.spawn(input('s1', 'job'), { timeoutMs: 60_000 })
    const waiting = supervisor.wait('s1', 'task_none').catch(() => undefined)

    await supervisor.close()
    await waiting

    // Vitest's own timers may come and go; what the supervisor created must be gone.
    expect(timeouts()).toBeLessThanOrEqual(before)
  })
})

describe('bad input', () => {
  it.each([
    ['a missing kind', { sessionId: 's1', displayName: 'x' }],
    ['an empty displayName', { sessionId: 's1', kind: 'job', displayName: '' }],
    ['an unknown key', { sessionId: 's1', kind: 'job', displayName: 'x', bogus: 1 }],
    ['an empty session id', { sessionId: '', kind: 'job', displayName: 'x' }],
    ['a bad state', { sessionId: 's1', kind: 'job', displayName: 'x', state: 'done' }],
    ['not an object', 'job'],
  ])('spawn with %s throws ValidationError and changes nothing', async (_label, bad) => {
    const { supervisor, use, registry, events } = setup()
    const job = use('job')
    let error: unknown
    try {
      await supervisor.spawn(bad as CreateSessionTask)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ValidationError)
    expect(await registry.list('s1')).toEqual([])
    expect(events).toEqual([])
    expect(job.starts).toHaveLength(0)
  })

  it.each([
    ['a zero timeout', { timeoutMs: 0 }],
    ['a negative timeout', { timeoutMs: -5 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
    ['a string timeout', { timeoutMs: '100' }],
    ['an unknown key', { timeout: 100 }],
  ])('spawn with %s in options throws ValidationError and changes nothing', async (_l, bad) => {
    const { supervisor, use, registry, events } = setup()
    const job = use('job')
    await expect(
      supervisor.spawn(input('s1', 'job'), bad as { timeoutMs?: number }),
    ).rejects.toBeInstanceOf(ValidationError)
    expect(await registry.list('s1')).toEqual([])
    expect(events).toEqual([])
    expect(job.starts).toHaveLength(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('spawn validates input before looking for an executor', async () => {
    const { supervisor } = setup()
    await expect(
      supervisor.spawn({ sessionId: 's1', kind: 'nothing', displayName: '' }),
    ).rejects.toBeInstanceOf(ValidationError)
    await expect(
      supervisor.spawn(input('s1', 'nothing'), { timeoutMs: -1 }),
    ).rejects.toBeInstanceOf(ValidationError)
  })

  it.each([
    ['an empty session id', '', 'OWN'],
    ['an empty task id', 's1', ''],
    ['a numeric task id', 's1', 42],
  ] as const)('cancel with %s throws ValidationError and changes nothing', async (_l, sid, tid) => {
    const { supervisor, use, read, events } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    const before = await read('s1', task.id)
    events.length = 0
    const taskId = (tid === 'OWN' ? task.id : tid) as string
    await expect(supervisor.cancel(sid, taskId)).rejects.toBeInstanceOf(ValidationError)
    expect(await read('s1', task.id)).toEqual(before)
    expect(job.cancels).toHaveLength(0)
    expect(job.starts[0]!.ctx.signal.aborted).toBe(false)
    expect(events).toEqual([])
  })

  it.each([
    ['both text and content', { text: 'a', content: [{ type: 'text', text: 'b' }] }],
    ['neither text nor content', {}],
    ['empty content', { content: [] }],
    ['an unknown key', { text: 'a', urgent: true }],
    ['a bad part', { content: [{ type: 'image', url: 'x' }] }],
    ['an empty inReplyTo', { text: 'a', inReplyTo: '' }],
  ])('message with %s throws ValidationError and changes nothing', async (_l, bad) => {
    const { supervisor, use, registry, events } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    events.length = 0
    await expect(
      supervisor.message('s1', task.id, bad as { text?: string }),
    ).rejects.toBeInstanceOf(ValidationError)
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(job.delivers).toHaveLength(0)
    expect(events).toEqual([])
  })

  it('message with bad ids throws ValidationError even for an unknown task', async () => {
    const { supervisor } = setup()
    await expect(supervisor.message('', 'task_x', { text: 'a' })).rejects.toBeInstanceOf(
      ValidationError,
    )
    await expect(supervisor.message('s1', '', { text: 'a' })).rejects.toBeInstanceOf(
      ValidationError,
    )
  })

  it.each([
    ['a bad until', { until: 'forever' }],
    ['a zero timeout', { timeoutMs: 0 }],
    ['a non-signal', { signal: { aborted: false } }],
    ['an unknown key', { timeout: 5 }],
  ])('wait with %s throws ValidationError and leaves nothing behind', async (_l, bad) => {
    const { supervisor, registry } = setup()
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    const live = registry.live
    await expect(
      supervisor.wait('s1', task.id, bad as { until?: 'terminal' }),
    ).rejects.toBeInstanceOf(ValidationError)
    expect(registry.live).toBe(live)
    expect(registry.events('s1').all.get('*')?.length ?? 0).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('wait with bad ids throws ValidationError, not TaskNotFoundError', async () => {
    const { supervisor } = setup()
    const error = await supervisor.wait('s1', '').catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    await expect(supervisor.wait('', 'task_x')).rejects.toBeInstanceOf(ValidationError)
  })

  it('reconcile with bad ids throws ValidationError and calls nothing', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job')
    const task = await registry.create(input('s1', 'job', { state: 'running' }))
    await expect(supervisor.reconcile('', task.id)).rejects.toBeInstanceOf(ValidationError)
    await expect(supervisor.reconcile('s1', '')).rejects.toBeInstanceOf(ValidationError)
    expect(job.reconciles).toHaveLength(0)
  })

  it.each([
    ['no registry', (_r: CountingRegistry) => ({})],
    ['a null registry', (_r: CountingRegistry) => ({ registry: null })],
    ['a negative cancelGraceMs', (registry: CountingRegistry) => ({ registry, cancelGraceMs: -1 })],
    ['a string cancelGraceMs', (registry: CountingRegistry) => ({ registry, cancelGraceMs: '5' })],
    [
      'a zero global limit',
      (registry: CountingRegistry) => ({ registry, concurrency: { global: 0 } }),
    ],
    [
      'a fractional perSession limit',
      (registry: CountingRegistry) => ({ registry, concurrency: { perSession: 1.5 } }),
    ],
    [
      'an unknown concurrency key',
      (registry: CountingRegistry) => ({ registry, concurrency: { perUser: 1 } }),
    ],
    ['an unknown option', (registry: CountingRegistry) => ({ registry, retries: 3 })],
    ['a non-function now', (registry: CountingRegistry) => ({ registry, now: 'yesterday' })],
    ['a non-object executors', (registry: CountingRegistry) => ({ registry, executors: 'all' })],
  ])('createTaskSupervisor with %s throws ValidationError and attaches nothing', (_l, build) => {
    const registry = new CountingRegistry()
    let error: unknown
    try {
      supervisors.push(createTaskSupervisor(build(registry) as unknown as TaskSupervisorOptions))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ValidationError)
    expect(registry.live).toBe(0)
  })

  it('createTaskSupervisor without options throws ValidationError', () => {
    let error: unknown
    try {
      supervisors.push(createTaskSupervisor(undefined as unknown as TaskSupervisorOptions))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ValidationError)
  })
})

describe('module-level executors', () => {
  it('a supervisor without executors uses the module-level registry', async () => {
    const recorder = recordingExecutor('module-job')
    const unregister = registerTaskExecutor({
      kind: 'module-job',
      executor: () => recorder.executor,
    })
    try {
      const registry = new InMemorySessionTaskRegistry()
      const supervisor = createTaskSupervisor({ registry })
      supervisors.push(supervisor)
      const task = await supervisor.spawn(input('s1', 'module-job'))
      expect(recorder.starts.map((c) => c.task.id)).toEqual([task.id])
    } finally {
      unregister()
    }
  })
})

describe('spawn races (SPEC 12.4)', () => {
  it('two concurrent spawns of one caller id start the executor once and return the same task', async () => {
    const { supervisor, use } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const [a, b] = await Promise.all([
      supervisor.spawn(input('s1', 'job', { id: 'once' })),
      supervisor.spawn(input('s1', 'job', { id: 'once' })),
    ])
    await flush()
    expect(job.starts).toHaveLength(1)
    expect(a.id).toBe('once')
    expect(b.id).toBe('once')
  })

  it('deleteSession during a spawn leaves no slot behind: the next spawn starts', async () => {
    const { supervisor, registry, use } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const realCreate = registry.create.bind(registry)
    let first = true
    vi.spyOn(registry, 'create').mockImplementation(async (value) => {
      const created = await realCreate(value)
      if (first) {
        first = false
        // The session goes after the task exists but before its run does.
        await registry.deleteSession(created.sessionId)
      }
      return created
    })
    await supervisor.spawn(input('s1', 'job'))
    await flush()
    const next = await supervisor.spawn(input('s2', 'job'))
    await flush()
    expect(job.starts.map((c) => c.task.id)).toContain(next.id)
    expect((await registry.get('s2', next.id))?.state).toBe('running')
  })

  it('reap after close starts nothing: it rejects', async () => {
    const { supervisor } = setup()
    await supervisor.close()
    const error = await supervisor.reap().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isUnsupportedOperationError(error)).toBe(true)
  })

  it('close during a spawn: the created task is not started', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job')
    const realCreate = registry.create.bind(registry)
    let closing: Promise<void> | undefined
    vi.spyOn(registry, 'create').mockImplementation(async (value) => {
      const created = await realCreate(value)
      closing = supervisor.close()
      return created
    })
    const task = await supervisor.spawn(input('s1', 'job'))
    await closing
    await flush()
    expect(job.starts).toHaveLength(0)
    expect((await registry.get('s1', task.id))?.state).toBe('queued')
  })
})

describe('ctx.signal.reason says why a run was aborted (SPEC 12.4)', () => {
  const kindOf = (call: { ctx: TaskExecutionContext } | undefined) =>
    (call?.ctx.signal.reason as { kind?: unknown } | undefined)?.kind

  it('canceled, timeout, closed and deleted', async () => {
    const { supervisor, registry, use } = setup({ cancelGraceMs: 100 })
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const a = await supervisor.spawn(input('s1', 'job'))
    await supervisor.cancel('s1', a.id)
    expect(kindOf(job.starts[0])).toBe('canceled')
    expect(job.starts[0]?.ctx.signal.reason).toBeInstanceOf(TaskAbortReason)

    await supervisor.spawn(input('s2', 'job'), { timeoutMs: 1000 })
    await vi.advanceTimersByTimeAsync(1000)
    expect(kindOf(job.starts[1])).toBe('timeout')

    await supervisor.spawn(input('s3', 'job'))
    await registry.deleteSession('s3')
    expect(kindOf(job.starts[2])).toBe('deleted')

    await supervisor.spawn(input('s4', 'job'))
    const closing = supervisor.close()
    await vi.advanceTimersByTimeAsync(200)
    await closing
    expect(kindOf(job.starts[3])).toBe('closed')
  })

  it('superseded when another writer settles the task', async () => {
    const { supervisor, registry, use } = setup()
    const job = use('job', { start: async (_t, ctx) => ctx.sink.state('running') })
    const task = await supervisor.spawn(input('s1', 'job'))
    await registry.update('s1', task.id, { state: 'succeeded' })
    await flush()
    expect(kindOf(job.starts[0])).toBe('superseded')
    expect(TASK_ABORT_KINDS).toEqual(['canceled', 'timeout', 'superseded', 'closed', 'deleted'])
  })
})

describe('expired tasks', () => {
  beforeEach(() => {
    vi.setSystemTime(Date.parse('2030-01-01T00:00:00.000Z'))
  })

  it('pruning an expired running task ends its run here and frees its slot', async () => {
    const { supervisor, use } = setup({ concurrency: { global: 1 } })
    const job = use('job', { start: never })
    const a = await supervisor.spawn(input('s1', 'job', { expiresAt: '2030-01-01T00:00:01.000Z' }))
    await flush()
    expect(job.starts).toHaveLength(1)
    const b = await supervisor.spawn(input('s1', 'job'))
    await flush()
    expect(job.starts).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(2000)
    const pruned = await supervisor.prune({ finishedBefore: new Date(0) })
    expect(pruned.map((t) => t.id)).toEqual([a.id])
    const signal = job.starts[0]?.ctx.signal
    expect(signal?.aborted).toBe(true)
    expect((signal?.reason as TaskAbortReason | undefined)?.kind).toBe('deleted')
    await flush()
    expect(job.starts.map((s) => s.task.id)).toEqual([a.id, b.id])
  })
})
