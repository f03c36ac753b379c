import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import type { StoreEventSink } from '../../registry/store.js'
import { rowToEvent } from './rows.js'
import type { SqlClient } from './sql-client.js'
import type { Statements } from './statements.js'

/** Where this process is in one session's event sequence. */
type Cursor = {
  /** Identifies one life of the session's counter (it restarts after deleteSession); '' = unknown. */
  epoch: string
  /** The last seq delivered to (or deliberately skipped by) the local listeners. */
  seq: number
}

type Notice = { o: string; s: string; e: string; f?: number; q?: number; d?: number }

// Remembered deleted (session, epoch) pairs, so a late delivery of a deleted
// session's events does not bring it back.
const TOMBSTONES = 1024
// Cursors kept for sessions followed only through subscribeAll; the least
// recently used go first. A dropped cursor is rebuilt from the next notice.
const MAX_CURSORS = 10_000
// How long a write waits for its own notice to place a session's first
// cursor before falling back to starting at the write itself.
const OWN_NOTICE_WAIT_MS = 1000

/** What the relay needs from its store. */
export type EventRelayOptions = {
  client: SqlClient
  sql: Statements
  channel: string
  /** This process's id in NOTIFY payloads, so it skips its own notices. */
  origin: string
  reportError: (error: unknown) => void
}

/**
 * Delivers a PostgreSQL session's committed events to this process in seq
 * order, each once: this process's own writes right after their commit, and
 * other processes' writes when LISTEN/NOTIFY says they exist, reading what is
 * missing from the events table first.
 */
export class EventRelay {
  private sink: StoreEventSink | undefined
  private readonly cursors = new Map<string, Cursor>()
  private readonly watched = new Map<string, number>()
  private readonly tombstones = new Set<string>()
  private readonly pulls = new Map<string, { epoch: string; first: number; last: number }>()
  // Local writes to a followed session that has no cursor yet, waiting for a
  // notice (their own, at the latest) to say where the session stands.
  private readonly placing = new Map<string, { wait: Promise<void>; done: () => void }>()
  // While listening: the last seq of this process's own writes already handed
  // to the core, per session, until their notice comes back. It tells a
  // notice of a write made before anyone here followed the session (already
  // delivered) from one made after.
  private readonly ownHandled = new Map<string, number>()
  private watchingAll = 0
  private listening: Promise<() => Promise<void>> | undefined

  constructor(private readonly o: EventRelayOptions) {}

  /** Where delivered events go. */
  attach(sink: StoreEventSink): void {
    this.sink = sink
  }

  /** Starts LISTEN; idempotent. */
  async start(): Promise<void> {
    this.listening ??= this.o.client.listen(this.o.channel, (payload) => this.onNotify(payload), {
      onError: this.o.reportError,
      onReconnect: () => {
        this.resync().catch(this.o.reportError)
      },
    })
    try {
      await this.listening
    } catch (error) {
      this.listening = undefined
      throw error
    }
  }

  /** Stops LISTEN. */
  async close(): Promise<void> {
    this.ownHandled.clear()
    const listening = this.listening
    this.listening = undefined
    if (listening === undefined) return
    const stop = await listening.catch(() => undefined)
    await stop?.()
  }

  /** Marks a session (or, with undefined, every session) as listened to here; returns the release. */
  watch(sessionId: string | undefined): () => void {
    if (sessionId === undefined) this.watchingAll++
    else this.watched.set(sessionId, (this.watched.get(sessionId) ?? 0) + 1)
    let active = true
    return () => {
      if (!active) return
      active = false
      if (sessionId === undefined) {
        this.watchingAll--
        return
      }
      const left = (this.watched.get(sessionId) ?? 1) - 1
      if (left > 0) {
        this.watched.set(sessionId, left)
        return
      }
      this.watched.delete(sessionId)
      // Nobody here follows the session any more: forget where we were.
      if (this.watchingAll === 0) this.cursors.delete(sessionId)
    }
  }

  private interested(sessionId: string): boolean {
    return this.watchingAll > 0 || this.watched.has(sessionId)
  }

  /** Counts of what the relay tracks, for leak checks. */
  stats(): { trackedSessions: number; watchedSessions: number } {
    return { trackedSessions: this.cursors.size, watchedSessions: this.watched.size }
  }

  private tombstoned(sessionId: string, epoch: string): boolean {
    return epoch !== '' && this.tombstones.has(`${epoch}\u0000${sessionId}`)
  }

