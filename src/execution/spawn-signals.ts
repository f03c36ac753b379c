import { taskKey } from './task-key.js'

type Binding = { readonly signal: AbortSignal; readonly onAbort: () => void }

/** The text a cancel reason takes from an abort reason: an Error's message, a string, or a stock line. */
export function abortReasonText(reason: unknown): string {
  if (reason instanceof Error && reason.message !== '') return reason.message
  if (typeof reason === 'string' && reason !== '') return reason
  return 'the spawn signal was aborted'
}

/**
 * The spawn signals tied to live tasks: each abort listener stays attached
 * only while its task is not terminal, so a long-lived signal (a session's)
 * shared by many spawns does not collect listeners of finished tasks.
 */
export class SpawnSignals {
  private readonly bindings = new Map<string, Binding>()

  /**
   * Calls `onAbort` once when `signal` aborts, until the task's binding is
   * released; a signal aborted already is the caller's to handle.
   */
  bind(key: string, signal: AbortSignal, onAbort: () => void): void {
    this.release(key)
    if (signal.aborted) return
    const binding: Binding = {
      signal,
      onAbort: () => {
        this.bindings.delete(key)
        onAbort()
      },
    }
    this.bindings.set(key, binding)
    signal.addEventListener('abort', binding.onAbort, { once: true })
  }

  /** How many tasks are tied to a signal. */
  get size(): number {
    return this.bindings.size
  }

  /** Detaches the task's listener, if any. */
  release(key: string): void {
    const binding = this.bindings.get(key)
    if (binding === undefined) return
    this.bindings.delete(key)
    binding.signal.removeEventListener('abort', binding.onAbort)
  }

  /** Detaches the listeners of every task of `sessionId` (its session was deleted). */
  releaseSession(sessionId: string): void {
    const prefix = taskKey(sessionId, '')
    for (const key of [...this.bindings.keys()]) if (key.startsWith(prefix)) this.release(key)
  }

  /** Detaches every listener (the supervisor closed). */
  releaseAll(): void {
    for (const key of [...this.bindings.keys()]) this.release(key)
  }
}
