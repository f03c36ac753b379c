import type { SqliteDriver } from './driver.js'

/** How long a write waits for another connection's write lock. */
export type BusyOptions = {
  /** In all, across tries; then the SQLITE_BUSY error is thrown. */
  readonly busyTimeoutMs: number
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs `step` again, after a growing pause (1 ms, doubling up to 50 ms),
 * while it fails with SQLITE_BUSY, for up to `busyTimeoutMs` in all. The
 * pauses are asynchronous: this process's other work goes on meanwhile,
 * where SQLite's own busy handler would block the event loop.
 */
export async function whileBusy<R>(
  driver: SqliteDriver,
  options: BusyOptions,
  step: () => R,
): Promise<R> {
  const until = Date.now() + options.busyTimeoutMs
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return step()
    } catch (error) {
      if (!driver.isBusy(error) || Date.now() >= until) throw error
    }
    await pause(wait)
  }
}

/**
 * Runs `body` in a `BEGIN IMMEDIATE` transaction (the write lock is taken
 * first, so the reads inside it see what the writes will be applied to),
 * commits, then calls `committed` synchronously, before anything else in
 * this process can start a transaction: events are handed over in commit
 * order. An error rolls everything back; SQLITE_BUSY is retried (see
 * {@link whileBusy}).
 */
export function immediate<R>(
  driver: SqliteDriver,
  options: BusyOptions,
  body: () => R,
  committed?: (result: R) => void,
): Promise<R> {
  return whileBusy(driver, options, () => {
    driver.exec('BEGIN IMMEDIATE')
    let result: R
    try {
      result = body()
      driver.exec('COMMIT')
    } catch (error) {
      try {
        driver.exec('ROLLBACK')
      } catch {
        // Already rolled back by SQLite (some errors end the transaction).
      }
      throw error
    }
    committed?.(result)
    return result
  })
}

/**
 * Runs `body` in a read transaction: one consistent view of the database
 * (WAL readers see the last commit before it began and never wait).
 */
export function reading<R>(driver: SqliteDriver, body: () => R): R {
  driver.exec('BEGIN')
  try {
    return body()
  } finally {
    driver.exec('COMMIT')
  }
}
