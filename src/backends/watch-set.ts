/**
 * The sessions a process listens to, counted: a session is followed while
 * it has a listener here, and every session while some listener takes them
 * all. Backends use it to keep delivery state only for what is followed.
 */
export class WatchSet {
  private readonly counts = new Map<string, number>()
  private everyCount = 0

  /**
   * Counts a listener of one session (or, with undefined, of every session)
   * and returns its release, idempotent. `gone` runs when the last listener
   * of that session (or the last of every session) is released.
   */
  add(sessionId: string | undefined, gone: (sessionId: string | undefined) => void): () => void {
    if (sessionId === undefined) this.everyCount++
    else this.counts.set(sessionId, (this.counts.get(sessionId) ?? 0) + 1)
    let active = true
    return () => {
      if (!active) return
      active = false
      if (sessionId === undefined) {
        this.everyCount--
        if (this.everyCount === 0) gone(undefined)
        return
      }
      const left = (this.counts.get(sessionId) ?? 1) - 1
      if (left > 0) {
        this.counts.set(sessionId, left)
        return
      }
      this.counts.delete(sessionId)
      gone(sessionId)
    }
  }

  /** True while some listener takes every session. */
  get everySession(): boolean {
    return this.everyCount > 0
  }

  /** True when the session has a listener of its own here. */
  has(sessionId: string): boolean {
    return this.counts.has(sessionId)
  }

  /** True when events of the session have someone to go to here. */
  follows(sessionId: string): boolean {
    return this.everyCount > 0 || this.counts.has(sessionId)
  }

  /** Drops a session's own listeners from the count (its session was deleted). */
  delete(sessionId: string): void {
    this.counts.delete(sessionId)
  }

  /** How many sessions have listeners of their own. */
  get size(): number {
    return this.counts.size
  }
}
