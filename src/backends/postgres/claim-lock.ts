import type { SqlClient, SqlTx } from './sql-client.js'

/**
 * The advisory lock every claim of one table prefix takes before it counts
 * the running tasks. The counts must see every claim committed while this
 * one waited, so they need READ COMMITTED: under a server default of
 * repeatable read the snapshot would be taken by the lock statement itself.
 * Such a server is detected on the first claim, or the first serialization
 * failure of any write (it is retried), and from then on every write runs
 * with the isolation set first (see `run`).
 */
export class ClaimLock {
  private strict = false

  constructor(private readonly statement: string) {}

  /** Notes a failed try: a serialization failure only happens on a strict server. */
  noteFailure(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === '40001') this.strict = true
  }

  /**
   * Runs a write: as one statement, or (on a strict server, or when asked
   * for a transaction) in a READ COMMITTED transaction, where concurrent
   * writes of one session wait for each other on its counter row instead of
   * failing.
   */
  run<R>(client: SqlClient, body: (db: SqlTx) => Promise<R>, inTransaction = false): Promise<R> {
    if (!this.strict && !inTransaction) return body(client)
    return client.transaction(async (tx) => {
      await this.begin(tx)
      return body(tx)
    })
  }

  /**
   * Starts a locking transaction: READ COMMITTED set first on a strict
   * server (a locking read-modify-write needs no more, and a stricter level
   * fails it whenever the row changed since the snapshot).
   */
  async begin(tx: SqlTx): Promise<void> {
    if (this.strict) await tx.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
  }

  /** Takes the lock in `tx` (the transaction's first statements). */
  async take(tx: SqlTx): Promise<void> {
    await this.begin(tx)
    const { rows } = await tx.query<{ iso: string }>(this.statement)
    if (rows[0]?.iso === 'read committed') return
    this.strict = true
    // A serialization failure: the transaction is rolled back and tried again.
    throw Object.assign(new Error('session-tasks: a claim needs READ COMMITTED'), { code: '40001' })
  }
}
