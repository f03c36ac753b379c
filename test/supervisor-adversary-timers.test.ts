import { afterEach, describe, expect, it } from 'vitest'
import { createManualClock } from '../src/testing/index.js'
import { adversary, closeOpened, flush, jobInput, track } from './fixtures/adversary.js'

// Adversarial checks of the manual clock (src/testing/manual-clock.ts) and
// of a supervisor whose timers it drives (the `timers` option): re-entrant
// moves, bad moves, what close() clears and when it settles.

afterEach(closeOpened)

describe('the manual clock under re-entrant and bad moves', () => {
  // A timer callback that advances the clock past the outer target (a
  // helper that lets time pass) must not be undone by the outer advance.
  it('never moves back when a timer callback advances it further', () => {
    const clock = createManualClock(0)
    clock.startTimer(10, () => clock.advance(100))
    clock.advance(20)
    expect(clock.now().getTime()).toBe(110)
  })

  it('fires a timer armed inside a callback in the same advance when it is due', () => {
    const clock = createManualClock(0)
    const fired: number[] = []
    clock.startTimer(10, () => {
      fired.push(clock.now().getTime())
      clock.startTimer(0, () => fired.push(clock.now().getTime()))
      clock.startTimer(5, () => fired.push(clock.now().getTime()))
    })
    clock.advance(15)
    expect(fired).toEqual([10, 10, 15])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('keeps firing in due order when a callback cancels a later timer', () => {
    const clock = createManualClock(0)
    const fired: string[] = []
    let stopB = () => {}
    clock.startTimer(5, () => {
      fired.push('a')
      stopB()
    })
    stopB = clock.startTimer(6, () => fired.push('b'))
    clock.startTimer(7, () => fired.push('c'))
    clock.advance(10)
    expect(fired).toEqual(['a', 'c'])
  })

  // advance(-5) would move the clock back (set() does that) and NaN would
  // make now() an Invalid Date far from the mistake.
  it('rejects advance(NaN) and advance(-5), changing nothing', () => {
    const clock = createManualClock(1000)
    expect(() => clock.advance(Number.NaN)).toThrow(/ms/)
    expect(() => clock.advance(-5)).toThrow(/ms/)
    expect(clock.now().getTime()).toBe(1000)
  })

  it('a timer with a huge delay stays armed and fires only when reached', () => {
    const clock = createManualClock(0)
    let fired = false
    clock.startTimer(Number.MAX_SAFE_INTEGER, () => {
      fired = true
    })
    clock.advance(2 ** 31)
    expect(fired).toBe(false)
    clock.advance(Number.MAX_SAFE_INTEGER)
    expect(fired).toBe(true)
  })
})

describe('a supervisor on a manual clock at close()', () => {
  it('clears its deadlines, graces and housekeeping: no timer of its own is left', async () => {
    const { supervisor, clock } = adversary({ ignoreCancel: true })
    await supervisor.spawn(jobInput(), { timeoutMs: 60_000 })
    const canceled = await supervisor.spawn(jobInput())
    await supervisor.cancel('s1', canceled.id)
    supervisor.startHousekeeping({ intervalMs: 10_000 })
    expect(clock.pendingTimers()).toBe(3)
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    expect(clock.pendingTimers()).toBe(0)
  })

  it('waits on the clock: close() settles at cancelGraceMs, not before (as the README says)', async () => {
    const { supervisor, clock } = adversary({ ignoreCancel: true })
    await supervisor.spawn(jobInput())
    const closing = track(supervisor.close())
    await flush()
    clock.advance(999)
    await flush()
    expect(closing.settled).toBe(false)
    clock.advance(1)
    await flush()
    expect(closing.settled).toBe(true)
  })

  it('settles at once with no run live, without the clock moving', async () => {
    const { supervisor, clock } = adversary({ start: (_t, ctx) => ctx.sink.state('succeeded') })
    await supervisor.spawn(jobInput(), { timeoutMs: 5000 })
    const closing = track(supervisor.close())
    await flush()
    expect(closing.settled).toBe(true)
    expect(clock.pendingTimers()).toBe(0)
  })

  // With no grace to wait out, close() arms no timer: `await using` with a
  // manual clock must not hang.
  it('with cancelGraceMs 0, close() settles without the clock moving', async () => {
    const { supervisor } = adversary({ ignoreCancel: true, supervisor: { cancelGraceMs: 0 } })
    await supervisor.spawn(jobInput())
    const closing = track(supervisor.close())
    await flush()
    expect(closing.settled).toBe(true)
  })

  it('a deadline falling due during the close grace does not fire after close()', async () => {
    const { supervisor, clock, read, errors } = adversary({ ignoreCancel: true })
    const task = await supervisor.spawn(jobInput(), { timeoutMs: 500 })
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    clock.advance(60_000)
    await flush()
    const after = await read(task.id)
    // The deadline fired inside the grace (500 < 1000); its forced end is
    // not armed once closing, so the task is left running for another owner.
    expect(after.state).toBe('running')
    expect(errors).toEqual([])
  })

  it('a housekeeping pass due inside the close grace does not run reap on the closed supervisor', async () => {
    const { supervisor, clock, errors } = adversary({ ignoreCancel: true })
    await supervisor.spawn(jobInput())
    supervisor.startHousekeeping({ intervalMs: 100 })
    const closing = supervisor.close()
    clock.advance(1000)
    await closing
    clock.advance(1000)
    await flush()
    expect(errors).toEqual([])
  })

  it('advancing many intervals at once runs housekeeping passes without overlap or error', async () => {
    const { supervisor, clock, errors } = adversary()
    supervisor.startHousekeeping({ intervalMs: 1 })
    clock.advance(10_000)
    await flush(500)
    expect(errors).toEqual([])
    expect(clock.pendingTimers()).toBe(1)
  })
})
