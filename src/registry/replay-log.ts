import type { SequencedEvent, StoredEvent } from '../events/event.js'

/** One session's event numbering and its buffered recent events. */
export type SessionLog = {
  /** The seq of the session's last event (0 before the first). */
  seq: number
  // Buffered events in seq order from index `start`; the slots before it are
  // spent and reclaimed in batches, so dropping the oldest is O(1).
  events: (SequencedEvent | undefined)[]
  start: number
  /** The highest seq no longer buffered: a replay from below it could miss events. */
  floor: number
  dead: boolean
}

/**
 * Creates an empty session log. A session that lived before (deleted, or
 * pruned empty) continues after its last seq with one number left out, so a
 * cursor from the earlier life is below the floor and gets a snapshot instead
 * of the new life's events from the middle (SPEC 12.5).
 */
export function newSessionLog(previousSeq = 0): SessionLog {
  const start = previousSeq === 0 ? 0 : previousSeq + 1
  return { seq: start, events: [], start: 0, floor: start, dead: false }
}

/**
 * The last seq of sessions that no longer hold state, so a new life of the
 * same session id continues after it. Bounded: the oldest are forgotten
 * first, and a session forgotten here starts again at 1.
 */
export class SessionTombstones {
  private readonly last = new Map<string, number>()

  constructor(private readonly capacity = 10_000) {}

  /** Remembers the last seq of a session that is being dropped. */
  bury(sessionId: string, seq: number): void {
    if (seq === 0) return
    this.last.delete(sessionId)
    this.last.set(sessionId, seq)
    if (this.last.size > this.capacity) {
      const oldest = this.last.keys().next().value as string
      this.last.delete(oldest)
    }
  }

  /**
   * Where a session without state stands: the seq its next life starts
   * after (its last seq plus the number left out), or 0 when none is
   * remembered.
   */
  head(sessionId: string): number {
    const seq = this.last.get(sessionId)
    return seq === undefined ? 0 : seq + 1
  }

  /** The last seq of a session's previous life (0 when none is remembered), forgetting it. */
  exhume(sessionId: string): number {
    const seq = this.last.get(sessionId) ?? 0
    this.last.delete(sessionId)
    return seq
  }
}

function dropOldest(log: SessionLog): void {
  // Never lower the floor: a prune may already have raised it past this event.
  log.floor = Math.max(log.floor, (log.events[log.start] as SequencedEvent).seq)
  log.events[log.start++] = undefined
  if (log.start > 1024 && log.start * 2 > log.events.length) {
    log.events = log.events.slice(log.start)
    log.start = 0
  }
}

/**
 * Numbers events per session and keeps the recent ones for `stream({ since })`
 * under two bounds: at most `perSession` events of one session and at most
 * `total` across the registry, the oldest evicted first. Memory then follows
 * the budget, not the number of sessions ever seen. An evicted cursor falls
 * back to a snapshot.
 */
export class ReplayLog {
  // The buffered events in global append order, as (log, seq) pairs kept in
  // two arrays; entries whose event already left its log are skipped.
  private logs: (SessionLog | undefined)[] = []
  private seqs: number[] = []
  private head = 0
  private retained = 0

  constructor(
    private readonly perSession: number,
    private readonly total: number,
  ) {}

  /** How many events are buffered across all sessions. */
  get size(): number {
    return this.retained
  }

  /** Numbers `events` after the log's last seq, buffers them and returns them sequenced. */
  append(log: SessionLog, events: readonly StoredEvent[]): SequencedEvent[] {
    const out: SequencedEvent[] = new Array(events.length)
    const keep = this.perSession > 0 && this.total > 0
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as StoredEvent
      const seq = ++log.seq
      // Shaped like the hub's delivery record (a payload slot), so the hub
      // can deliver it as it is instead of wrapping it again.
      const sequenced = {
        type: event.type,
        data: event.data,
        seq,
        payload: undefined,
      } as SequencedEvent
      out[i] = sequenced
      if (!keep) {
        log.floor = seq
        continue
      }
      log.events.push(sequenced)
      this.logs.push(log)
      this.seqs.push(seq)
      this.retained++
      if (log.events.length - log.start > this.perSession) {
        dropOldest(log)
        this.retained--
      }
    }
    while (this.retained > this.total && this.evictOne()) {}
    if (this.logs.length - this.head > 2 * this.retained + 1024) this.compact()
    return out
  }

  private evictOne(): boolean {
    while (this.head < this.logs.length) {
      const log = this.logs[this.head] as SessionLog
      const seq = this.seqs[this.head] as number
      this.logs[this.head++] = undefined
      if (log.dead) continue
      const first = log.events[log.start]
      if (first === undefined || first.seq > seq) continue
      dropOldest(log)
      this.retained--
      return true
    }
    return false
  }

  // Drops spent entries of the global order so it stays proportional to what is buffered.
  private compact(): void {
    const logs: (SessionLog | undefined)[] = []
    const seqs: number[] = []
    for (let i = this.head; i < this.logs.length; i++) {
      const log = this.logs[i] as SessionLog
      const seq = this.seqs[i] as number
      const first = log.events[log.start]
      if (log.dead || first === undefined || first.seq > seq) continue
      logs.push(log)
      seqs.push(seq)
    }
    this.logs = logs
    this.seqs = seqs
    this.head = 0
  }

  /**
   * The buffered events after `after` (through `through` when given), or
   * `undefined` when the log cannot serve that cursor (too old, or ahead of
   * the last event).
   */
  read(log: SessionLog | undefined, after: number, through?: number): SequencedEvent[] | undefined {
    const last = log?.seq ?? 0
    if (after > last || after < 0) return undefined
    if (after === last) return []
    if (log === undefined || after < log.floor) return undefined
    const { events } = log
    let lo = log.start
    let hi = events.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((events[mid] as SequencedEvent).seq <= after) lo = mid + 1
      else hi = mid
    }
    let end = events.length
    if (through !== undefined) {
      while (end > lo && (events[end - 1] as SequencedEvent).seq > through) end--
    }
    return events.slice(lo, end) as SequencedEvent[]
  }

  /** Drops the buffered events of removed tasks; replays from before them get a snapshot. */
  forget(log: SessionLog, taskIds: ReadonlySet<string>): void {
    const kept: SequencedEvent[] = []
    for (let i = log.start; i < log.events.length; i++) {
      const event = log.events[i] as SequencedEvent
      if (taskIds.has(taskIdOf(event))) {
        log.floor = Math.max(log.floor, event.seq)
        this.retained--
      } else {
        kept.push(event)
      }
    }
    log.events = kept
    log.start = 0
  }

  /** Releases a session's log for good. */
  close(log: SessionLog): void {
    log.dead = true
    this.retained -= log.events.length - log.start
    log.events = []
    log.start = 0
  }
}

/** The task an event is about. */
export function taskIdOf(event: StoredEvent): string {
  switch (event.type) {
    case 'task.created':
    case 'task.updated':
      return event.data.id
    default:
      return event.data.taskId
  }
}
