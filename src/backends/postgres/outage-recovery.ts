import type { EventGap, SequencedEvent } from '../../events/event.js'
import { rowToEvent } from '../records.js'
import {
  type Cursor,
  type CursorTable,
  pause,
  READ_ATTEMPTS,
  RETRY_BASE_MS,
} from './cursor-table.js'
import type { SqlClient } from './sql-client.js'
import type { Statements } from './statements.js'

// How often the recovery point moves forward while LISTEN is healthy.
const CAPTURE_MS = 10_000
// Live notices held back while catching up; past this, their sessions are
// told of a gap instead.
const MAX_DEFERRED = 100_000

/**
 * Where a LISTEN outage began, as a transaction id: every transaction older
 * than the point committed while this process was listening (its notice
 * arrived), so after a reconnect only rows written by newer transactions
 * can hold events that were missed, in sessions this process may never
 * have heard of. The point is the oldest running transaction id
 * (`pg_snapshot_xmin`), captured every 10 s; an outage recovers from the
 * capture before the last one, so a notice still in flight when the last
 * capture was taken is covered too.
 */
export class OutageRecovery {
  private previous: string | undefined
  private last: string | undefined
  private down = false
  // Bumped by every failure, so a catch-up that overlapped a new outage
  // keeps the older point.
  private generation = 0
  private chain: Promise<void> = Promise.resolve()
  private deferred: string[] = []
  private readonly overflowed = new Set<string>()
  /** True while a catch-up runs: notices of sessions without a cursor wait. */
  recovering = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = true

  constructor(
    private readonly client: SqlClient,
    private readonly reportError: (error: unknown) => void,
  ) {}

  /** Begins capturing (LISTEN is up). */
  async start(): Promise<void> {
    this.stopped = false
    this.down = false
    this.previous = undefined
    this.last = undefined
    await this.capture()
    this.schedule()
  }

  /** Stops capturing. */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The LISTEN connection failed: the point stays where it was until recovery. */
  markDown(): void {
    this.down = true
    this.generation++
  }

  /** Holds a live notice back until the catch-up is done. */
  defer(sessionId: string, payload: string): void {
    if (this.deferred.length < MAX_DEFERRED) this.deferred.push(payload)
    else this.overflowed.add(sessionId)
  }

  /**
   * Catches up after a reconnect (one catch-up at a time), replays the
   * notices held back meanwhile, then moves the point on unless the
   * connection failed again in between.
   */
  recover(
    deps: CatchUpDeps,
    hooks: CatchUpHooks & { replay: (payload: string) => void },
  ): Promise<void> {
    const run = async () => {
      const generation = this.generation
      this.recovering = true
      try {
        await catchUpPatiently(deps, this.point, hooks)
      } finally {
        this.recovering = false
        const held = this.deferred
        this.deferred = []
        for (const payload of held) hooks.replay(payload)
        for (const sessionId of this.overflowed) {
          deps.gap({ sessionId, after: deps.cursors.get(sessionId)?.seq ?? 0 })
        }
        this.overflowed.clear()
      }
      if (this.generation === generation) await this.resume()
    }
    this.chain = this.chain.then(run, run)
    return this.chain
  }

  /** The point to recover from after an outage (undefined before the first capture). */
  get point(): string | undefined {
    return this.previous ?? this.last
  }

  // LISTEN is back and the missed rows were read: capture afresh.
  private async resume(): Promise<void> {
    this.down = false
    this.previous = undefined
    this.last = undefined
    await this.capture()
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      const next = this.down ? Promise.resolve() : this.capture()
      void next.finally(() => this.schedule())
    }, CAPTURE_MS)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private async capture(): Promise<void> {
    try {
      const { rows } = await this.client.query<{ x: string }>(
        'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x',
      )
      const x = rows[0]?.x
      if (x === undefined || this.down) return
      this.previous = this.last
      this.last = x
    } catch (error) {
      this.reportError(error)
    }
  }
}

