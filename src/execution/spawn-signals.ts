import { toWellFormed } from '../model/strings.js'
import { taskKey } from './task-key.js'

/** The text a cancel reason takes from an abort reason: an Error's message, a string, or a stock line. */
export function abortReasonText(reason: unknown): string {
  // Made well-formed: an abort message cut inside an emoji must still cancel.
  if (reason instanceof Error && reason.message !== '') return toWellFormed(reason.message)
  if (typeof reason === 'string' && reason !== '') return toWellFormed(reason)
  return 'the spawn signal was aborted'
}

/**
 * The spawn signals tied to live tasks: a task stays tied only while it is
 * not terminal, so a long-lived signal (a session's) shared by many spawns
 * does not collect the tasks of finished ones. Each signal carries one
 * listener however many tasks it cancels, so a turn that spawns a dozen
 * tasks on its signal trips no listener-leak warning.
 */
export class SpawnSignals {
  // The signal each task is tied to, and per signal, the tasks it cancels.
  private readonly signalOf = new Map<string, AbortSignal>()
  private readonly tied = new Map<
    AbortSignal,
    { keys: Map<string, () => void>; listener: () => void }
  >()

  /**
   * Calls `onAbort` once when `signal` aborts, until the task's binding is
   * released; a signal aborted already is the caller's to handle.
   */
  bind(key: string, signal: AbortSignal, onAbort: () => void): void {
    this.release(key)
    if (signal.aborted) return
    let entry = this.tied.get(signal)
    if (entry === undefined) {
      const keys = new Map<string, () => void>()
      const listener = () => {
        this.tied.delete(signal)
        const due = [...keys]
        keys.clear()
        for (const [k, fire] of due) {
          this.signalOf.delete(k)
          fire()
        }
      }
      entry = { keys, listener }
      this.tied.set(signal, entry)
      signal.addEventListener('abort', listener, { once: true })
    }
    entry.keys.set(key, onAbort)
    this.signalOf.set(key, signal)
  }

  /** How many tasks are tied to a signal. */
  get size(): number {
    return this.signalOf.size
  }

  /** Detaches the task, and the signal's listener once it cancels nothing. */
  release(key: string): void {
    const signal = this.signalOf.get(key)
    if (signal === undefined) return
    this.signalOf.delete(key)
    const entry = this.tied.get(signal)
    if (entry === undefined) return
    entry.keys.delete(key)
    if (entry.keys.size > 0) return
    this.tied.delete(signal)
    signal.removeEventListener('abort', entry.listener)
  }

  /** Detaches every task of `sessionId` (its session was deleted). */
  releaseSession(sessionId: string): void {
    const prefix = taskKey(sessionId, '')
    for (const key of [...this.signalOf.keys()]) if (key.startsWith(prefix)) this.release(key)
  }

  /** Detaches every listener (the supervisor closed). */
  releaseAll(): void {
    for (const key of [...this.signalOf.keys()]) this.release(key)
  }
}
