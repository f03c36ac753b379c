import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import type { StoreEventSink } from '../../registry/store.js'
import { Announcer } from './announcer.js'
import type { Cursor } from './cursor-table.js'
import * as table from './cursor-table.js'
import { type Notice, parseNotice } from './notice.js'
import { type ChangedSession, OutageRecovery } from './outage-recovery.js'
import { Pulls } from './pulls.js'
import { queryEvents } from './rows.js'
import type { SqlClient } from './sql-client.js'
import type { Statements } from './statements.js'
import { WatchSet } from './watch-set.js'

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
 * other processes' writes when LISTEN/NOTIFY (or, for a lost notice, the
 * poll) says they exist, reading what is missing from the events table
 * first. It also sends the notices of this process's writes.
 */
export class EventRelay {
  private sink: StoreEventSink | undefined
  private readonly watches: WatchSet
  private readonly seen = new table.SeenSeqs()
  private readonly cursors = new table.CursorTable(
    (sessionId) => this.watches.has(sessionId) || this.pulls.has(sessionId),
    (sessionId, cursor) => this.seen.note(sessionId, cursor.epoch, cursor.seq),
  )
  private readonly recovery: OutageRecovery
  private readonly announcer: Announcer
  private readonly pulls: Pulls = new Pulls({
    active: () => this.listening !== undefined,
    deliver: (sessionId, epoch, first, last) =>
      this.deliver(sessionId, epoch, first, undefined, last),
    lose: (sessionId, epoch, through) => {
      const cursor = this.cursors.get(sessionId)
      if (cursor !== undefined && cursor.epoch === epoch) this.lose(sessionId, cursor, through)
    },
    reportError: (error) => this.o.reportError(error),
  })
  private listening: Promise<() => Promise<void>> | undefined

  constructor(private readonly o: EventRelayOptions) {
    this.recovery = new OutageRecovery(o.client, o.sql, o.reportError, {
      changed: (rows) => this.onChanged(rows),
      scope: () => (this.watches.watchingAll ? null : this.watches.names()),
    })
    this.announcer = new Announcer(o.client, o.channel, o.origin, o.reportError)
    this.watches = new WatchSet(
      () => this.recovery.latest,
      // Nobody here follows the session any more: forget where we were.
      (sessionId) => this.cursors.delete(sessionId),
    )
  }

  /** Where delivered events go. */
  attach(sink: StoreEventSink): void {
    this.sink = sink
  }

