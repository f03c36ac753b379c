import type { TimerSource } from '../execution/timer.js'

/**
 * A clock you move by hand. It is also a timer source: give it to
 * `createTaskSupervisor({ timers })` and moving it fires the supervisor's
 * deadlines, graces, wait timeouts and housekeeping, in time order.
 */
export type ManualClock = TimerSource & {
  /** The current instant (a fresh Date each call). */
  now(): Date
  /**
   * Moves the clock forward by `ms`, firing every timer that falls due on
   * the way, each with the clock at its due instant (a timer armed by one
   * that fires runs too, if due within `ms`).
   */
  advance(ms: number): void
  /** Sets the clock to an instant; a move forward fires the timers due by then. */
  set(instant: Date | string | number): void
  /** How many timers are armed and not yet fired or canceled. */
  pendingTimers(): number
}

type ManualTimer = { readonly due: number; readonly order: number; readonly fire: () => void }

/** Creates a {@link ManualClock} starting at `start` (default 2026-01-01T00:00:00Z). */
export function createManualClock(
  start: Date | string | number = '2026-01-01T00:00:00.000Z',
): ManualClock {
  let time = new Date(start).getTime()
  let armed = 0
  const timers = new Set<ManualTimer>()
  // Timers due by `target`, earliest first; ties fire in the order they were armed.
  const next = (target: number): ManualTimer | undefined => {
    let first: ManualTimer | undefined
    for (const timer of timers) {
      if (timer.due > target) continue
      if (first === undefined || timer.due < first.due) first = timer
      else if (timer.due === first.due && timer.order < first.order) first = timer
    }
    return first
  }
  const moveTo = (target: number) => {
    for (let timer = next(target); timer !== undefined; timer = next(target)) {
      timers.delete(timer)
      time = Math.max(time, timer.due)
      timer.fire()
    }
    time = target
  }
  return {
    now: () => new Date(time),
    advance(ms) {
      moveTo(time + ms)
    },
    set(instant) {
      moveTo(new Date(instant).getTime())
    },
    startTimer(delayMs, fire) {
      const timer: ManualTimer = { due: time + Math.max(0, delayMs), order: armed++, fire }
      timers.add(timer)
      return () => {
        timers.delete(timer)
      }
    },
    pendingTimers: () => timers.size,
  }
}
