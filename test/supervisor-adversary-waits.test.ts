import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  isTaskNotFoundError,
  isValidationError,
  type TaskRef,
  UnsupportedOperationError,
} from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import {
  abortListeners,
  adversary,
  closeOpened,
  droppingRegistry,
  flush,
  jobInput,
  track,
} from './fixtures/adversary.js'
import { CountingRegistry } from './fixtures/counting-registry.js'

// Adversarial checks of supervisor.waitAny and waitAll (src/execution/wait.ts):
// huge lists, tasks and sessions deleted mid-wait, lost events, odd
// timeouts, signals, and waits left pending across close().

afterEach(closeOpened)

/** A counting registry that also counts reads. */
class ReadCountingRegistry extends CountingRegistry {
  reads = 0
  override get(sessionId: string, taskId: string) {
    this.reads++
    return super.get(sessionId, taskId)
  }
}

/** A supervisor whose `job` tasks go running and are then driven by the test. */
function setup() {
  const clock = createManualClock()
  const registry = new ReadCountingRegistry({ now: clock.now })
  const made = adversary({ registry, clock })
  const baseline = registry.live
  const spawn = async (sessionId = 's1'): Promise<TaskRef> => {
    const task = await made.supervisor.spawn(jobInput({ sessionId }))
    return { sessionId: task.sessionId, taskId: task.id }
  }
  const finish = (ref: TaskRef, state: 'succeeded' | 'failed' = 'succeeded') =>
    registry.update(ref.sessionId, ref.taskId, { state })
  const leftovers = () => ({ listeners: registry.live - baseline, timers: clock.pendingTimers() })
  return { ...made, registry, spawn, finish, leftovers }
}

