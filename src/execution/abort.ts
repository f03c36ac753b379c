// Small helpers for work that an AbortSignal may cut short.

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Settles with `work`, or rejects once `signal` aborts while `abortable()`
 * holds, whichever comes first: a call that ignores its signal cannot hold
 * the caller. Work that goes on after the abort has its rejection handled.
 */
export function untilAborted<T>(
  signal: AbortSignal | undefined,
  work: Promise<T>,
  abortable: () => boolean = () => true,
): Promise<T> {
  if (signal === undefined) return work
  work.catch(() => {})
  if (signal.aborted && abortable()) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      if (abortable()) reject(signal.reason)
    }
    signal.addEventListener('abort', abort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

/**
 * Runs `work` with a signal of its own that follows `signal` until `work`
 * settles: a client that never removes its abort listener (the MCP SDK's)
 * then leaves it on a signal that is dropped, not on the run's.
 */
export async function withSignal<T>(
  signal: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const own = new AbortController()
  const abort = () => own.abort(signal.reason)
  if (signal.aborted) abort()
  else signal.addEventListener('abort', abort, { once: true })
  try {
    return await work(own.signal)
  } finally {
    signal.removeEventListener('abort', abort)
  }
}