  /** Starts LISTEN; idempotent. */
  async start(): Promise<void> {
    this.listening ??= this.o.client.listen(this.o.channel, (payload) => this.onNotify(payload), {
      onError: (error) => {
        this.recovery.markDown()
        this.o.reportError(error)
      },
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
    await this.recovery.start()
  }

  /** Stops LISTEN. */
  async close(): Promise<void> {
    await this.announcer.idle()
    this.recovery.stop()
    const listening = this.listening
    this.listening = undefined
    if (listening === undefined) return
    const stop = await listening.catch(() => undefined)
    await stop?.()
  }

  /** Marks a session (or, with undefined, every session) as listened to here; returns the release. */
  watch(sessionId: string | undefined): () => void {
    return this.watches.add(sessionId)
  }

  private interested = (sessionId: string): boolean => this.watches.interested(sessionId)

  /** Counts of what the relay tracks (leak checks). */
  stats(): { trackedSessions: number; watchedSessions: number } {
    return { trackedSessions: this.cursors.size, watchedSessions: this.watches.size }
  }

  /**
   * Forgets a session locally (cursor, watch) and, unless the core is the one
   * deleting it, tells the core to drop its listeners and streams.
   */
  reset(sessionId: string, epoch: string | undefined, tellCore = true): void {
    this.cursors.bury(sessionId, epoch)
    this.seen.delete(sessionId)
    this.watches.forget(sessionId)
    if (tellCore) this.sink?.deleted(sessionId)
  }

  /** The cursor for a session in `epoch`, starting one at `first - 1` when there is none. */
  private cursor(sessionId: string, epoch: string, first: number): Cursor | undefined {
    if (this.cursors.tombstoned(sessionId, epoch)) return undefined
    return (
      this.current(sessionId, epoch) ??
      this.cursors.set(sessionId, { epoch, seq: first - 1, start: first - 1 })
    )
  }

  /** The session's cursor in `epoch`; an older life's is dropped (the session was deleted). */
  private current(sessionId: string, epoch: string): Cursor | undefined {
    const cursor = this.cursors.get(sessionId)
    if (cursor === undefined) return undefined
    if (cursor.epoch !== epoch) {
      if (cursor.epoch !== '') {
        // Deleted and recreated meanwhile (possibly by another process).
        this.reset(sessionId, cursor.epoch)
        return undefined
      }
      cursor.epoch = epoch
    }
    this.cursors.touch(sessionId, cursor)
    return cursor
  }

  /** True when the session's next write would place its first cursor (its writes must then be noted in seq order). */
  placesFromWrites(sessionId: string): boolean {
    return (
      this.listening === undefined && !this.cursors.has(sessionId) && this.interested(sessionId)
    )
  }

  /**
   * Called inside a write transaction, while the session's counter row is
   * locked, so allocations reach this point in seq order. Without LISTEN, a
   * followed session this process has not seen yet starts here.
   */
  noteAllocation(sessionId: string, epoch: string, first: number): void {
    // While listening, a first cursor is placed by a read instead (see place).
    if (this.listening !== undefined && !this.cursors.has(sessionId)) return
    if (this.interested(sessionId)) this.cursor(sessionId, epoch, first)
  }

  /**
   * Delivers the session's events up to the last of `local` (seqs from
   * `first`, a write of this process, whose notice it also sends), or up to
   * `last` when only notified: missing earlier events are read from the
   * events table first, so listeners see seq order.
   */
  async deliver(
    sessionId: string,
    epoch: string,
    first: number,
    local: readonly StoredEvent[] | undefined,
    last = first + (local?.length ?? 0) - 1,
  ): Promise<void> {
    if (local !== undefined) this.announcer.add(sessionId, epoch, first, last)
    const followed = this.interested(sessionId)
    if (local !== undefined && !followed && !this.cursors.has(sessionId)) {
      // Nobody here follows the session: hand the events over (global
      // listeners may still want them) without keeping a cursor.
      this.seen.note(sessionId, epoch, last)
      this.sink?.deliver(
        sessionId,
        local.map(
          (event, i) => ({ type: event.type, data: event.data, seq: first + i }) as SequencedEvent,
        ),
      )
      return
    }
    const inHand = local === undefined ? last + 1 : first
    if (
      this.listening !== undefined &&
      followed &&
      this.current(sessionId, epoch) === undefined &&
      !this.cursors.tombstoned(sessionId, epoch)
    ) {
      await this.place(sessionId, epoch, inHand - 1, local !== undefined)
    }
    let cursor =
      local === undefined ? this.current(sessionId, epoch) : this.cursor(sessionId, epoch, first)
    if (cursor === undefined || last <= cursor.seq) return
    if (cursor.seq + 1 < inHand) {
      const from = cursor.seq + 1
      let missing: SequencedEvent[] | undefined
      try {
        missing = await this.read(sessionId, epoch, from, inHand - 1)
      } catch (error) {
        // Notified only: the caller retries. A write of our own must still
        // deliver its events, so one more try, then the range is lost.
        if (local === undefined) throw error
        this.o.reportError(error)
        missing = await this.read(sessionId, epoch, from, inHand - 1).catch((again: unknown) => {
          this.o.reportError(again)
          return undefined
        })
      }
      cursor = this.cursors.get(sessionId)
      if (cursor === undefined || cursor.epoch !== epoch) {
        if (local === undefined) return
        cursor = this.cursor(sessionId, epoch, first)
        if (cursor === undefined) return
      }
      this.emitRead(sessionId, cursor, missing ?? [], inHand - 1)
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

  /**
   * Places a followed session's first cursor while listening, delivering
   * its events through `through` that committed since following began (from
   * the watch's recovery point, after what this process already knew).
   * Notices no longer arrive in commit order, so a notice's own range cannot
   * say where to start. A read that fails for a write of our own leaves the
   * cursor at `through` and reports the range as a gap.
   */
  private async place(
    sessionId: string,
    epoch: string,
    through: number,
    ownWrite: boolean,
  ): Promise<void> {
    const point = this.watches.pointOf(sessionId) ?? this.recovery.startPoint
    const floor = this.seen.floor(sessionId, epoch)
    let events: SequencedEvent[] = []
    let lost = false
    if (point !== undefined && through > floor) {
      try {
        const params = [sessionId, epoch, point, through, floor]
        events = await queryEvents(this.o.client, this.o.sql.eventsSince, params)
      } catch (error) {
        if (!ownWrite) throw error
        this.o.reportError(error)
        lost = true
      }
    }
    // Placed meanwhile by another delivery, which reads from there.
    if (this.cursors.has(sessionId) || this.cursors.tombstoned(sessionId, epoch)) return
    if (!this.interested(sessionId)) return
    const start = lost ? through : (events[0]?.seq ?? through + 1) - 1
    const cursor = this.cursors.set(sessionId, { epoch, seq: start, start })
    this.seen.delete(sessionId)
    if (lost) this.sink?.gap({ sessionId, after: floor, through })
    else this.emitRead(sessionId, cursor, events, through)
  }

  private emit(sessionId: string, cursor: Cursor, event: SequencedEvent): void {
    if (this.cursors.get(sessionId) !== cursor || event.seq <= cursor.seq) return
    cursor.seq = event.seq
    this.sink?.deliver(sessionId, [event])
  }

  /**
   * Delivers events read for the range up to `through`. Every seq in it was
   * committed (seqs are allocated in commit order), so one that did not come
   * back is gone for good (retention, a prune): the gap is reported, in
   * order, before the events that follow it.
   */
  private emitRead(
    sessionId: string,
    cursor: Cursor,
    events: readonly SequencedEvent[],
    through: number,
  ): void {
    for (const event of events) {
      if (event.seq > cursor.seq + 1) this.lose(sessionId, cursor, event.seq - 1)
      this.emit(sessionId, cursor, event)
    }
    this.lose(sessionId, cursor, through)
  }

  /** Skips the cursor to `through`, telling the core the events in between are lost. */
  private lose(sessionId: string, cursor: Cursor, through: number): void {
    if (this.cursors.get(sessionId) !== cursor || through <= cursor.seq) return
    const after = cursor.seq
    cursor.seq = through
    this.sink?.gap({ sessionId, after, through })
  }

  private read(sessionId: string, epoch: string, from: number, to: number) {
    return queryEvents(this.o.client, this.o.sql.events, [sessionId, epoch, from, to])
  }

  private onNotify(payload: string): void {
    if (this.listening === undefined) return
    let notice: Notice | undefined
    try {
      notice = parseNotice(payload)
    } catch (error) {
      this.o.reportError(error)
      return
    }
    if (notice === undefined) return
    const { sessionId, epoch, first, last } = notice
    // While catching up, a session without a cursor must not get one from a
    // live notice: catch-up delivers its earlier events first.
    if (this.recovery.recovering && !this.cursors.has(sessionId) && this.interested(sessionId)) {
      this.recovery.defer(sessionId, payload)
      return
    }
    // Our own writes are delivered by the write itself.
    if (notice.origin === this.o.origin) return
    if (notice.deleted) {
      const cursor = this.cursors.get(sessionId)
      // Already moved on to a newer life of the session: nothing to drop.
      if (cursor !== undefined && cursor.epoch !== '' && cursor.epoch !== epoch) return
      this.reset(sessionId, epoch)
      return
    }
    if (first === undefined || last === undefined) return
    if (!this.interested(sessionId)) {
      // Nobody here listens: only keep track of how far the session is, read nothing.
      const cursor = this.cursors.get(sessionId)
      if (cursor === undefined) this.seen.note(sessionId, epoch, last)
      else if (cursor.epoch !== epoch && cursor.epoch !== '') this.reset(sessionId, cursor.epoch)
      else cursor.seq = Math.max(cursor.seq, last)
      return
    }
    this.pulls.pull(sessionId, epoch, first, last)
  }

  /**
   * What the poll found written since its previous round: sessions followed
   * here whose cursor is behind (their notice is late or was lost) are read.
   */
  private onChanged(rows: readonly ChangedSession[]): void {
    for (const { sessionId, epoch, head } of rows) {
      if (!this.interested(sessionId) || this.cursors.tombstoned(sessionId, epoch)) continue
      const cursor = this.cursors.get(sessionId)
      if (
        cursor === undefined
          ? head <= this.seen.floor(sessionId, epoch)
          : cursor.epoch === epoch && cursor.seq >= head
      ) {
        continue
      }
      this.pulls.pull(sessionId, epoch, head, head)
    }
  }

  // After a LISTEN connection came back: catch up (see OutageRecovery).
  private resync(): Promise<void> {
    return this.recovery.recover(
      {
        client: this.o.client,
        sql: this.o.sql,
        cursors: this.cursors,
        interested: (sessionId) => this.interested(sessionId),
        floor: (sessionId, epoch) => this.seen.floor(sessionId, epoch),
        reset: (sessionId, epoch) => this.reset(sessionId, epoch),
        pull: (sessionId, epoch, first, last) => this.pulls.pull(sessionId, epoch, first, last),
        open: (sessionId, epoch, first) => this.cursor(sessionId, epoch, first),
        emitRead: (s, c, events, through) => this.emitRead(s, c, events, through),
        gap: (gap) => this.sink?.gap(gap),
      },
      {
        reportError: this.o.reportError,
        stillListening: () => this.listening !== undefined,
        replay: (payload) => this.onNotify(payload),
      },
    )
  }
}