/** What {@link catchUp} needs from the relay. */
export type CatchUpDeps = {
  client: SqlClient
  sql: Statements
  cursors: CursorTable
  interested: (sessionId: string) => boolean
  reset: (sessionId: string, epoch: string) => void
  pull: (sessionId: string, epoch: string, first: number, last: number) => void
  open: (sessionId: string, epoch: string, first: number) => Cursor | undefined
  emitRead: (
    sessionId: string,
    cursor: Cursor,
    events: readonly SequencedEvent[],
    through: number,
  ) => void
  gap: (gap: EventGap) => void
}

/** How {@link catchUpPatiently} reports and when it stops. */
export type CatchUpHooks = {
  reportError: (error: unknown) => void
  stillListening: () => boolean
}

/**
 * After a LISTEN outage: catches up on the sessions followed here (from
 * their cursors), then on sessions this process had no cursor for that
 * were written since the recovery point (a subscribeAll listener wants
 * those too, from their first event after the point).
 */
export async function catchUp(deps: CatchUpDeps, point: string | undefined): Promise<void> {
  const { client, sql, cursors } = deps
  const known = cursors.entries()
  const before = new Set(known.map(([sessionId]) => sessionId))
  for (const [sessionId, cursor] of known) {
    if (!deps.interested(sessionId)) continue
    const { rows } = await client.query<{ seq: unknown; epoch: string }>(sql.sessionHead, [
      sessionId,
    ])
    const head = rows[0]
    if (head === undefined || (cursor.epoch !== '' && head.epoch !== cursor.epoch)) {
      deps.reset(sessionId, cursor.epoch)
      continue
    }
    deps.pull(sessionId, head.epoch, cursor.seq + 1, Number(head.seq))
  }
  if (point === undefined) return
  const { rows } = await client.query<{ session_id: string; seq: unknown; epoch: string }>(
    sql.sessionsSince,
    [point],
  )
  for (const row of rows) {
    const sessionId = row.session_id
    if (before.has(sessionId) || !deps.interested(sessionId)) continue
    if (cursors.tombstoned(sessionId, row.epoch)) continue
    const head = Number(row.seq)
    const found = await client.query<{ seq: unknown; type: string; payload: string; lo: unknown }>(
      sql.eventsSince,
      [sessionId, row.epoch, point, head],
    )
    const events = found.rows.map(rowToEvent)
    // The events since the point begin at the oldest one stored: those before
    // it may have been written since the point too, then trimmed or pruned.
    const trimmed =
      events[0] !== undefined && events[0].seq === Number(found.rows[0]?.lo) && events[0].seq > 1
    const placed = cursors.get(sessionId)
    if (placed !== undefined) {
      // A write of this process placed a cursor meanwhile (live notices
      // wait): what came before its start cannot go out in order any more.
      const first = events[0]?.seq
      if (first !== undefined && first <= placed.start) {
        deps.gap({ sessionId, after: first - 1, through: placed.start })
      }
      continue
    }
    const cursor = deps.open(sessionId, row.epoch, events[0]?.seq ?? head + 1)
    if (cursor === undefined) continue
    if (trimmed) deps.gap({ sessionId, after: 0, through: cursor.seq })
    deps.emitRead(sessionId, cursor, events, head)
  }
}

/** {@link catchUp}, retried with backoff while the database is unreachable; gaps after the last try. */
export async function catchUpPatiently(
  deps: CatchUpDeps,
  point: string | undefined,
  hooks: CatchUpHooks,
): Promise<void> {
  for (let failures = 0; hooks.stillListening(); ) {
    try {
      await catchUp(deps, point)
      return
    } catch (error) {
      hooks.reportError(error)
      if (++failures >= READ_ATTEMPTS) {
        // Every followed session is told instead.
        for (const [sessionId, cursor] of deps.cursors.entries()) {
          if (deps.interested(sessionId)) deps.gap({ sessionId, after: cursor.seq })
        }
        return
      }
      await pause(RETRY_BASE_MS * 4 ** failures)
    }
  }
}
