import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isValidationError,
  type SessionTask,
  TaskAbortReason,
  type TaskExecutionContext,
  type TaskExecutor,
  TaskExecutorRegistry,
  type TaskSupervisor,
  type TaskSupervisorOptions,
} from '../src/index.js'
import { createManualClock, type ManualClock } from '../src/testing/index.js'

// AbortSignals on spawn, message and cancel, and cancel's reason
// (src/execution/supervisor.ts, spawn-signals.ts, cancellation.ts).

const open: { supervisor: TaskSupervisor; clock: ManualClock }[] = []

afterEach(async () => {
  for (const { supervisor, clock } of open.splice(0)) {
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
  }
})

type Seen = { task: SessionTask; ctx: TaskExecutionContext }

/** A deferred promise: a step the test lets through. */
function gate() {
  let release = () => {}
  const passed = new Promise<void>((resolve) => {
    release = resolve
  })
  return { passed, release }
}

/**
 * A supervisor whose `job` executor goes running, records every call, and
 * ends `canceled` when canceled (unless `ignoreCancel`).
 */
function setup(
  options: Partial<TaskSupervisorOptions> & {
    ignoreCancel?: boolean
    start?: TaskExecutor['start']
    deliver?: TaskExecutor['deliver']
  } = {},
) {
  const { ignoreCancel, start, deliver, ...rest } = options
  const clock = createManualClock()
  const registry = new InMemorySessionTaskRegistry({ now: clock.now })
  const executors = new TaskExecutorRegistry()
  const starts: Seen[] = []
  const cancels: Seen[] = []
  const delivered: string[] = []
  executors.register({
    kind: 'job',
    executor: () => ({
      kind: 'job',
      async start(task, ctx) {
        starts.push({ task, ctx })
        if (start !== undefined) await start(task, ctx)
        else await ctx.sink.state('running')
      },
      async deliver(task, message, ctx) {
        delivered.push(message.id)
        await deliver?.(task, message, ctx)
      },
      async cancel(task, ctx) {
        cancels.push({ task, ctx })
        if (ignoreCancel !== true) await ctx.sink.state('canceled', 'stopped')
      },
    }),
  })
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    timers: clock,
    cancelGraceMs: 1000,
    onError: () => {},
    ...rest,
  })
  open.push({ supervisor, clock })
  const input = (extra: { id?: string; sessionId?: string } = {}) => ({
    sessionId: extra.sessionId ?? 's1',
    kind: 'job',
    displayName: 'Job',
    ...(extra.id === undefined ? {} : { id: extra.id }),
  })
  const read = async (taskId: string, sessionId = 's1') =>
    (await registry.get(sessionId, taskId)) as SessionTask
  return { clock, registry, supervisor, starts, cancels, delivered, input, read }
}

