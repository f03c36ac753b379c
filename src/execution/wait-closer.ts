import { UnsupportedOperationError } from '../model/errors.js'

/**
 * The supervisor's waits that are still pending, so that `close()` can end
 * them: a wait without a timeout on a task nobody runs any more would
 * otherwise never settle. Each wait gets its own signal (the caller's
 * joined with close), so no shared signal collects listeners.
 */
export class WaitCloser {
  private readonly open = new Set<AbortController>()
  private closed = false

  /** Runs `body` with a signal that aborts with the caller's reason, or when the supervisor closes. */
  async run<T>(
    signal: AbortSignal | undefined,
    body: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new UnsupportedOperationError('the supervisor is closed')
    const joined = new AbortController()
    const fromCaller = () => joined.abort(signal?.reason)
    if (signal?.aborted) joined.abort(signal.reason)
    else signal?.addEventListener('abort', fromCaller, { once: true })
    this.open.add(joined)
    try {
      return await body(joined.signal)
    } finally {
      this.open.delete(joined)
      signal?.removeEventListener('abort', fromCaller)
    }
  }

  /** Rejects every pending wait, and every later one, with an `UnsupportedOperationError`. */
  close(): void {
    this.closed = true
    for (const controller of this.open) {
      controller.abort(new UnsupportedOperationError('the supervisor closed while waiting'))
    }
    this.open.clear()
  }
}
