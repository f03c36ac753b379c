import { describe, expect, it } from 'vitest'
import { createManualClock } from '../src/testing/index.js'

// The manual clock as a timer source (src/testing/manual-clock.ts).

describe('createManualClock timers', () => {
  it('fires timers in due order as the clock passes them, each at its due instant', () => {
    const clock = createManualClock(0)
    const fired: [string, number][] = []
    clock.startTimer(300, () => fired.push(['c', clock.now().getTime()]))
    clock.startTimer(100, () => fired.push(['a', clock.now().getTime()]))
    clock.startTimer(200, () => fired.push(['b', clock.now().getTime()]))
    clock.advance(250)
    expect(fired).toEqual([
      ['a', 100],
      ['b', 200],
    ])
    expect(clock.now().getTime()).toBe(250)
    expect(clock.pendingTimers()).toBe(1)
    clock.advance(50)
    expect(fired.at(-1)).toEqual(['c', 300])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('fires timers due at the same instant in the order they were armed', () => {
    const clock = createManualClock(0)
    const fired: number[] = []
    for (const n of [1, 2, 3]) clock.startTimer(10, () => fired.push(n))
    clock.advance(10)
    expect(fired).toEqual([1, 2, 3])
  })

  it('fires a timer armed by a firing one when it falls due within the same move', () => {
    const clock = createManualClock(0)
    const fired: number[] = []
    const arm = () =>
      clock.startTimer(100, () => {
        fired.push(clock.now().getTime())
        arm()
      })
    arm()
    clock.advance(350)
    expect(fired).toEqual([100, 200, 300])
    expect(clock.pendingTimers()).toBe(1)
  })

  it('never fires a canceled timer; canceling twice is harmless', () => {
    const clock = createManualClock(0)
    let fired = false
    const cancel = clock.startTimer(10, () => {
      fired = true
    })
    cancel()
    cancel()
    clock.advance(100)
    expect(fired).toBe(false)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('fires zero-delay timers on advance(0), and set() forward fires what is due', () => {
    const clock = createManualClock(0)
    const fired: string[] = []
    clock.startTimer(0, () => fired.push('now'))
    expect(fired).toEqual([])
    clock.advance(0)
    expect(fired).toEqual(['now'])
    clock.startTimer(1000, () => fired.push('later'))
    clock.set(500)
    expect(fired).toEqual(['now'])
    clock.set(new Date(1000))
    expect(fired).toEqual(['now', 'later'])
  })

  it('fires nothing when set() moves it back', () => {
    const clock = createManualClock(1000)
    let fired = false
    clock.startTimer(10, () => {
      fired = true
    })
    clock.set(0)
    expect(fired).toBe(false)
    expect(clock.pendingTimers()).toBe(1)
  })
})
