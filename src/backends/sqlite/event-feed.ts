import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import { startTimer } from '../../execution/timer.js'
import type { StoreEventSink } from '../../registry/store.js'
import { rowToEvent } from '../records.js'
import { WatchSet } from '../watch-set.js'
import type { SqliteDriver, SqliteRow } from './driver.js'
import type { SqliteStatements } from './statements.js'

/** What the feed needs from its store. */
export type EventFeedOptions = {
  driver: SqliteDriver
  sql: SqliteStatements
  /** This process's id on the rows it writes. */
  origin: string
  reportError: (error: unknown) => void
}

/**
 * What waits for delivery, in gid order: a row read from the table, one of
 * this process's own events (handed over at its commit), or a deletion of
 * its own (which only moves the feed past its marker).
 */
type FeedRow =
  | { gid: number; sessionId: string; seq: number; row: SqliteRow }
  | { gid: number; sessionId: string; own: SequencedEvent }
  | { gid: number; sessionId: string; ownDeletion: true }

// Sessions whose last seq is remembered while everything is watched; the
// least recently seen are forgotten first (they then restart without a gap check).
const MAX_TRACKED = 10_000
// Rows read per query while catching up.
const BATCH = 500
// The longest pause between polls that keep failing.
const MAX_RETRY_MS = 1000

/**
 * Delivers a SQLite database's committed events to this process in commit
 * order, each once. Every process reads one feed, the events table in `gid`
 * order: SQLite has one writer at a time, so gid order is commit order and
 * a reader never sees a later row before an earlier one. This process's own
 * writes hand their events over right after their commit, after the rows
 * other processes committed before them; other processes' rows arrive when
 * `PRAGMA data_version` says the file changed, checked every poll interval.
 * A session's seq that jumps means its rows went (retention, prune) before
 * they were read: that is reported as a gap.
 */
export class EventFeed {
  private sink: StoreEventSink | undefined
  // The last row handed over, and the last row read (rows between are in `unsent`).
  private gid: number
  private readThrough: number
  private unsent: FeedRow[] = []
  private head = 0
  private dataVersion: number
  private readonly last = new Map<string, number>()
  private readonly watches = new WatchSet()
  private stopPolling: (() => void) | undefined

  constructor(private readonly o: EventFeedOptions) {
    // Delivery starts now: what was committed before is history (streams replay it).
    this.dataVersion = this.readDataVersion()
    let head: unknown
    try {
      head = o.driver.prepare(o.sql.feedHead).get()?.gid
    } catch (error) {
      throw new Error(
        `session-tasks: cannot read the SQLite events table (${String((error as Error)?.message ?? error)}); run migrate(driver) with the same prefix first`,
        { cause: error },
      )
    }
    this.gid = Number(head ?? 0)
    this.readThrough = this.gid
  }

  /** Where delivered events go. */
  attach(sink: StoreEventSink): void {
    this.sink = sink
  }

  /**
   * Polls for other processes' commits every `intervalMs`; idempotent. A
   * poll that keeps failing (a connection closed under the registry) is
   * reported once per distinct error, and retried less and less often (up
   * to once a second) until one succeeds.
   */
  start(intervalMs: number): void {
    if (this.stopPolling !== undefined) return
    let stopped = false
    let cancel = () => {}
    let delay = intervalMs
    let lastFailure: string | undefined
    const tick = () => {
      if (stopped) return
      try {
        this.poll()
        delay = intervalMs
        lastFailure = undefined
      } catch (error) {
        const text = String((error as Error)?.message ?? error)
        if (text !== lastFailure) this.o.reportError(error)
        lastFailure = text
        delay = Math.min(Math.max(delay, 1) * 2, Math.max(intervalMs, MAX_RETRY_MS))
      }
      cancel = startTimer(delay, tick)
    }
    cancel = startTimer(intervalMs, tick)
    this.stopPolling = () => {
      stopped = true
      cancel()
    }
  }

  /** Stops polling. */
  stop(): void {
    this.stopPolling?.()
    this.stopPolling = undefined
  }

  /** Marks a session (or, with undefined, every session) as listened to here; returns the release. */
  watch(sessionId: string | undefined): () => void {
    return this.watches.add(sessionId, (released) => {
      // Remembered seqs are for gap checks of followed sessions only.
      if (released === undefined) {
        for (const id of this.last.keys()) if (!this.watches.has(id)) this.last.delete(id)
      } else if (!this.watches.everySession) this.last.delete(released)
    })
  }

  /** Counts of what the feed tracks, for leak checks. */
  stats(): { trackedSessions: number; watchedSessions: number } {
    return { trackedSessions: this.last.size, watchedSessions: this.watches.size }
  }

  private interested(sessionId: string): boolean {
    return this.watches.follows(sessionId)
  }

  private readDataVersion(): number {
    return Number(this.o.driver.prepare('PRAGMA data_version').get()?.data_version ?? 0)
  }