  /**
   * Forgets a session locally (cursor, watch) and, unless the core is the one
   * deleting it, tells the core to drop its listeners and streams.
   */
  reset(sessionId: string, epoch: string | undefined, tellCore = true): void {
    const dead = epoch ?? this.cursors.get(sessionId)?.epoch
    if (dead !== undefined && dead !== '') {
      this.tombstones.add(`${dead}\u0000${sessionId}`)
      if (this.tombstones.size > TOMBSTONES) {
        const oldest = this.tombstones.values().next().value as string
        this.tombstones.delete(oldest)
      }
    }
    this.cursors.delete(sessionId)
    this.placing.get(sessionId)?.done()
    this.watched.delete(sessionId)
    if (tellCore) this.sink?.deleted(sessionId)
  }

  /** The cursor for a session in `epoch`, starting one at `first - 1` when there is none. */
  private cursor(sessionId: string, epoch: string, first: number): Cursor | undefined {
    if (this.tombstoned(sessionId, epoch)) return undefined
    let cursor = this.cursors.get(sessionId)
    if (cursor !== undefined && cursor.epoch !== epoch) {
      if (cursor.epoch === '') {
        cursor.epoch = epoch
      } else {
        // Deleted and recreated meanwhile (possibly by another process).
        this.reset(sessionId, cursor.epoch)
        cursor = undefined
      }
    }
    if (cursor === undefined) {
      cursor = { epoch, seq: first - 1 }
      this.cursors.set(sessionId, cursor)
      if (this.cursors.size > MAX_CURSORS) this.evictCursor()
    } else {
      // Most recently used last, so eviction takes the stalest.
      this.cursors.delete(sessionId)
      this.cursors.set(sessionId, cursor)
    }
    return cursor
  }

  private evictCursor(): void {
    for (const sessionId of this.cursors.keys()) {
      if (this.watched.has(sessionId) || this.pulls.has(sessionId)) continue
      this.cursors.delete(sessionId)
      return
    }
  }

  /**
   * Called inside a write transaction, while the session's counter row is
   * locked, so allocations reach this point in seq order. A session this
   * process has not seen yet starts here.
   */
  noteAllocation(sessionId: string, epoch: string, first: number): void {
    // While listening, a first cursor is placed by notices only (see place()).
    if (this.listening !== undefined && !this.cursors.has(sessionId)) return
    if (this.interested(sessionId)) this.cursor(sessionId, epoch, first)
  }