describe('a wait over 10,000 tasks', () => {
  it('waitAll resolves, reads each task a bounded number of times, and releases everything', async () => {
    const { supervisor, registry, spawn, finish, leftovers } = setup()
    const refs: TaskRef[] = []
    for (let i = 0; i < 10_000; i++) refs.push(await spawn())
    registry.reads = 0
    const waiting = track(supervisor.waitAll(refs, { timeoutMs: 60_000 }))
    await flush()
    const started = performance.now()
    for (const ref of refs) await finish(ref)
    await flush()
    const elapsed = performance.now() - started
    expect(waiting.value?.timedOut).toBe(false)
    expect(waiting.value?.tasks).toHaveLength(10_000)
    // One initial read and one final read per task; no read per event.
    expect(registry.reads).toBeLessThanOrEqual(2 * refs.length)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
    // Generous: the per-event `every` scan is O(n), 10k events in order ~5e7 steps.
    expect(elapsed).toBeLessThan(10_000)
  })

  it('waitAny ignores 10,000 non-matching updates, then resolves on the last task', async () => {
    const { supervisor, registry, spawn, finish, leftovers } = setup()
    const refs: TaskRef[] = []
    for (let i = 0; i < 10_000; i++) refs.push(await spawn())
    const waiting = track(supervisor.waitAny(refs))
    await flush()
    for (const ref of refs) {
      await registry.update(ref.sessionId, ref.taskId, { progress: { current: 1, total: 2 } })
    }
    expect(waiting.settled).toBe(false)
    const last = refs[refs.length - 1] as TaskRef
    await finish(last)
    await flush()
    expect(waiting.value?.timedOut).toBe(false)
    expect(waiting.value?.timedOut === false && waiting.value.index).toBe(9_999)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('an abort of a wait over 10,000 tasks in 10,000 sessions detaches every listener', async () => {
    const { supervisor, spawn, leftovers } = setup()
    const refs: TaskRef[] = []
    for (let i = 0; i < 10_000; i++) refs.push(await spawn(`s${i}`))
    const controller = new AbortController()
    const waiting = supervisor.waitAll(refs, { signal: controller.signal, timeoutMs: 5000 })
    await flush()
    controller.abort(new Error('enough'))
    await expect(waiting).rejects.toThrow('enough')
    expect(abortListeners(controller.signal)).toBe(0)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })
})

describe('a wait whose tasks go away', () => {
  it('waitAll rejects when a task that already finished is deleted mid-wait', async () => {
    const { supervisor, registry, spawn, finish, leftovers } = setup()
    const [a, b] = [await spawn(), await spawn()] as [TaskRef, TaskRef]
    await finish(a)
    const waiting = track(supervisor.waitAll([a, b], { timeoutMs: 1000 }))
    await flush()
    await registry.delete(a.sessionId, a.taskId)
    await flush()
    expect(isTaskNotFoundError(waiting.error)).toBe(true)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('waitAny rejects when the session of one task is deleted, though another session is live', async () => {
    const { supervisor, registry, spawn, leftovers } = setup()
    const a = await spawn('gone')
    const b = await spawn('kept')
    const waiting = track(supervisor.waitAny([b, a]))
    await flush()
    await registry.deleteSession('gone')
    await flush()
    expect(isTaskNotFoundError(waiting.error)).toBe(true)
    expect((waiting.error as Error).message).toContain("session 'gone'")
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('rejects when the task was deleted and its event lost in a gap', async () => {
    const clock = createManualClock()
    const { store, registry } = droppingRegistry(clock)
    const { supervisor } = adversary({ registry, clock })
    const task = await supervisor.spawn(jobInput())
    const other = await supervisor.spawn(jobInput())
    const ref = { sessionId: 's1', taskId: task.id }
    const waiting = track(
      supervisor.waitAll([ref, { sessionId: 's1', taskId: other.id }], { timeoutMs: 100 }),
    )
    await flush()
    store.losing = true
    await registry.delete('s1', task.id)
    store.report('s1')
    await flush()
    expect(isTaskNotFoundError(waiting.error)).toBe(true)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('resolves on a gap when the awaited transition was lost, and ignores gaps of other sessions', async () => {
    const clock = createManualClock()
    const { store, registry } = droppingRegistry(clock)
    const { supervisor } = adversary({ registry, clock })
    const task = await supervisor.spawn(jobInput())
    const waiting = track(supervisor.waitAny([{ sessionId: 's1', taskId: task.id }]))
    await flush()
    store.losing = true
    await registry.update('s1', task.id, { state: 'succeeded' })
    store.gapIn('elsewhere')
    await flush()
    expect(waiting.settled).toBe(false)
    store.report('s1')
    await flush()
    expect(waiting.value?.timedOut === false && waiting.value.task.state).toBe('succeeded')
  })
})

describe('wait timeouts and signals', () => {
  it.each([
    ['0', 0],
    ['a negative number', -1],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe integer', 2 ** 60],
    ['a string', '100'],
  ])('rejects timeoutMs %s with a ValidationError, attaching nothing', async (_l, timeoutMs) => {
    const { supervisor, spawn, leftovers } = setup()
    const ref = await spawn()
    for (const wait of [
      () => supervisor.waitAny([ref], { timeoutMs } as never),
      () => supervisor.waitAll([ref], { timeoutMs } as never),
    ]) {
      const error = await wait().catch((e: unknown) => e)
      expect(isValidationError(error)).toBe(true)
      expect((error as Error).message).toContain('WaitOptions: timeoutMs')
    }
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('a timeout of Number.MAX_SAFE_INTEGER does not fire early on the manual clock', async () => {
    const { supervisor, spawn, clock, leftovers } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.waitAll([ref], { timeoutMs: Number.MAX_SAFE_INTEGER }))
    clock.advance(2 ** 31)
    clock.advance(365 * 24 * 3600 * 1000)
    await flush()
    expect(waiting.settled).toBe(false)
    clock.advance(Number.MAX_SAFE_INTEGER)
    await flush()
    expect(waiting.value?.timedOut).toBe(true)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('a timeout past 2^31-1 ms does not fire early on the platform timers', async () => {
    vi.useFakeTimers()
    try {
      const registry = new CountingRegistry()
      const { supervisor } = adversary({ registry, supervisor: { timers: undefined } })
      const task = await supervisor.spawn(jobInput())
      const waiting = track(
        supervisor.waitAny([{ sessionId: 's1', taskId: task.id }], { timeoutMs: 2 ** 31 + 10 }),
      )
      await vi.advanceTimersByTimeAsync(2 ** 31 - 1)
      expect(waiting.settled).toBe(false)
      await vi.advanceTimersByTimeAsync(20)
      expect(waiting.value?.timedOut).toBe(true)
      // close() waits out its grace on the (faked) platform timers.
      const closing = supervisor.close()
      await vi.advanceTimersByTimeAsync(1000)
      await closing
    } finally {
      vi.useRealTimers()
    }
  })

  it('an aborted signal wins over refs that already match, attaching nothing', async () => {
    const { supervisor, spawn, finish, leftovers } = setup()
    const ref = await spawn()
    await finish(ref)
    const signal = AbortSignal.abort(new Error('aborted first'))
    await expect(supervisor.waitAny([ref], { signal })).rejects.toThrow('aborted first')
    expect(abortListeners(signal)).toBe(0)
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })

  it('a signal aborted with undefined rejects with the DOMException AbortError', async () => {
    const { supervisor, spawn } = setup()
    const ref = await spawn()
    const controller = new AbortController()
    const waiting = supervisor.waitAll([ref], { signal: controller.signal })
    controller.abort()
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('a timeout and a terminal event at the same instant settle once', async () => {
    const { supervisor, spawn, clock, registry, leftovers } = setup()
    const ref = await spawn()
    const waiting = supervisor.waitAny([ref], { timeoutMs: 100 })
    await flush()
    const finishing = registry.update(ref.sessionId, ref.taskId, { state: 'succeeded' })
    clock.advance(100)
    await finishing
    const result = await waiting
    expect(result.tasks[0]?.state).toBe('succeeded')
    expect(leftovers()).toEqual({ listeners: 0, timers: 0 })
  })
})

describe('a wait racing the records it reads', () => {
  // A question answered while the result is read must not come back as a
  // match: the README's `if (task.state === 'awaiting_input')` would skip it.
  it("waitAny with until 'settled' never resolves with a task that no longer matches", async () => {
    let gate: Promise<void> | undefined
    class SlowReads extends CountingRegistry {
      override async get(sessionId: string, taskId: string) {
        if (gate !== undefined) await gate
        return super.get(sessionId, taskId)
      }
    }
    const clock = createManualClock()
    const registry = new SlowReads({ now: clock.now })
    const { supervisor } = adversary({ registry, clock })
    const task = await supervisor.spawn(jobInput())
    const waiting = track(
      supervisor.waitAny([{ sessionId: 's1', taskId: task.id }], { until: 'settled' }),
    )
    await flush()
    let open = () => {}
    gate = new Promise<void>((resolve) => {
      open = resolve
    })
    await registry.update('s1', task.id, { inputRequest: { id: 'q1', prompt: 'Which?' } })
    await registry.update('s1', task.id, { state: 'running' })
    gate = undefined
    open()
    await flush()
    // Still waiting is fine; resolved, the task must match what was asked.
    const seen = waiting.value?.timedOut === false ? waiting.value.task.state : 'still waiting'
    expect(['still waiting', 'awaiting_input', 'succeeded', 'failed', 'canceled']).toContain(seen)
  })

  // A timer source that throws must not leave the wait's listeners attached.
  it('releases its listeners when the timer source throws', async () => {
    const clock = createManualClock()
    const registry = new CountingRegistry({ now: clock.now })
    // Only the wait's 10 ms timeout is refused; the supervisor's own timers work.
    const timers = {
      startTimer: (delayMs: number, fire: () => void) => {
        if (delayMs === 10) throw new RangeError('delay too large for this timer source')
        return clock.startTimer(delayMs, fire)
      },
    }
    const { supervisor } = adversary({ registry, clock, supervisor: { timers } })
    const task = await supervisor.spawn(jobInput())
    const baseline = registry.live
    await expect(
      supervisor.waitAny([{ sessionId: 's1', taskId: task.id }], { timeoutMs: 10 }),
    ).rejects.toThrow('delay too large')
    expect(registry.live).toBe(baseline)
  })
})

describe('waits left pending while the supervisor closes', () => {
  // SPEC 9: close() clears all timers and listeners, including those of
  // pending waits; the tasks they wait on will not move here any more, so
  // those waits reject with UnsupportedOperationError.
  it('a waitAll with no timeout settles when close() runs', async () => {
    const { supervisor, spawn, clock } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.waitAll([ref]))
    await flush()
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    await flush()
    expect(waiting.settled).toBe(true)
  })

  it('close() leaves no wait timer or registry listener armed', async () => {
    const { supervisor, spawn, clock, registry } = setup()
    const ref = await spawn()
    void supervisor.waitAny([ref], { timeoutMs: 60_000 }).catch(() => {})
    await flush()
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    expect({ listeners: registry.live, timers: clock.pendingTimers() }).toEqual({
      listeners: 0,
      timers: 0,
    })
  })

  it('a wait with a timeout pending at close() rejects then, its timer released', async () => {
    const { supervisor, spawn, clock } = setup()
    const ref = await spawn()
    const waiting = track(supervisor.waitAny([ref], { timeoutMs: 5000 }))
    await flush()
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    await flush()
    expect(waiting.settled).toBe(true)
    expect(waiting.error).toBeInstanceOf(UnsupportedOperationError)
    expect(clock.pendingTimers()).toBe(0)
  })

  // As spawn and reap do, a closed supervisor refuses new waits: nothing it
  // ran will move any more, so a wait there could hang.
  it('a closed supervisor refuses a new wait, naming the reason', async () => {
    const { supervisor, spawn, clock } = setup()
    const ref = await spawn()
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    await expect(supervisor.waitAny([ref])).rejects.toThrow(UnsupportedOperationError)
    await expect(supervisor.wait(ref.sessionId, ref.taskId)).rejects.toThrow('closed')
  })
})
