/**
 * The sessions a process listens to, counted: a session is followed while
 * it has a listener here, and every session while some listener takes them
 * all. Backends use it to keep delivery state only for what is followed.
 */
export class WatchSet {
  // One entry per life of a session: a release from before its deletion
  // finds another entry (or none) and leaves the new life's count alone.
  private readonly counts = new Map<string, { n: number }>()
  private everyCount = 0

  /**
   * Counts a listener of one session (or, with undefined, of every session)
   * and returns its release, idempotent. `gone` runs when the last listener
   * of that session (or the last of every session) is released.
   */
  add(sessionId: string | undefined, gone: (sessionId: string | undefined) => void): () => void {
    if (sessionId === undefined) this.everyCount++
    let life: { n: number } | undefined
    if (sessionId !== undefined) {
      life = this.counts.get(sessionId)
      if (life === undefined) {
        life = { n: 0 }
        this.counts.set(sessionId, life)
      }
      life.n++
    }
    let active = true
    return () => {
      if (!active) return
      active = false
      if (sessionId === undefined) {
        this.everyCount--
        if (this.everyCount === 0) gone(undefined)
        return
      }
      if (life === undefined || this.counts.get(sessionId) !== life) return
      life.n--
      if (life.n > 0) return
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

  /**
   * Drops a session's own listeners from the count (its session was
   * deleted, and its listeners with it); their releases then do nothing.
   */
  delete(sessionId: string): void {
    this.counts.delete(sessionId)
  }

  /** How many sessions have listeners of their own. */
  get size(): number {
    return this.counts.size
  }
}
