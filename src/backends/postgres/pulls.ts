import { pause, READ_ATTEMPTS, RETRY_BASE_MS } from './cursor-table.js'

/** What {@link Pulls} drives. */
export type PullDeps = {
  /** False once the relay stopped listening: running pulls end. */
  active: () => boolean
  /** Reads a session's events through `last` from the table and delivers them. */
  deliver: (sessionId: string, epoch: string, first: number, last: number) => Promise<void>
  /** Gives up on a range: the cursor skips to `through` and the core hears of a gap. */
  lose: (sessionId: string, epoch: string, through: number) => void
  reportError: (error: unknown) => void
}

/**
 * Reads of notified ranges, one running per session. Notices that arrive
 * while a read for the session is running only raise its target, so a burst
 * costs a few reads, not one per notice. A read that keeps failing is
 * retried with backoff, then reported as a gap.
 */
export class Pulls {
  private readonly running = new Map<string, { epoch: string; first: number; last: number }>()

  constructor(private readonly deps: PullDeps) {}

  /** True while a read of the session runs (its cursor is then kept). */
  has(sessionId: string): boolean {
    return this.running.has(sessionId)
  }

  /** Reads the session through `last` (seqs from `first` were notified). */
  pull(sessionId: string, epoch: string, first: number, last: number): void {
    const known = this.running.get(sessionId)
    if (known !== undefined && known.epoch === epoch) {
      known.last = Math.max(known.last, last)
      return
    }
    const state = { epoch, first, last }
    this.running.set(sessionId, state)
    const run = async () => {
      try {
        for (let failures = 0; this.deps.active(); ) {
          const target = state.last
          try {
            await this.deps.deliver(sessionId, state.epoch, state.first, target)
            failures = 0
          } catch (error) {
            this.deps.reportError(error)
            if (++failures < READ_ATTEMPTS) {
              await pause(RETRY_BASE_MS * 4 ** (failures - 1))
              continue
            }
            failures = 0
            this.deps.lose(sessionId, state.epoch, target)
          }
          if (state.last === target) return
        }
      } finally {
        if (this.running.get(sessionId) === state) this.running.delete(sessionId)
      }
    }
    run().catch(this.deps.reportError)
  }
}