/** The abort reason an executor call saw. */
function reasonOf(seen: Seen | undefined): Error {
  if (seen === undefined) throw new Error('the executor was not called')
  return seen.ctx.signal.reason as Error
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length

describe('spawn with a signal', () => {
  it('rejects with the reason of an already aborted signal and creates nothing', async () => {
    const { supervisor, registry, starts, input } = setup()
    const reason = new Error('turn aborted')
    await expect(supervisor.spawn(input(), { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    )
    expect(await registry.list('s1')).toEqual([])
    expect(starts).toEqual([])
  })

  it('cancels the task when the signal aborts after spawn, with the reason as the abort text', async () => {
    const { supervisor, starts, cancels, input, read } = setup()
    const controller = new AbortController()
    const task = await supervisor.spawn(input(), { signal: controller.signal })
    expect(task.state).toBe('running')
    controller.abort(new Error('user pressed stop'))
    await flush()
    expect(cancels).toHaveLength(1)
    const reason = starts[0]?.ctx.signal.reason as TaskAbortReason
    expect(reason).toBeInstanceOf(TaskAbortReason)
    expect(reason.kind).toBe('canceled')
    expect(reason.message).toBe('user pressed stop')
    const after = await read(task.id)
    expect(after.state).toBe('canceled')
    expect(after.cancelRequestedAt).toBeDefined()
    expect(abortListeners(controller.signal)).toBe(0)
  })

  it('rejects and cancels the created task when the signal aborts while spawn is in flight', async () => {
    const controller = new AbortController()
    const reason = new Error('aborted during start')
    const { supervisor, registry, cancels, input } = setup({
      start: async (_task, ctx) => {
        await ctx.sink.state('running')
        controller.abort(reason)
      },
    })
    await expect(supervisor.spawn(input(), { signal: controller.signal })).rejects.toBe(reason)
    const [task] = await registry.list('s1')
    expect(task?.state).toBe('canceled')
    expect(cancels).toHaveLength(1)
    expect(reasonOf(cancels[0]).message).toBe('aborted during start')
  })

  it('cancels a task still waiting for a slot, with the reason in its detail', async () => {
    const { supervisor, starts, input, read } = setup({ concurrency: { global: 1 } })
    await supervisor.spawn(input())
    const controller = new AbortController()
    const queued = await supervisor.spawn(input(), { signal: controller.signal })
    expect(queued.state).toBe('queued')
    controller.abort('turn ended')
    await flush()
    const after = await read(queued.id)
    expect(after.state).toBe('canceled')
    expect(after.stateDetail).toBe('canceled before it started: turn ended')
    expect(starts).toHaveLength(1)
  })

  it('lets go of a long-lived signal once each task is terminal', async () => {
    const { supervisor, registry, cancels, input } = setup()
    const session = new AbortController()
    const tasks: SessionTask[] = []
    for (let i = 0; i < 3; i++)
      tasks.push(await supervisor.spawn(input(), { signal: session.signal }))
    // One listener serves every task tied to the signal.
    expect(abortListeners(session.signal)).toBe(1)
    for (const task of tasks.slice(0, 2))
      await registry.update('s1', task.id, { state: 'succeeded' })
    expect(abortListeners(session.signal)).toBe(1)
    await registry.update('s1', (tasks[2] as SessionTask).id, { state: 'succeeded' })
    expect(abortListeners(session.signal)).toBe(0)
    session.abort()
    await flush()
    expect(cancels).toEqual([])
  })

  it('does not tie an existing task (a caller id seen before) to the signal', async () => {
    const { supervisor, cancels, input, read } = setup()
    await supervisor.spawn(input({ id: 'build-1' }))
    const controller = new AbortController()
    const again = await supervisor.spawn(input({ id: 'build-1' }), { signal: controller.signal })
    expect(again.id).toBe('build-1')
    expect(abortListeners(controller.signal)).toBe(0)
    controller.abort()
    await flush()
    expect(cancels).toEqual([])
    expect((await read('build-1')).cancelRequestedAt).toBeUndefined()
  })

  it('lets go of the signal when the session is deleted or the supervisor closes', async () => {
    const { supervisor, registry, input, clock } = setup()
    const controller = new AbortController()
    await supervisor.spawn(input({ sessionId: 'a' }), { signal: controller.signal })
    await supervisor.spawn(input({ sessionId: 'b' }), { signal: controller.signal })
    expect(abortListeners(controller.signal)).toBe(1)
    await registry.deleteSession('a')
    // Still held for the task of session b.
    expect(abortListeners(controller.signal)).toBe(1)
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    expect(abortListeners(controller.signal)).toBe(0)
  })

  it('rejects a signal that is not an AbortSignal, naming the field', async () => {
    const { supervisor, registry, input } = setup()
    const error = await supervisor
      .spawn(input(), { signal: { aborted: false } as AbortSignal })
      .catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    expect((error as Error).message).toBe('invalid SpawnOptions: signal: must be an AbortSignal')
    expect(await registry.list('s1')).toEqual([])
  })
})

describe('message with a signal', () => {
  it('rejects with the reason of an already aborted signal and records nothing', async () => {
    const { supervisor, registry, delivered, input } = setup()
    const task = await supervisor.spawn(input())
    await expect(
      supervisor.message('s1', task.id, { text: 'hi' }, { signal: AbortSignal.abort('no') }),
    ).rejects.toBe('no')
    expect(await registry.listMessages('s1', task.id)).toEqual([])
    expect(delivered).toEqual([])
  })

  it('records nothing when aborted while waiting behind an earlier message of the task', async () => {
    const first = gate()
    const { supervisor, registry, input } = setup({ deliver: () => first.passed })
    const task = await supervisor.spawn(input())
    const one = supervisor.message('s1', task.id, { text: 'one' })
    const controller = new AbortController()
    const two = supervisor.message('s1', task.id, { text: 'two' }, { signal: controller.signal })
    await flush()
    controller.abort(new Error('never mind'))
    first.release()
    expect((await one).delivery).toBe('delivered')
    await expect(two).rejects.toThrow('never mind')
    const messages = await registry.listMessages('s1', task.id)
    expect(messages.map((m) => m.content)).toEqual([[{ type: 'text', text: 'one' }]])
  })

  it('delivers a message already recorded when the signal aborts', async () => {
    const delivery = gate()
    const { supervisor, registry, input } = setup({ deliver: () => delivery.passed })
    const task = await supervisor.spawn(input())
    const controller = new AbortController()
    const sent = supervisor.message('s1', task.id, { text: 'go' }, { signal: controller.signal })
    await flush()
    expect(await registry.listMessages('s1', task.id)).toHaveLength(1)
    controller.abort()
    delivery.release()
    expect((await sent).delivery).toBe('delivered')
  })

  it('rejects unknown message options, naming the field', async () => {
    const { supervisor, input } = setup()
    const task = await supervisor.spawn(input())
    await expect(
      supervisor.message('s1', task.id, { text: 'x' }, { timeoutMs: 5 } as never),
    ).rejects.toThrow('invalid MessageOptions: timeoutMs: is not a known field')
  })
})

describe('cancel with a reason and a signal', () => {
  it('hands the reason to the executor as the message of ctx.signal.reason', async () => {
    const { supervisor, cancels, starts, input } = setup()
    const task = await supervisor.spawn(input())
    const after = await supervisor.cancel('s1', task.id, { reason: 'superseded by a newer plan' })
    expect(after?.state).toBe('canceled')
    const reason = starts[0]?.ctx.signal.reason
    expect(reason).toBeInstanceOf(TaskAbortReason)
    expect(reason).toMatchObject({ kind: 'canceled', message: 'superseded by a newer plan' })
    expect(cancels[0]?.ctx.signal.aborted).toBe(true)
  })

  it("keeps the stock abort text ('task canceled') without a reason", async () => {
    const { supervisor, starts, input } = setup()
    const task = await supervisor.spawn(input())
    await supervisor.cancel('s1', task.id)
    expect(reasonOf(starts[0]).message).toBe('task canceled')
  })

  it('puts the reason in the detail when the supervisor ends the task after the grace', async () => {
    const { supervisor, clock, input, read } = setup({ ignoreCancel: true })
    const task = await supervisor.spawn(input())
    const after = await supervisor.cancel('s1', task.id, { reason: 'user closed the tab' })
    expect(after?.state).toBe('running')
    clock.advance(1000)
    await flush()
    const ended = await read(task.id)
    expect(ended.state).toBe('canceled')
    expect(ended.stateDetail).toBe('did not stop within 1000 ms of cancel: user closed the tab')
  })

  it('rejects with the reason of an already aborted signal and records nothing', async () => {
    const { supervisor, cancels, input, read } = setup()
    const task = await supervisor.spawn(input())
    await expect(
      supervisor.cancel('s1', task.id, { signal: AbortSignal.abort('late') }),
    ).rejects.toBe('late')
    expect((await read(task.id)).cancelRequestedAt).toBeUndefined()
    expect(cancels).toEqual([])
  })

  it('rejects an empty reason, naming the field', async () => {
    const { supervisor, input, read } = setup()
    const task = await supervisor.spawn(input())
    await expect(supervisor.cancel('s1', task.id, { reason: '' })).rejects.toThrow(
      'invalid CancelOptions: reason: must not be empty',
    )
    expect((await read(task.id)).cancelRequestedAt).toBeUndefined()
  })

  it("reaches the executor under dispatch: 'shared' too", async () => {
    const { supervisor, starts, input } = setup({ dispatch: 'shared' })
    const task = await supervisor.spawn(input())
    await flush()
    await supervisor.cancel('s1', task.id, { reason: 'shared reason' })
    expect(reasonOf(starts[0]).message).toBe('shared reason')
  })
})
