import type { SqliteDriver } from './driver.js'

/** `PRAGMA synchronous` levels: when SQLite waits for the disk. */
export const SQLITE_SYNCHRONOUS = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const
/** One of {@link SQLITE_SYNCHRONOUS}. */
export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS)[number]

/** How the connection journals: its sync level, and how the WAL file is kept small. */
export type WalOptions = {
  driver: SqliteDriver
  /** Set on the connection: drivers differ in what they open with. */
  synchronous: SqliteSynchronous
  /** A full checkpoint is tried after this many commits of this connection. */
  checkpointEvery: number
  reportError: (error: unknown) => void
  /** The connection's `busy_timeout` outside checkpoints. */
  busyWaitMs: number
}

/** The WAL file is cut back to at most this many bytes whenever it restarts. */
export const JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024
/** How long a checkpoint may wait inside SQLite for writers and readers to move on. */
const CHECKPOINT_WAIT_MS = 50
/** Commits of one connection between two full checkpoints. */
export const CHECKPOINT_EVERY_COMMITS = 1000

/**
 * Keeps the WAL file bounded. SQLite's automatic checkpoint only copies
 * pages back; the file is written from its start again only when no
 * connection is reading it, and with several processes that write and poll
 * without pause some connection nearly always is: measured, three writers at
 * `synchronous = NORMAL` grew it by more than 100 MB a second. So every
 * `checkpointEvery` commits this connection asks for a TRUNCATE checkpoint,
 * which waits (SQLite's busy wait, a few ms) until readers are on the latest
 * snapshot, copies everything back and empties the file; when it cannot get
 * there in time it is tried again after the next `checkpointEvery` commits.
 */
export class WalKeeper {
  private commits = 0

  constructor(private readonly o: WalOptions) {
    // better-sqlite3 opens a file already in WAL mode at NORMAL, node:sqlite
    // at FULL: the registry says which, so durability does not depend on the driver.
    o.driver.exec(`PRAGMA synchronous = ${o.synchronous}`)
    o.driver.exec(`PRAGMA journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
  }

  /** Counts a commit of this connection; checkpoints when it is time. Call outside a transaction. */
  committed(): void {
    this.commits++
    if (this.commits < this.o.checkpointEvery) return
    this.commits = 0
    this.checkpoint()
  }

  /** Tries a TRUNCATE checkpoint now; true when the WAL was emptied. */
  checkpoint(): boolean {
    try {
      this.o.driver.exec(`PRAGMA busy_timeout = ${CHECKPOINT_WAIT_MS}`)
      const row = this.o.driver.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()
      // busy = 1: a reader or writer was still there; the next try may get through.
      return Number(row?.busy ?? 1) === 0
    } catch (error) {
      if (!this.o.driver.isBusy(error)) this.o.reportError(error)
      return false
    } finally {
      this.o.driver.exec(`PRAGMA busy_timeout = ${this.o.busyWaitMs}`)
    }
  }
}