  /**
   * Waits until a notice places the session's first cursor. Notices arrive
   * in commit order, so the first one this process receives for a session
   * after it began to follow it covers every later commit; starting at this
   * process's own write instead would count a racing write of another
   * process as delivered and lose it. The write's own notice arrives within
   * a round trip; if the LISTEN connection is down, the wait gives up.
   */
  private place(sessionId: string): Promise<void> {
    let entry = this.placing.get(sessionId)
    if (entry === undefined) {
      let done = () => {}
      const wait = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, OWN_NOTICE_WAIT_MS)
        ;(timer as { unref?: () => void }).unref?.()
        done = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      entry = { wait, done }
      this.placing.set(sessionId, entry)
      const placed = entry
      void wait.then(() => {
        if (this.placing.get(sessionId) === placed) this.placing.delete(sessionId)
      })
    }
    return entry.wait
  }

  /**
   * Delivers the session's events up to the last of `local` (seqs from
   * `first`), or up to `last` when only notified: missing earlier events are
   * read from the events table first, so listeners see seq order.
   */
  async deliver(
    sessionId: string,
    epoch: string,
    first: number,
    local: readonly StoredEvent[] | undefined,
    last = first + (local?.length ?? 0) - 1,
  ): Promise<void> {
    if (local !== undefined && !this.interested(sessionId) && !this.cursors.has(sessionId)) {
      // Nobody here follows the session: hand the events over (global
      // listeners may still want them) without keeping a cursor.
      if (this.listening !== undefined) {
        this.ownHandled.set(sessionId, Math.max(this.ownHandled.get(sessionId) ?? 0, last))
      }
      this.sink?.deliver(
        sessionId,
        local.map(
          (event, i) => ({ type: event.type, data: event.data, seq: first + i }) as SequencedEvent,
        ),
      )
      return
    }
    if (local !== undefined && this.listening !== undefined && !this.cursors.has(sessionId)) {
      await this.place(sessionId)
    }
    let cursor = this.cursor(sessionId, epoch, first)
    if (cursor === undefined || last <= cursor.seq) return
    const inHand = local === undefined ? last + 1 : first
    if (cursor.seq + 1 < inHand) {
      let missing: SequencedEvent[] = []
      try {
        missing = await this.read(sessionId, epoch, cursor.seq + 1, inHand - 1)
      } catch (error) {
        // The write itself committed; its own events still go out below.
        this.o.reportError(error)
      }
      cursor = this.cursors.get(sessionId)
      if (cursor === undefined || cursor.epoch !== epoch) {
        if (local === undefined) return
        cursor = this.cursor(sessionId, epoch, first)
        if (cursor === undefined) return
      }
      for (const event of missing) this.emit(sessionId, cursor, event)
    }
    if (local !== undefined) {
      for (let i = 0; i < local.length; i++) {
        const event = local[i] as StoredEvent
        this.emit(sessionId, cursor, {
          type: event.type,
          data: event.data,
          seq: first + i,
        } as SequencedEvent)
      }
    }
  }

  private emit(sessionId: string, cursor: Cursor, event: SequencedEvent): void {
    if (this.cursors.get(sessionId) !== cursor || event.seq <= cursor.seq) return
    cursor.seq = event.seq
    this.sink?.deliver(sessionId, [event])
  }

  private async read(sessionId: string, epoch: string, from: number, to: number) {
    const { rows } = await this.o.client.query<{ seq: unknown; type: string; payload: string }>(
      this.o.sql.events,
      [sessionId, epoch, from, to],
    )
    return rows.map(rowToEvent)
  }

  private onNotify(payload: string): void {
    if (this.listening === undefined) return
    let notice: Notice
    try {
      notice = JSON.parse(payload) as Notice
    } catch (error) {
      this.o.reportError(error)
      return
    }
    if (typeof notice !== 'object' || notice === null || typeof notice.s !== 'string') return
    const sessionId = notice.s
    const epoch = typeof notice.e === 'string' ? notice.e : ''
    if (notice.o === this.o.origin) {
      // Our own writes are delivered by the write itself; their notices only
      // place a followed session's first cursor (just before them).
      const handled = this.ownHandled.get(sessionId)
      if (handled !== undefined && typeof notice.q === 'number' && notice.q >= handled) {
        this.ownHandled.delete(sessionId)
      }
      if (
        notice.d !== 1 &&
        !this.cursors.has(sessionId) &&
        this.interested(sessionId) &&
        Number.isSafeInteger(notice.f) &&
        Number.isSafeInteger(notice.q)
      ) {
        // Own writes handed over before anyone followed the session: start
        // after the last of them (later notices of those are then old news).
        const delivered = handled !== undefined && handled >= (notice.q as number)
        this.cursor(sessionId, epoch, delivered ? (handled as number) + 1 : (notice.f as number))
      }
      this.placing.get(sessionId)?.done()
      return
    }
    if (notice.d === 1) {
      const cursor = this.cursors.get(sessionId)
      // Already moved on to a newer life of the session: nothing to drop.
      if (cursor !== undefined && cursor.epoch !== '' && cursor.epoch !== epoch) return
      this.reset(sessionId, epoch)
      return
    }
    const first = notice.f
    const last = notice.q
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return
    if (!this.interested(sessionId)) {
      // Nobody here listens: only keep a known cursor current, read nothing.
      const cursor = this.cursors.get(sessionId)
      if (cursor === undefined) return
      if (cursor.epoch !== epoch && cursor.epoch !== '') this.reset(sessionId, cursor.epoch)
      else cursor.seq = Math.max(cursor.seq, last as number)
      return
    }
    if (!this.cursors.has(sessionId)) this.cursor(sessionId, epoch, first as number)
    this.placing.get(sessionId)?.done()
    this.pull(sessionId, epoch, first as number, last as number)
  }

  /**
   * Reads a notified range from the events table and delivers it. Notices
   * that arrive while a read for the session is running only raise its
   * target, so a burst costs a few reads, not one per notice.
   */
  private pull(sessionId: string, epoch: string, first: number, last: number): void {
    const running = this.pulls.get(sessionId)
    if (running !== undefined && running.epoch === epoch) {
      running.last = Math.max(running.last, last)
      return
    }
    const state = { epoch, first, last }
    this.pulls.set(sessionId, state)
    const run = async () => {
      try {
        for (;;) {
          const target = state.last
          await this.deliver(sessionId, state.epoch, state.first, undefined, target)
          if (state.last === target) return
        }
      } finally {
        if (this.pulls.get(sessionId) === state) this.pulls.delete(sessionId)
      }
    }
    run().catch(this.o.reportError)
  }

  // After a LISTEN connection came back: catch up on the sessions listened to.
  private async resync(): Promise<void> {
    for (const [sessionId, cursor] of [...this.cursors]) {
      if (!this.interested(sessionId)) continue
      const { rows } = await this.o.client.query<{ seq: unknown; epoch: string }>(
        this.o.sql.sessionHead,
        [sessionId],
      )
      const head = rows[0]
      if (head === undefined || (cursor.epoch !== '' && head.epoch !== cursor.epoch)) {
        this.reset(sessionId, cursor.epoch)
        continue
      }
      await this.deliver(sessionId, head.epoch, cursor.seq + 1, undefined, Number(head.seq))
    }
  }
}
