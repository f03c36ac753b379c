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
   * that fires runs too, if due within `ms`). Throws a `RangeError` unless
   * `ms` is a finite number >= 0.
   */
  advance(ms: number): void
  /** Sets the clock to an instant (back too); a move forward fires the timers due by then. */
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
    // A callback may have moved the clock past `target`; time never runs back here.
    time = Math.max(time, target)
  }
  return {
    now: () => new Date(time),
    advance(ms) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`advance(ms): ms must be a finite number >= 0, got ${String(ms)}`)
      }
      moveTo(time + ms)
    },
    set(instant) {
      const target = new Date(instant).getTime()
      if (Number.isNaN(target)) {
        throw new RangeError(`set(instant): instant is not a valid date: ${String(instant)}`)
      }
      // Setting an earlier instant moves the clock back, firing nothing.
      if (target < time) time = target
      else moveTo(target)
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
