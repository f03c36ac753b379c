import { afterEach, describe, expect, it } from 'vitest'
import {
  InMemorySessionTaskRegistry,
  isValidationError,
  type SessionTask,
  type TaskAbortReason,
} from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import {
  abortListeners,
  adversary,
  closeOpened,
  droppingRegistry,
  flush,
  jobInput,
  macrotask,
  reasonSeen,
  track,
} from './fixtures/adversary.js'

// Adversarial checks of the AbortSignals on spawn, message and cancel, and
// of cancel's reason (src/execution/supervisor.ts, spawn-signals.ts,
// cancellation.ts).

afterEach(closeOpened)

/** A gate the test opens by hand. */
function gate() {
  let open = () => {}
  const passed = new Promise<void>((resolve) => {
    open = resolve
  })
  return { passed, open }
}

describe('one spawn signal shared by many spawns', () => {
  it('holds no listener once 10,000 tasks spawned on it have finished', async () => {
    const { supervisor } = adversary({ start: (_t, ctx) => ctx.sink.state('succeeded') })
    const controller = new AbortController()
    for (let i = 0; i < 10_000; i++) {
      await supervisor.spawn(jobInput(), { signal: controller.signal })
    }
    expect(abortListeners(controller.signal)).toBe(0)
  })

  it('holds one listener for 500 live tasks, cancels them all on abort, and then holds none', async () => {
    const { supervisor, read } = adversary()
    const controller = new AbortController()
    const tasks: SessionTask[] = []
    for (let i = 0; i < 500; i++) {
      tasks.push(await supervisor.spawn(jobInput(), { signal: controller.signal }))
    }
    expect(abortListeners(controller.signal)).toBe(1)
    controller.abort(new Error('turn over'))
    await flush(200)
    expect(abortListeners(controller.signal)).toBe(0)
    const states = await Promise.all(tasks.map(async (t) => (await read(t.id)).state))
    expect(new Set(states)).toEqual(new Set(['canceled']))
  })

  // Node warns of a possible leak at the 11th listener on one signal, and
  // a turn that spawns a dozen tasks on its signal is ordinary.
  it('spawning 11 live tasks on one signal prints no MaxListenersExceededWarning', async () => {
    const { supervisor } = adversary()
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    try {
      const controller = new AbortController()
      for (let i = 0; i < 11; i++) await supervisor.spawn(jobInput(), { signal: controller.signal })
      await macrotask()
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('a spawn signal racing the task', () => {
  it('rejects and leaves the task canceled when aborted right after spawn() is called', async () => {
    const { supervisor, registry } = adversary()
    const controller = new AbortController()
    const spawning = supervisor.spawn(jobInput(), { signal: controller.signal })
    controller.abort(new Error('changed my mind'))
    await expect(spawning).rejects.toThrow('changed my mind')
    const [task] = await registry.list('s1')
    expect(task?.state).toBe('canceled')
    expect(abortListeners(controller.signal)).toBe(0)
  })

  it('rejects and cancels when aborted from inside executor.start', async () => {
    const controller = new AbortController()
    const { supervisor, registry, calls } = adversary({
      start: async (_t, ctx) => {
        await ctx.sink.state('running')
        controller.abort('stop now')
      },
    })
    await expect(supervisor.spawn(jobInput(), { signal: controller.signal })).rejects.toBe(
      'stop now',
    )
    const [task] = await registry.list('s1')
    expect(task?.state).toBe('canceled')
    // One cancel, not one from the listener and one from spawn itself.
    expect(calls.cancels).toHaveLength(1)
    expect(reasonSeen(calls.cancels[0]).message).toBe('stop now')
  })

  it('does nothing when aborted after the task ended', async () => {
    const { supervisor, calls, read, counting } = adversary({
      start: (_t, ctx) => ctx.sink.state('succeeded'),
    })
    const controller = new AbortController()
    const task = await supervisor.spawn(jobInput(), { signal: controller.signal })
    const before = await read(task.id)
    let events = 0
    const off = counting.subscribe('s1', () => events++)
    controller.abort()
    await flush()
    off()
    expect(calls.cancels).toEqual([])
    expect(events).toBe(0)
    expect(await read(task.id)).toEqual(before)
  })

  it('rejects with an already aborted signal, creating nothing and attaching nothing', async () => {
    const { supervisor, registry } = adversary()
    const signal = AbortSignal.abort(new Error('too late'))
    await expect(supervisor.spawn(jobInput(), { signal })).rejects.toThrow('too late')
    expect(await registry.list('s1')).toEqual([])
    expect(abortListeners(signal)).toBe(0)
  })

  it('cancels a queued task with an abort reason that is not an Error or a string (stock text)', async () => {
    const { supervisor, read } = adversary({ supervisor: { concurrency: { global: 1 } } })
    await supervisor.spawn(jobInput())
    const controller = new AbortController()
    const queued = await supervisor.spawn(jobInput(), { signal: controller.signal })
    controller.abort({ code: 42 })
    await flush()
    const task = await read(queued.id)
    expect(task.state).toBe('canceled')
    expect(task.stateDetail).toBe('canceled before it started: the spawn signal was aborted')
  })

  it('passes a 1 MB abort message through to the executor whole', async () => {
    const { supervisor, calls, read } = adversary()
    const controller = new AbortController()
    const task = await supervisor.spawn(jobInput(), { signal: controller.signal })
    const big = 'x'.repeat(1 << 20)
    controller.abort(new Error(big))
    await flush()
    expect((await read(task.id)).state).toBe('canceled')
    expect(reasonSeen(calls.cancels[0]).message).toHaveLength(1 << 20)
  })

  // An abort message with a lone surrogate (user text cut inside an emoji)
  // must still cancel: cancel refuses ill-formed reasons, so the text is
  // made well-formed first.
  it('cancels the task when the abort message holds a lone surrogate', async () => {
    const { supervisor, read, errors } = adversary()
    const controller = new AbortController()
    const task = await supervisor.spawn(jobInput(), { signal: controller.signal })
    controller.abort(new Error(`user said: ${'😀'.slice(0, 1)}`))
    await flush()
    expect(errors).toEqual([])
    expect((await read(task.id)).state).toBe('canceled')
  })

  // The same bug on the in-flight path: spawn rejects, yet the task it made runs on.
  it('cancels the task it made when aborted mid-spawn with a lone-surrogate reason', async () => {
    const { supervisor, registry } = adversary()
    const controller = new AbortController()
    const spawning = supervisor.spawn(jobInput(), { signal: controller.signal })
    controller.abort('\uD800')
    await expect(spawning).rejects.toBe('\uD800')
    const [task] = await registry.list('s1')
    expect(task?.state).toBe('canceled')
  })

  // A terminal event lost in a gap is found by the re-read after the gap;
  // forgetting the run there must also let go of the spawn signal.
  it('lets go of the signal when the terminal event was lost in a gap', async () => {
    const clock = createManualClock()
    const { store, registry } = droppingRegistry(clock)
    let finish = async () => {}
    const { supervisor } = adversary({
      registry,
      clock,
      start: async (task, ctx) => {
        await ctx.sink.state('running')
        finish = () => ctx.sink.state('succeeded')
        void task
      },
    })
    const controller = new AbortController()
    const task = await supervisor.spawn(jobInput(), { signal: controller.signal })
    expect(abortListeners(controller.signal)).toBe(1)
    store.losing = true
    await finish()
    store.report('s1')
    await flush()
    expect((await registry.get('s1', task.id))?.state).toBe('succeeded')
    expect(abortListeners(controller.signal)).toBe(0)
  })
})

describe('a spawn racing another writer', () => {
  // A task made terminal by another writer after registry.create committed
  // (here a task.created listener; in production another process) races
  // the start: its terminal event has gone by, so the spawn's own re-read
  // is what must abort the run and free its slot (with `global: 1`, every
  // later spawn would otherwise wait forever) and its signal's listener.
  it('aborts the run of, and holds no slot for, a task canceled right after its create', async () => {
    const { supervisor, counting, calls, read } = adversary({
      supervisor: { concurrency: { global: 1 } },
    })
    let armed = true
    counting.subscribe('s1', (type, payload) => {
      if (type !== 'task.created' || !armed) return
      armed = false
      const { task } = payload as { task: SessionTask }
      void counting.update('s1', task.id, { state: 'canceled', stateDetail: 'policy' })
    })
    const controller = new AbortController()
    const first = await supervisor.spawn(jobInput(), { signal: controller.signal })
    expect((await read(first.id)).state).toBe('canceled')
    const second = await supervisor.spawn(jobInput())
    await flush()
    expect((await read(second.id)).state).toBe('running')
    // The start may have been called before the cancel was seen; its run is aborted.
    const firstRun = calls.starts.find((s) => s.task.id === first.id)
    if (firstRun !== undefined) expect(firstRun.ctx.signal.aborted).toBe(true)
    expect(calls.starts.map((s) => s.task.id)).toContain(second.id)
    expect((await read(first.id)).state).toBe('canceled')
    expect(abortListeners(controller.signal)).toBe(0)
  })
})

describe('closing while spawning', () => {
  it('a spawn whose create is still in flight at close() resolves queued, starts nothing, keeps no listener', async () => {
    const creating = gate()
    class SlowCreate extends InMemorySessionTaskRegistry {
      override async create(...args: Parameters<InMemorySessionTaskRegistry['create']>) {
        await creating.passed
        return super.create(...args)
      }
    }
    const clock = createManualClock()
    const { supervisor, calls } = adversary({
      registry: new SlowCreate({ now: clock.now }),
      clock,
    })
    const controller = new AbortController()
    const spawning = supervisor.spawn(jobInput(), { signal: controller.signal, timeoutMs: 500 })
    await flush()
    await supervisor.close()
    creating.open()
    const task = await spawning
    expect(task.state).toBe('queued')
    expect(calls.starts).toEqual([])
    expect(abortListeners(controller.signal)).toBe(0)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('[Symbol.asyncDispose] while a start is in flight aborts it with kind closed', async () => {
    const started = gate()
    const { supervisor, calls, clock } = adversary({
      start: async (_t, ctx) => {
        await ctx.sink.state('running')
        started.open()
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
      },
    })
    const spawning = supervisor.spawn(jobInput())
    await started.passed
    const disposing = supervisor[Symbol.asyncDispose]()
    clock.advance(1000)
    await disposing
    await spawning
    expect((reasonSeen(calls.starts[0]) as TaskAbortReason).kind).toBe('closed')
  })

  // A SIGTERM handler racing `await using` calls close() twice: the second
  // must not settle before the first has released everything.
  it('a second close() settles only once the first has finished', async () => {
    const { supervisor, clock } = adversary({ ignoreCancel: true })
    await supervisor.spawn(jobInput())
    const first = track(supervisor.close())
    const second = track(supervisor[Symbol.asyncDispose]())
    await flush()
    expect(first.settled).toBe(false)
    expect(second.settled).toBe(false)
    clock.advance(1000)
    await flush()
    expect(first.settled).toBe(true)
  })
})

describe('message with a signal', () => {
  // An earlier delivery that never returns must not hold an aborted
  // message that queues behind it.
  it('rejects as soon as it is aborted while queued behind a delivery that hangs', async () => {
    const { supervisor } = adversary({ deliver: () => new Promise<void>(() => {}) })
    const task = await supervisor.spawn(jobInput())
    void supervisor.message('s1', task.id, { text: 'first' })
    const controller = new AbortController()
    const second = track(
      supervisor.message('s1', task.id, { text: 'second' }, { signal: controller.signal }),
    )
    await flush()
    controller.abort(new Error('give up'))
    await flush()
    expect(second.settled).toBe(true)
    expect((second.error as Error).message).toBe('give up')
  })

  // The signal is checked right before the message is recorded, not only
  // before the read that precedes it.
  it('records nothing when the signal aborts during the read before recording', async () => {
    const controller = new AbortController()
    let armed = false
    class AbortOnGet extends InMemorySessionTaskRegistry {
      override async get(sessionId: string, taskId: string) {
        if (armed) {
          armed = false
          controller.abort(new Error('gone'))
        }
        return super.get(sessionId, taskId)
      }
    }
    const clock = createManualClock()
    const registry = new AbortOnGet({ now: clock.now })
    const { supervisor } = adversary({ registry, clock })
    const task = await supervisor.spawn(jobInput())
    armed = true
    const sending = supervisor.message('s1', task.id, { text: 'hi' }, { signal: controller.signal })
    await expect(sending).rejects.toThrow('gone')
    expect(await registry.listMessages('s1', task.id)).toEqual([])
  })
})

describe('cancel with a hostile reason', () => {
  it.each([
    ['a number', 42],
    ['an object', { toString: () => 'x' }],
    ['an empty string', ''],
    ['a lone surrogate', '\uDC00 tail'],
  ])('rejects %s with a ValidationError naming reason, recording nothing', async (_l, reason) => {
    const { supervisor, read, calls } = adversary()
    const task = await supervisor.spawn(jobInput())
    const error = await supervisor
      .cancel('s1', task.id, { reason } as never)
      .catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    expect((error as Error).message).toContain('CancelOptions: reason')
    expect((await read(task.id)).cancelRequestedAt).toBeUndefined()
    expect(calls.cancels).toEqual([])
  })

  it('takes a 1 MB reason with NUL and emoji, whole, to the executor and to the detail', async () => {
    const { supervisor, read, calls } = adversary({ supervisor: { concurrency: { global: 1 } } })
    const running = await supervisor.spawn(jobInput())
    const queued = await supervisor.spawn(jobInput())
    const reason = `a\u0000b😀${'r'.repeat(1 << 20)}`
    // The queued one first: canceling the running one frees its slot.
    await supervisor.cancel('s1', queued.id, { reason })
    await supervisor.cancel('s1', running.id, { reason })
    // Compared as booleans: a failure must not print a megabyte.
    expect(reasonSeen(calls.cancels[0]).message === reason).toBe(true)
    const detail = (await read(queued.id)).stateDetail
    expect(detail === `canceled before it started: ${reason}`).toBe(true)
  })

  it('keeps the first reason when canceled twice with different reasons', async () => {
    const { supervisor, calls } = adversary({ ignoreCancel: true })
    const task = await supervisor.spawn(jobInput())
    await supervisor.cancel('s1', task.id, { reason: 'first' })
    await supervisor.cancel('s1', task.id, { reason: 'second' })
    expect(calls.cancels).toHaveLength(1)
    expect(reasonSeen(calls.cancels[0]).message).toBe('first')
  })

  it('rejects with an already aborted signal, recording nothing', async () => {
    const { supervisor, read } = adversary()
    const task = await supervisor.spawn(jobInput())
    await expect(
      supervisor.cancel('s1', task.id, { reason: 'r', signal: AbortSignal.abort('no') }),
    ).rejects.toBe('no')
    expect((await read(task.id)).cancelRequestedAt).toBeUndefined()
  })

  it('answers undefined for an unknown task with a reason, holding nothing for it', async () => {
    const { supervisor } = adversary()
    expect(await supervisor.cancel('s1', 'task_nope', { reason: 'why' })).toBeUndefined()
  })
})
