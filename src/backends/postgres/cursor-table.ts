/**
 * A read that cannot be done is retried this many times (after 100, 400,
 * 1600 ms) before what it was for is reported lost.
 */
export const READ_ATTEMPTS = 4
/** The first retry delay; each next one is four times longer. */
export const RETRY_BASE_MS = 100

/** Resolves after `ms` without keeping a Node process alive. */
export const pause = (ms: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    ;(timer as { unref?: () => void }).unref?.()
  })

/** Where this process is in one session's event sequence. */
export type Cursor = {
  /** Identifies one life of the session's counter (it restarts after deleteSession); '' = unknown. */
  epoch: string
  /** The last seq delivered to (or deliberately skipped by) the local listeners. */
  seq: number
  /** Where it started: nothing up to this seq was delivered through it. */
  readonly start: number
}

// Remembered deleted (session, epoch) pairs, so a late delivery of a deleted
// session's events does not bring it back.
const TOMBSTONES = 1024
// Cursors kept for sessions followed only through subscribeAll; the least
// recently used go first. A dropped cursor is placed again by the next notice.
const MAX_CURSORS = 10_000

/**
 * The relay's cursors, most recently used last, with the tombstones of
 * deleted session lives. Cursors of sessions someone follows by name, or
 * that are being read, are never evicted.
 */
export class CursorTable {
  private readonly cursors = new Map<string, Cursor>()
  private readonly tombstones = new Set<string>()

  constructor(
    private readonly pinned: (sessionId: string) => boolean,
    private readonly evicted: (sessionId: string, cursor: Cursor) => void = () => {},
  ) {}

  /** The session's cursor, if it has one. */
  get(sessionId: string): Cursor | undefined {
    return this.cursors.get(sessionId)
  }

  /** True when the session has a cursor. */
  has(sessionId: string): boolean {
    return this.cursors.has(sessionId)
  }

  /** How many cursors are kept. */
  get size(): number {
    return this.cursors.size
  }

  /** A copy of every (session, cursor) pair. */
  entries(): [string, Cursor][] {
    return [...this.cursors]
  }

  /** True when this life of the session was deleted. */
  tombstoned(sessionId: string, epoch: string): boolean {
    return epoch !== '' && this.tombstones.has(`${epoch}\u0000${sessionId}`)
  }

  /** Forgets the session's cursor and remembers `epoch` as deleted. */
  bury(sessionId: string, epoch: string | undefined): void {
    const dead = epoch ?? this.cursors.get(sessionId)?.epoch
    if (dead !== undefined && dead !== '') {
      this.tombstones.add(`${dead}\u0000${sessionId}`)
      if (this.tombstones.size > TOMBSTONES) {
        this.tombstones.delete(this.tombstones.values().next().value as string)
      }
    }
    this.cursors.delete(sessionId)
  }

  /** Forgets the session's cursor. */
  delete(sessionId: string): void {
    this.cursors.delete(sessionId)
  }

  /** Starts a cursor at `seq` (replacing any). */
  set(sessionId: string, cursor: Cursor): Cursor {
    this.cursors.delete(sessionId)
    this.cursors.set(sessionId, cursor)
    if (this.cursors.size > MAX_CURSORS) this.evict()
    return cursor
  }

  /** Marks the cursor as just used, so eviction takes the stalest. */
  touch(sessionId: string, cursor: Cursor): void {
    this.cursors.delete(sessionId)
    this.cursors.set(sessionId, cursor)
  }

  private evict(): void {
    for (const sessionId of this.cursors.keys()) {
      if (this.pinned(sessionId)) continue
      const cursor = this.cursors.get(sessionId) as Cursor
      this.cursors.delete(sessionId)
      this.evicted(sessionId, cursor)
      return
    }
  }
}

// Sessions without a cursor whose last seq this process knows (own writes
// handed over, notices heard, cursors evicted); the least recently noted go first.
const MAX_SEEN = 50_000

/**
 * How far this process already knows sessions it has no cursor for. A first
 * cursor placed later starts after that, so nothing delivered, or
 * committed, before someone here followed the session comes back.
 */
export class SeenSeqs {
  private readonly seen = new Map<string, { epoch: string; seq: number }>()

  /** Notes that the session's life `epoch` is known through `seq`. */
  note(sessionId: string, epoch: string, seq: number): void {
    const known = this.seen.get(sessionId)
    const next = known !== undefined && known.epoch === epoch ? Math.max(known.seq, seq) : seq
    this.seen.delete(sessionId)
    this.seen.set(sessionId, { epoch, seq: next })
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string)
  }

  /** The last seq known of the session's life `epoch` (0 when none). */
  floor(sessionId: string, epoch: string): number {
    const known = this.seen.get(sessionId)
    return known !== undefined && known.epoch === epoch ? known.seq : 0
  }

  /** Forgets the session. */
  delete(sessionId: string): void {
    this.seen.delete(sessionId)
  }

  /** How many sessions are noted. */
  get size(): number {
    return this.seen.size
  }
}
