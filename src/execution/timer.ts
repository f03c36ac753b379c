// setTimeout takes a signed 32-bit delay: anything longer fires at once.
const MAX_DELAY_MS = 2 ** 31 - 1

/** Options of {@link TimerSource.startTimer}. */
export type TimerOptions = {
  /** The timer must not keep the process alive on its own (housekeeping). */
  unref?: boolean | undefined
}

/**
 * Where a supervisor's timers run: the platform's by default; a manual
 * clock (`createManualClock` from `session-tasks/testing`) in tests, so that
 * moving the clock fires deadlines, grace periods, wait timeouts and
 * housekeeping without faking the global timers.
 */
export type TimerSource = {
  /** Calls `fire` once, `delayMs` from now; returns an idempotent cancel function. */
  startTimer(delayMs: number, fire: () => void, options?: TimerOptions): () => void
}

/**
 * Calls `fire` once after `delayMs` (any duration up to
 * `Number.MAX_SAFE_INTEGER`), chaining timeouts past the platform limit;
 * returns the idempotent cancel function.
 */
export function startTimer(
  delayMs: number,
  fire: () => void,
  options: TimerOptions = {},
): () => void {
  let remaining = delayMs
  let handle: ReturnType<typeof setTimeout>
  const arm = () => {
    const step = Math.min(remaining, MAX_DELAY_MS)
    remaining -= step
    handle = setTimeout(remaining > 0 ? arm : fire, step)
    if (options.unref === true) (handle as { unref?: () => void }).unref?.()
  }
  arm()
  return () => clearTimeout(handle)
}

/** The platform's timers (`setTimeout`), as a {@link TimerSource}. */
export const platformTimers: TimerSource = { startTimer }
