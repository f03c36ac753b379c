import type { SqlTx } from './sql-client.js'

/**
 * The advisory lock every claim of one table prefix takes before it counts
 * the running tasks. The counts must see every claim committed while this
 * one waited, so they need READ COMMITTED: under a server default of
 * repeatable read the snapshot would be taken by the lock statement itself.
 * Such a server is detected on the first claim (its transaction is retried)
 * and gets the isolation set first from then on.
 */
export class ClaimLock {
  private setIsolation = false

  constructor(private readonly statement: string) {}

  /** Takes the lock in `tx` (the transaction's first statements). */
  async take(tx: SqlTx): Promise<void> {
    if (this.setIsolation) await tx.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
    const { rows } = await tx.query<{ iso: string }>(this.statement)
    if (rows[0]?.iso === 'read committed') return
    this.setIsolation = true
    // A serialization failure: the transaction is rolled back and tried again.
    throw Object.assign(new Error('session-tasks: a claim needs READ COMMITTED'), { code: '40001' })
  }
}
