// setTimeout takes a signed 32-bit delay: anything longer fires at once.
const MAX_DELAY_MS = 2 ** 31 - 1

/**
 * Calls `fire` once after `delayMs` (any duration up to
 * `Number.MAX_SAFE_INTEGER`), chaining timeouts past the platform limit;
 * returns the idempotent cancel function.
 */
export function startTimer(
  delayMs: number,
  fire: () => void,
  options: { unref?: boolean } = {},
): () => void {
  let remaining = delayMs
  let handle: ReturnType<typeof setTimeout>
  const arm = () => {
    const step = Math.min(remaining, MAX_DELAY_MS)
    remaining -= step
    handle = setTimeout(remaining > 0 ? arm : fire, step)
    // A timer that must not keep the process alive on its own (housekeeping).
    if (options.unref === true) (handle as { unref?: () => void }).unref?.()
  }
  arm()
  return () => clearTimeout(handle)
}