  /**
   * Inside a write transaction: reads the rows other processes committed
   * since this process last read the feed (none when the file did not
   * change). They are handed over by {@link EventFeed.flush} or
   * {@link EventFeed.committed}, before the write's own events, whether or
   * not the write commits: they are committed already.
   */
  pending(): void {
    const version = this.readDataVersion()
    if (version === this.dataVersion) return
    this.readAll()
    // Only once everything is read: a read that failed is tried again next time.
    this.dataVersion = version
  }

  /** Delivers what other processes committed, when the file changed since the last look. */
  poll(): void {
    this.pending()
    this.flush()
  }

  private readAll(): void {
    for (;;) {
      const rows = this.o.driver.prepare(this.o.sql.feed).all(this.readThrough, BATCH)
      for (const row of rows) {
        const gid = Number(row.gid)
        this.readThrough = gid
        const sessionId = row.session_id as string
        const seq = Number(row.seq)
        // Kept only if it may be delivered: a long backlog of sessions nobody
        // here follows costs no memory.
        if (row.origin === this.o.origin || (seq !== 0 && !this.interested(sessionId))) continue
        this.unsent.push({ gid, sessionId, seq, row })
      }
      if (rows.length < BATCH) return
    }
  }

  /** Hands over the rows read and not yet delivered, in gid order. */
  flush(): void {
    // One queue for every caller: a listener that writes flushes the rest
    // of it (in order) before its own events, and this loop then finds it done.
    while (this.head < this.unsent.length) {
      const row = this.unsent[this.head++] as FeedRow
      try {
        this.emitRow(row)
      } catch (error) {
        // A row this process cannot read (another writer's) must not fail
        // the write whose commit is delivering it: it is lost here, said so.
        this.gid = Math.max(this.gid, row.gid)
        this.o.reportError(error)
        if ('seq' in row && this.interested(row.sessionId)) {
          this.sink?.gap({ sessionId: row.sessionId, after: row.seq - 1, through: row.seq })
          this.last.set(row.sessionId, row.seq)
        }
      }
    }
    this.unsent = []
    this.head = 0
  }

  /**
   * After a commit: hands over the rows read before it, then the write's
   * own events (seqs from `first`, gids from `firstGid`); a deletion of its
   * own (`deleted`) only moves the feed past its marker. Both join the one
   * queue: a listener that writes while these are delivered hands over the
   * rest of them before its own.
   */
  committed(
    own:
      | { sessionId: string; first: number; firstGid: number; events: readonly StoredEvent[] }
      | undefined,
    deleted?: { sessionId: string; gid: number } | undefined,
  ): void {
    if (own !== undefined) {
      const lastGid = own.firstGid + own.events.length - 1
      this.readThrough = Math.max(this.readThrough, lastGid)
      own.events.forEach((event, i) => {
        const seq = own.first + i
        this.unsent.push({
          gid: own.firstGid + i,
          sessionId: own.sessionId,
          own: { type: event.type, data: event.data, seq } as SequencedEvent,
        })
      })
    }
    if (deleted !== undefined) {
      this.readThrough = Math.max(this.readThrough, deleted.gid)
      this.unsent.push({ gid: deleted.gid, sessionId: deleted.sessionId, ownDeletion: true })
    }
    this.flush()
  }

  private emitRow(item: FeedRow): void {
    const { gid, sessionId } = item
    if (gid <= this.gid) return
    if ('own' in item) {
      this.emit(gid, sessionId, true, item.own)
      return
    }
    if ('ownDeletion' in item) {
      this.gid = gid
      this.forgetSession(sessionId)
      return
    }
    const { seq, row } = item
    if (row.origin === this.o.origin) {
      // Our own, already handed over when it committed (or forgotten with a deleted session).
      this.gid = gid
      return
    }
    if (seq === 0) {
      this.gid = gid
      this.forgetSession(sessionId)
      this.sink?.deleted(sessionId)
      return
    }
    if (!this.interested(sessionId)) {
      this.gid = gid
      return
    }
    this.emit(
      gid,
      sessionId,
      false,
      rowToEvent(row as { seq: unknown; type: string; payload: string }),
    )
  }

  // A deleted session's listeners went with it: nothing here follows it now.
  private forgetSession(sessionId: string): void {
    this.last.delete(sessionId)
    this.watches.delete(sessionId)
  }

  private emit(gid: number, sessionId: string, own: boolean, event: SequencedEvent): void {
    if (gid <= this.gid) return
    this.gid = gid
    const tracked = this.interested(sessionId)
    const last = this.last.get(sessionId)
    if (last !== undefined) {
      // Lower: a later life of a session whose deletion marker this process never read.
      if (event.seq <= last && !own) return
      if (event.seq > last + 1) this.sink?.gap({ sessionId, after: last, through: event.seq - 1 })
      this.last.delete(sessionId)
    }
    if (tracked) {
      this.last.set(sessionId, event.seq)
      if (this.last.size > MAX_TRACKED) {
        const oldest = this.last.keys().next().value as string
        this.last.delete(oldest)
      }
    }
    this.sink?.deliver(sessionId, [event])
  }
}
