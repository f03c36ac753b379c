/**
 * Which sessions this process follows (by name, or all of them through
 * subscribeAll), each with the recovery point current when following
 * began: every transaction that commits later has an id at or above it,
 * so a first cursor placed from it misses nothing committed since.
 */
export class WatchSet {
  private readonly named = new Map<string, { count: number; point: string | undefined }>()
  private all = 0
  private allPoint: string | undefined

  constructor(
    /** The latest recovery point (captured at most a poll interval ago). */
    private readonly now: () => string | undefined,
    /** The last follower of a named session left (and nobody follows all). */
    private readonly dropped: (sessionId: string) => void,
  ) {}

  /** Follows a session (or, with undefined, every session); returns the release. */
  add(sessionId: string | undefined): () => void {
    if (sessionId === undefined) {
      if (this.all++ === 0) this.allPoint = this.now()
    } else {
      const entry = this.named.get(sessionId)
      if (entry === undefined) this.named.set(sessionId, { count: 1, point: this.now() })
      else entry.count++
    }
    let active = true
    return () => {
      if (!active) return
      active = false
      if (sessionId === undefined) {
        this.all--
        return
      }
      const entry = this.named.get(sessionId)
      if (entry === undefined) return
      if (--entry.count > 0) return
      this.named.delete(sessionId)
      if (this.all === 0) this.dropped(sessionId)
    }
  }

  /** True when somebody here follows the session. */
  interested(sessionId: string): boolean {
    return this.all > 0 || this.named.has(sessionId)
  }

  /** True when somebody follows the session by name. */
  has(sessionId: string): boolean {
    return this.named.has(sessionId)
  }

  /** True while somebody follows every session. */
  get watchingAll(): boolean {
    return this.all > 0
  }

  /** The sessions followed by name. */
  names(): string[] {
    return [...this.named.keys()]
  }

  /** How many sessions are followed by name. */
  get size(): number {
    return this.named.size
  }

  /** Where following the session began (undefined before the first capture). */
  pointOf(sessionId: string): string | undefined {
    return this.named.get(sessionId)?.point ?? (this.all > 0 ? this.allPoint : undefined)
  }

  /** Drops the named followers of a deleted session. */
  forget(sessionId: string): void {
    this.named.delete(sessionId)
  }
}
