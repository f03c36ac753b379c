import type { SequencedEvent, StoredEvent } from '../../events/event.js'
import type { StoreEventSink } from '../../registry/store.js'
import { rowToEvent } from '../records.js'
import { WatchSet } from '../watch-set.js'
import type { Cursor } from './cursor-table.js'
import * as table from './cursor-table.js'
import { type Notice, parseNotice } from './notice.js'
import { OutageRecovery } from './outage-recovery.js'
import type { SqlClient } from './sql-client.js'
import type { Statements } from './statements.js'

// How long a write waits for its own notice to place a session's first cursor.
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
  private readonly watches = new WatchSet()
  private readonly cursors = new table.CursorTable(
    (sessionId) => this.watches.has(sessionId) || this.pulls.has(sessionId),
  )
  private readonly recovery: OutageRecovery
  private readonly pulls = new Map<string, { epoch: string; first: number; last: number }>()
  // Local writes to a followed session that has no cursor yet, waiting for a
  // notice (their own, at the latest) to say where the session stands.
  private readonly placing = new table.Placements(OWN_NOTICE_WAIT_MS)
  // While listening: the last seq of own writes handed to the core, per session, until
  // their notice comes back; it tells a notice of an already delivered write from a newer one.
  private readonly ownHandled = new Map<string, number>()
  private listening: Promise<() => Promise<void>> | undefined

  constructor(private readonly o: EventRelayOptions) {
    this.recovery = new OutageRecovery(o.client, o.reportError)
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
    this.ownHandled.clear()
    this.recovery.stop()
    const listening = this.listening
    this.listening = undefined
    if (listening === undefined) return
    const stop = await listening.catch(() => undefined)
    await stop?.()
  }

  /** Marks a session (or, with undefined, every session) as listened to here; returns the release. */
  watch(sessionId: string | undefined): () => void {
    return this.watches.add(sessionId, (released) => {
      // Nobody here follows the session any more: forget where we were.
      if (released !== undefined && !this.watches.everySession) this.cursors.delete(released)
    })
  }

  private interested(sessionId: string): boolean {
    return this.watches.follows(sessionId)
  }

  /** Counts of what the relay tracks, for leak checks. */
  stats(): { trackedSessions: number; watchedSessions: number } {
    return { trackedSessions: this.cursors.size, watchedSessions: this.watches.size }
  }

  /**
   * Forgets a session locally (cursor, watch) and, unless the core is the one
   * deleting it, tells the core to drop its listeners and streams.
   */
  reset(sessionId: string, epoch: string | undefined, tellCore = true): void {
    this.cursors.bury(sessionId, epoch)
    this.placing.done(sessionId)
    this.watches.delete(sessionId)
    if (tellCore) this.sink?.deleted(sessionId)
  }

  /** The cursor for a session in `epoch`, starting one at `first - 1` when there is none. */
  private cursor(sessionId: string, epoch: string, first: number): Cursor | undefined {
    if (this.cursors.tombstoned(sessionId, epoch)) return undefined
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
      return this.cursors.set(sessionId, { epoch, seq: first - 1, start: first - 1 })
    }
    this.cursors.touch(sessionId, cursor)
    return cursor
  }

  /**
   * Called inside a write transaction, while the session's counter row is
   * locked, so allocations reach this point in seq order. A session this
   * process has not seen yet starts here.
   */
  /** True when the session's next write would place its first cursor (its writes must then be noted in seq order). */
  placesFromWrites(sessionId: string): boolean {
    return (
      this.listening === undefined && !this.cursors.has(sessionId) && this.interested(sessionId)
    )
  }

  noteAllocation(sessionId: string, epoch: string, first: number): void {
    // While listening, a first cursor is placed by notices only (see Placements).
    if (this.listening !== undefined && !this.cursors.has(sessionId)) return
    if (this.interested(sessionId)) this.cursor(sessionId, epoch, first)
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
      await this.placing.wait(sessionId)
    }
    let cursor = this.cursor(sessionId, epoch, first)
    if (cursor === undefined || last <= cursor.seq) return
    const inHand = local === undefined ? last + 1 : first
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

  private async read(sessionId: string, epoch: string, from: number, to: number) {
    const { rows } = await this.o.client.query<{ seq: unknown; type: string; payload: string }>(
      this.o.sql.events,
      [sessionId, epoch, from, to],
    )
    return rows.map(rowToEvent)
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
    if (notice.origin === this.o.origin) {
      // Our own writes are delivered by the write itself; their notices only
      // place a followed session's first cursor (just before them).
      const handled = this.ownHandled.get(sessionId)
      if (handled !== undefined && last !== undefined && last >= handled) {
        this.ownHandled.delete(sessionId)
      }
      if (
        !notice.deleted &&
        !this.cursors.has(sessionId) &&
        this.interested(sessionId) &&
        first !== undefined &&
        last !== undefined
      ) {
        // Own writes handed over before anyone followed the session: start
        // after the last of them (later notices of those are then old news).
        const delivered = handled !== undefined && handled >= last
        this.cursor(sessionId, epoch, delivered ? handled + 1 : first)
      }
      this.placing.done(sessionId)
      return
    }
    if (notice.deleted) {
      const cursor = this.cursors.get(sessionId)
      // Already moved on to a newer life of the session: nothing to drop.
      if (cursor !== undefined && cursor.epoch !== '' && cursor.epoch !== epoch) return
      this.reset(sessionId, epoch)
      return
    }
    if (first === undefined || last === undefined) return
    if (!this.interested(sessionId)) {
      // Nobody here listens: only keep a known cursor current, read nothing.
      const cursor = this.cursors.get(sessionId)
      if (cursor === undefined) return
      if (cursor.epoch !== epoch && cursor.epoch !== '') this.reset(sessionId, cursor.epoch)
      else cursor.seq = Math.max(cursor.seq, last)
      return
    }
    if (!this.cursors.has(sessionId)) this.cursor(sessionId, epoch, first)
    this.placing.done(sessionId)
    this.pull(sessionId, epoch, first, last)
  }

  /**
   * Reads a notified range from the events table and delivers it. Notices
   * that arrive while a read for the session is running only raise its
   * target, so a burst costs a few reads, not one per notice. A read that
   * keeps failing is retried with backoff, then reported as a gap.
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
        for (let failures = 0; this.listening !== undefined; ) {
          const target = state.last
          try {
            await this.deliver(sessionId, state.epoch, state.first, undefined, target)
            failures = 0
          } catch (error) {
            this.o.reportError(error)
            if (++failures < table.READ_ATTEMPTS) {
              await table.pause(table.RETRY_BASE_MS * 4 ** (failures - 1))
              continue
            }
            failures = 0
            const cursor = this.cursors.get(sessionId)
            if (cursor !== undefined && cursor.epoch === state.epoch) {
              this.lose(sessionId, cursor, target)
            }
          }
          if (state.last === target) return
        }
      } finally {
        if (this.pulls.get(sessionId) === state) this.pulls.delete(sessionId)
      }
    }
    run().catch(this.o.reportError)
  }

  // After a LISTEN connection came back: catch up (see OutageRecovery).
  private resync(): Promise<void> {
    return this.recovery.recover(
      {
        client: this.o.client,
        sql: this.o.sql,
        cursors: this.cursors,
        interested: (sessionId) => this.interested(sessionId),
        reset: (sessionId, epoch) => this.reset(sessionId, epoch),
        pull: (sessionId, epoch, first, last) => this.pull(sessionId, epoch, first, last),
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
