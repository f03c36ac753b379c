import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTaskSupervisor,
  InMemoryTaskStore,
  isTaskNotFoundError,
  isValidationError,
  type SessionTask,
  SessionTaskRegistryCore,
  type SessionTaskUpdate,
  type StoreEventSink,
  TaskExecutorRegistry,
  type TaskRef,
  type TaskSupervisor,
} from '../src/index.js'
import { createManualClock, type ManualClock } from '../src/testing/index.js'
import { track } from './fixtures/adversary.js'
import { CountingRegistry } from './fixtures/counting-registry.js'

// supervisor.wait, waitAny and waitAll (src/execution/wait.ts): event
// driven, with a timeout on the supervisor's timers (a manual clock here),
// and nothing left attached once they settle.

const open: { supervisor: TaskSupervisor; clock: ManualClock }[] = []

afterEach(async () => {
  for (const { supervisor, clock } of open.splice(0)) {
    // close() waits (up to cancelGraceMs, on the manual clock) for the running tasks.
    const closing = supervisor.close()
    clock.advance(5000)
    await closing
  }
})

/** A supervisor on a manual clock whose `manual` tasks go running and are then driven by the test. */
function setup() {
  const clock = createManualClock()
  const registry = new CountingRegistry({ now: clock.now })
  const executors = new TaskExecutorRegistry()
  executors.register({
    kind: 'manual',
    executor: () => ({
      kind: 'manual',
      start: (_task, ctx) => ctx.sink.state('running'),
      deliver: async () => {},
      cancel: async () => {},
    }),
  })
  const supervisor = createTaskSupervisor({ registry, executors, timers: clock, onError: () => {} })
  open.push({ supervisor, clock })
  // The supervisor's own listeners: what a settled wait must leave behind.
  const baseline = registry.live
  const spawn = async (sessionId = 's1', extra: { spec?: unknown } = {}) => {
    const task = await supervisor.spawn({
      sessionId,
      kind: 'manual',
      displayName: 'Manual',
      ...(extra.spec === undefined ? {} : { spec: extra.spec as null }),
    })
    return { sessionId: task.sessionId, taskId: task.id }
  }
  const set = (ref: TaskRef, update: SessionTaskUpdate) =>
    registry.update(ref.sessionId, ref.taskId, update)
  const leftovers = () => ({ listeners: registry.live - baseline, timers: clock.pendingTimers() })
  return { clock, registry, supervisor, spawn, set, leftovers }
}

/** Lets pending promise chains run (no time passes). */
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

const question = { inputRequest: { id: 'q1', prompt: 'Which branch?' } }

describe('supervisor.wait defaults', () => {
  it('waits for a terminal state with no timeout when given no options', async () => {
    const { supervisor, spawn, set, clock, leftovers } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.wait(ref.sessionId, ref.taskId))
    await flush()
    expect(clock.pendingTimers()).toBe(0)
    clock.advance(365 * 24 * 60 * 60 * 1000)
    await flush()
    expect(waiting.settled).toBe(false)
    await set(ref, { state: 'succeeded' })
    await flush()
    expect(waiting.value?.timedOut).toBe(false)
    expect(waiting.value?.task.state).toBe('succeeded')
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it("keeps waiting past awaiting_input with until 'terminal' (the default)", async () => {
    const { supervisor, spawn, set } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.wait(ref.sessionId, ref.taskId))
    await set(ref, question)
    await flush()
    expect(waiting.settled).toBe(false)
    await supervisor.message(ref.sessionId, ref.taskId, { text: 'main', inReplyTo: 'q1' })
    await flush()
    expect(waiting.settled).toBe(false)
    await set(ref, { state: 'succeeded', summary: 'merged' })
    await flush()
    expect(waiting.value?.task).toMatchObject({ state: 'succeeded', summary: 'merged' })
  })

  it("resolves with until 'settled' when a human-in-the-loop task asks for input", async () => {
    const { supervisor, spawn, set } = setup()
    const ref = await spawn()
    const waiting = supervisor.wait(ref.sessionId, ref.taskId, { until: 'settled' })
    await set(ref, question)
    const { task, timedOut } = await waiting
    expect(timedOut).toBe(false)
    expect(task.state).toBe('awaiting_input')
    expect(task.inputRequest).toEqual(question.inputRequest)
  })

  it("resolves at once with until 'settled' for a task already awaiting input", async () => {
    const { supervisor, spawn, set } = setup()
    const ref = await spawn()
    await set(ref, question)
    const { task } = await supervisor.wait(ref.sessionId, ref.taskId, { until: 'settled' })
    expect(task.state).toBe('awaiting_input')
  })

  it('times out on the supervisor timers and leaves nothing behind', async () => {
    const { supervisor, spawn, clock, leftovers } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.wait(ref.sessionId, ref.taskId, { timeoutMs: 1000 }))
    await flush()
    clock.advance(999)
    await flush()
    expect(waiting.settled).toBe(false)
    clock.advance(1)
    await flush()
    expect(waiting.value).toMatchObject({ timedOut: true, task: { state: 'running' } })
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })
})

