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
// recently used go first. A dropped cursor is rebuilt from the next notice.
const MAX_CURSORS = 10_000

/**
 * The relay's cursors, most recently used last, with the tombstones of
 * deleted session lives. Cursors of sessions someone follows by name, or
 * that are being read, are never evicted.
 */
export class CursorTable {
  private readonly cursors = new Map<string, Cursor>()
  private readonly tombstones = new Set<string>()

  constructor(private readonly pinned: (sessionId: string) => boolean) {}

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
      this.cursors.delete(sessionId)
      return
    }
  }
}

/**
 * Writes waiting until a notice places their session's first cursor.
 * Notices arrive in commit order, so the first one this process receives for
 * a session after it began to follow it covers every later commit; starting
 * at this process's own write instead would count a racing write of another
 * process as delivered and lose it. The write's own notice arrives within a
 * round trip; if the LISTEN connection is down, the wait gives up.
 */
export class Placements {
  private readonly waiting = new Map<string, { wait: Promise<void>; done: () => void }>()

  constructor(private readonly maxWaitMs: number) {}

  /** Resolves once the session's cursor is placed, or after the longest wait. */
  wait(sessionId: string): Promise<void> {
    let entry = this.waiting.get(sessionId)
    if (entry === undefined) {
      let done = () => {}
      const wait = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.maxWaitMs)
        ;(timer as { unref?: () => void }).unref?.()
        done = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      const placed = { wait, done }
      entry = placed
      this.waiting.set(sessionId, placed)
      void wait.then(() => {
        if (this.waiting.get(sessionId) === placed) this.waiting.delete(sessionId)
      })
    }
    return entry.wait
  }

  /** The session's cursor is placed (or will never be): release its writes. */
  done(sessionId: string): void {
    this.waiting.get(sessionId)?.done()
  }
}
