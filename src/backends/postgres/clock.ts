import type { SqlClient } from './sql-client.js'

/** A clock derived from the database's, shared by every process on it. */
export type DatabaseClock = {
  /** The current instant on the database's clock (never earlier than a previous reading). */
  now(): Date
  /** Measures the offset between this process's clock and the database's. */
  sync(): Promise<void>
  /** Re-measures every `intervalMs` until stopped (the timer never keeps the process alive). */
  start(intervalMs: number, onError: (error: unknown) => void): void
  /** Stops re-measuring. */
  stop(): void
}

/** The statement that reads the database's clock, in milliseconds since the epoch. */
export const DATABASE_CLOCK_QUERY =
  'SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms'

/**
 * A clock on the database's time: the offset to this process's clock is
 * measured with one query (half the round trip is credited to each leg), so
 * processes whose own clocks are skewed still agree to within a round trip.
 * Readings never go backwards, so `finishedAt` never precedes `startedAt`.
 */
export function createDatabaseClock(
  client: SqlClient,
  local: () => number = () => Date.now(),
): DatabaseClock {
  let offset = 0
  let last = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setInterval> | undefined
  const clock: DatabaseClock = {
    now() {
      const t = Math.max(last, local() + offset)
      last = t
      return new Date(t)
    },
    async sync() {
      const sent = local()
      const { rows } = await client.query<{ ms: unknown }>(DATABASE_CLOCK_QUERY)
      const received = local()
      const ms = Number(rows[0]?.ms)
      if (!Number.isFinite(ms)) return
      offset = ms - (sent + received) / 2
    },
    start(intervalMs, onError) {
      if (timer !== undefined) return
      timer = setInterval(() => {
        clock.sync().catch(onError)
      }, intervalMs)
      ;(timer as { unref?: () => void }).unref?.()
    },
    stop() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
    },
  }
  return clock
}