describe('supervisor.waitAny', () => {
  it('resolves with the first task to finish, its index and every fresh record', async () => {
    const { supervisor, spawn, set, leftovers } = setup()
    const refs = [await spawn(), await spawn(), await spawn()]
    const waiting = supervisor.waitAny(refs)
    await flush()
    await set(refs[1] as TaskRef, { state: 'failed', error: { kind: 'boom', message: 'no' } })
    const result = await waiting
    expect(result.timedOut).toBe(false)
    expect(result.index).toBe(1)
    expect(result.task?.id).toBe(refs[1]?.taskId)
    expect(result.task?.state).toBe('failed')
    expect(result.tasks.map((t) => t.state)).toEqual(['running', 'failed', 'running'])
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('picks the lowest index among tasks that already match', async () => {
    const { supervisor, spawn, set } = setup()
    const refs = [await spawn(), await spawn(), await spawn()]
    await set(refs[2] as TaskRef, { state: 'succeeded' })
    await set(refs[1] as TaskRef, { state: 'canceled' })
    const result = await supervisor.waitAny(refs)
    expect(result.index).toBe(1)
    expect(result.task?.state).toBe('canceled')
  })

  it("with until 'settled' resolves when one task asks for input", async () => {
    const { supervisor, spawn, set } = setup()
    const refs = [await spawn(), await spawn()]
    const waiting = supervisor.waitAny(refs, { until: 'settled' })
    await set(refs[1] as TaskRef, question)
    const result = await waiting
    expect(result.index).toBe(1)
    expect(result.task?.state).toBe('awaiting_input')
  })

  it('watches tasks of several sessions', async () => {
    const { supervisor, spawn, set } = setup()
    const refs = [await spawn('a'), await spawn('b')]
    const waiting = supervisor.waitAny(refs)
    await set(refs[1] as TaskRef, { state: 'succeeded' })
    expect((await waiting).task?.sessionId).toBe('b')
  })

  it('resolves with timedOut and only the records when nothing matched in time', async () => {
    const { supervisor, spawn, clock, leftovers } = setup()
    const refs = [await spawn(), await spawn()]
    const waiting = track(supervisor.waitAny(refs, { timeoutMs: 500 }))
    await flush()
    clock.advance(500)
    await flush()
    expect(waiting.value).toEqual({
      timedOut: true,
      tasks: [expect.objectContaining({ state: 'running' }), expect.anything()],
    })
    expect(waiting.value?.task).toBeUndefined()
    expect(waiting.value?.index).toBeUndefined()
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('resolves with full records, not the public projection events carry', async () => {
    const { supervisor, spawn, set } = setup()
    const spec = { push_configs: [{ url: 'https://example.com/hook', secret: 'shh' }] }
    const ref = await spawn('s1', { spec })
    const waiting = supervisor.waitAny([ref])
    await set(ref, { state: 'succeeded' })
    expect((await waiting).task?.spec).toEqual(spec)
  })

  it('rejects with TaskNotFoundError for an unknown task and leaves nothing behind', async () => {
    const { supervisor, spawn, leftovers } = setup()
    const known = await spawn()
    const error = await supervisor
      .waitAny([known, { sessionId: 's1', taskId: 'task_nope' }])
      .catch((e: unknown) => e)
    expect(isTaskNotFoundError(error)).toBe(true)
    expect((error as Error).message).toBe("task 'task_nope' not found in session 's1'")
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('rejects when a task it waits on is deleted', async () => {
    const { supervisor, spawn, registry, leftovers } = setup()
    const refs = [await spawn(), await spawn()]
    const waiting = supervisor.waitAny(refs, { timeoutMs: 10_000 })
    await flush()
    await registry.delete(refs[0]?.sessionId as string, refs[0]?.taskId as string)
    await expect(waiting).rejects.toSatisfy(isTaskNotFoundError)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('rejects when the session of a task is deleted', async () => {
    const { supervisor, spawn, registry } = setup()
    const refs = [await spawn('a'), await spawn('b')]
    const waiting = supervisor.waitAny(refs)
    await flush()
    await registry.deleteSession('b')
    await expect(waiting).rejects.toThrow(/was deleted with session 'b'/)
  })

  it('rejects with the reason when its signal aborts, and detaches from the signal', async () => {
    const { supervisor, spawn, leftovers } = setup()
    const refs = [await spawn(), await spawn()]
    const controller = new AbortController()
    const waiting = supervisor.waitAny(refs, { signal: controller.signal, timeoutMs: 60_000 })
    await flush()
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    const reason = new Error('turn aborted')
    controller.abort(reason)
    await expect(waiting).rejects.toBe(reason)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('rejects at once with an already aborted signal, attaching nothing', async () => {
    const { supervisor, spawn, leftovers } = setup()
    const ref = await spawn()
    const signal = AbortSignal.abort('gone')
    await expect(supervisor.waitAny([ref], { signal })).rejects.toBe('gone')
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('detaches from a long-lived signal once it resolves', async () => {
    const { supervisor, spawn, set } = setup()
    const controller = new AbortController()
    for (let i = 0; i < 3; i++) {
      const ref = await spawn()
      const waiting = supervisor.waitAny([ref], { signal: controller.signal })
      await set(ref, { state: 'succeeded' })
      await waiting
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })
})

describe('supervisor.waitAll', () => {
  it('resolves once every task is terminal, records in refs order', async () => {
    const { supervisor, spawn, set, leftovers } = setup()
    const refs = [await spawn(), await spawn('other'), await spawn()]
    const waiting = track(supervisor.waitAll(refs))
    await set(refs[2] as TaskRef, { state: 'succeeded' })
    await set(refs[0] as TaskRef, { state: 'failed', error: { kind: 'x', message: 'y' } })
    await flush()
    expect(waiting.settled).toBe(false)
    await set(refs[1] as TaskRef, { state: 'canceled' })
    await flush()
    expect(waiting.value?.timedOut).toBe(false)
    expect(waiting.value?.tasks.map((t: SessionTask) => [t.id, t.state])).toEqual([
      [refs[0]?.taskId, 'failed'],
      [refs[1]?.taskId, 'canceled'],
      [refs[2]?.taskId, 'succeeded'],
    ])
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('resolves at once when every task already matches', async () => {
    const { supervisor, spawn, set } = setup()
    const refs = [await spawn(), await spawn()]
    for (const ref of refs) await set(ref, { state: 'succeeded' })
    const result = await supervisor.waitAll(refs)
    expect(result.tasks.map((t) => t.state)).toEqual(['succeeded', 'succeeded'])
  })

  it("with until 'settled' waits again for a task that was answered and resumed", async () => {
    const { supervisor, spawn, set } = setup()
    const refs = [await spawn(), await spawn()]
    const waiting = track(supervisor.waitAll(refs, { until: 'settled' }))
    await set(refs[0] as TaskRef, question)
    await supervisor.message(refs[0]?.sessionId as string, refs[0]?.taskId as string, {
      text: 'main',
      inReplyTo: 'q1',
    })
    await set(refs[1] as TaskRef, { state: 'succeeded' })
    await flush()
    // The first task runs again: not every task is settled at once.
    expect(waiting.settled).toBe(false)
    await set(refs[0] as TaskRef, { inputRequest: { id: 'q2', prompt: 'Ship it?' } })
    await flush()
    expect(waiting.value?.tasks.map((t: SessionTask) => t.state)).toEqual([
      'awaiting_input',
      'succeeded',
    ])
  })

  it('times out with the current records', async () => {
    const { supervisor, spawn, set, clock, leftovers } = setup()
    const refs = [await spawn(), await spawn()]
    const waiting = track(supervisor.waitAll(refs, { timeoutMs: 2000 }))
    await set(refs[0] as TaskRef, { state: 'succeeded' })
    clock.advance(2000)
    await flush()
    expect(waiting.value?.timedOut).toBe(true)
    expect(waiting.value?.tasks.map((t: SessionTask) => t.state)).toEqual(['succeeded', 'running'])
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('rejects when one task is unknown, before any other finishes', async () => {
    const { supervisor, spawn } = setup()
    const error = await supervisor
      .waitAll([await spawn(), { sessionId: 'elsewhere', taskId: 'task_x' }])
      .catch((e: unknown) => e)
    expect((error as Error).message).toBe("task 'task_x' not found in session 'elsewhere'")
  })
})

/** A store that drops the events it would deliver while `losing`, then reports them as a gap. */
class LossyStore extends InMemoryTaskStore {
  losing = false
  private out: StoreEventSink | undefined
  private lost: number[] = []

  override attach(sink: StoreEventSink): void {
    this.out = sink
    super.attach({
      deliver: (sessionId, events) => {
        if (!this.losing) return sink.deliver(sessionId, events)
        for (const e of events) this.lost.push(e.seq)
      },
      deleted: (sessionId) => sink.deleted(sessionId),
      gap: (gap) => sink.gap(gap),
    })
  }

  report(sessionId: string): void {
    this.losing = false
    const gap = { sessionId, after: Math.min(...this.lost) - 1, through: Math.max(...this.lost) }
    this.lost = []
    this.out?.gap(gap)
  }
}

describe('waits across lost events', () => {
  it('waitAll reads the tasks of a session again after an event gap', async () => {
    const store = new LossyStore()
    const registry = new SessionTaskRegistryCore(store, { onEventGap: () => {} })
    const supervisor = createTaskSupervisor({ registry, executors: new TaskExecutorRegistry() })
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      ids.push((await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })).id)
    }
    const refs = ids.map((taskId) => ({ sessionId: 's', taskId }))
    const waiting = track(supervisor.waitAll(refs))
    await flush()
    store.losing = true
    for (const id of ids) await registry.update('s', id, { state: 'succeeded' })
    await flush()
    expect(waiting.settled).toBe(false)
    store.report('s')
    await flush()
    expect(waiting.value?.tasks.map((t: SessionTask) => t.state)).toEqual([
      'succeeded',
      'succeeded',
    ])
    await supervisor.close()
  })
})

describe('waitAny and waitAll input', () => {
  it.each([
    ['an empty list', [], 'invalid waitAny: refs: must list at least one task'],
    ['a missing taskId', [{ sessionId: 's1' }], 'invalid waitAny: refs[0].taskId:'],
    ['an empty sessionId', [{ sessionId: '', taskId: 't' }], 'invalid waitAny: refs[0].sessionId:'],
    [
      'an unknown field',
      [{ sessionId: 's', taskId: 't', state: 'running' }],
      'refs[0].state: is not a known field',
    ],
    [
      'a task listed twice',
      [
        { sessionId: 's', taskId: 't' },
        { sessionId: 's', taskId: 'u' },
        { sessionId: 's', taskId: 't' },
      ],
      'invalid waitAny: refs[2]: repeats refs[0]',
    ],
    ['not a list', 's/t', 'invalid waitAny: refs:'],
  ])('rejects %s with a ValidationError naming the field', async (_label, refs, text) => {
    const { supervisor, leftovers } = setup()
    const error = await supervisor.waitAny(refs as TaskRef[]).catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    expect((error as Error).message).toContain(text)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('names waitAll in its errors, and checks the options like wait', async () => {
    const { supervisor, spawn } = setup()
    await expect(supervisor.waitAll([])).rejects.toThrow(
      'invalid waitAll: refs: must list at least one task',
    )
    await expect(supervisor.waitAll([await spawn()], { timeoutMs: 0 } as never)).rejects.toThrow(
      'invalid WaitOptions: timeoutMs: must be a positive integer',
    )
  })
})
