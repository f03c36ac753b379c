import type { SqlClient } from './sql-client.js'

// One statement sends a batch of notices. Its commit need not wait for the
// WAL flush: a notice only says where rows are, and a lost one is found by
// the listeners' poll (see OutageRecovery).
const ANNOUNCE = `SELECT set_config('synchronous_commit', 'off', true) AS c, pg_notify($1, n) AS n FROM json_array_elements_text($2::json) AS n`
// Notices per statement: each is a short JSON object, far below NOTIFY's
// 8000-byte payload limit, and a batch stays one modest parameter.
const BATCH = 500

type Wire = { o: string; s: string; e: string; f: number; q: number }

type Batch = { notices: Map<string, Wire>; sent: Promise<void>; resolve: () => void }

/**
 * Tells other processes about committed writes with NOTIFY, after the
 * commit instead of inside it: PostgreSQL serialises the commits of
 * notifying transactions (WAL flush included) across the whole cluster, so
 * notifying inside every write would keep writers from sharing a flush.
 * Writes that commit while a batch is being sent are coalesced into the
 * next one, per session, so a burst costs a few statements.
 */
export class Announcer {
  private next: Batch | undefined
  private sending: Promise<void> | undefined

  constructor(
    private readonly client: SqlClient,
    private readonly channel: string,
    private readonly origin: string,
    private readonly reportError: (error: unknown) => void,
  ) {}

  /**
   * Queues the notice of a committed write (seqs `first`..`last` of a
   * session life); resolves once it was sent, or failed (never rejects).
   */
  add(sessionId: string, epoch: string, first: number, last: number): Promise<void> {
    let batch = this.next
    if (batch === undefined) {
      let resolve = () => {}
      const sent = new Promise<void>((done) => {
        resolve = done
      })
      batch = { notices: new Map(), sent, resolve }
      this.next = batch
    }
    const key = `${epoch}\u0000${sessionId}`
    const known = batch.notices.get(key)
    if (known !== undefined) {
      known.f = Math.min(known.f, first)
      known.q = Math.max(known.q, last)
    } else {
      batch.notices.set(key, { o: this.origin, s: sessionId, e: epoch, f: first, q: last })
    }
    this.sending ??= this.send()
    return batch.sent
  }

  /** Resolves when every queued notice was sent (or failed). */
  async idle(): Promise<void> {
    while (this.sending !== undefined) await this.sending
  }

  private async send(): Promise<void> {
    // Writes finishing in the same turn of the event loop share the first batch.
    await Promise.resolve()
    try {
      for (let batch = this.next; batch !== undefined; batch = this.next) {
        this.next = undefined
        const wires = [...batch.notices.values()]
        for (let i = 0; i < wires.length; i += BATCH) {
          const part = wires.slice(i, i + BATCH).map((wire) => JSON.stringify(wire))
          try {
            await this.client.query(ANNOUNCE, [this.channel, JSON.stringify(part)])
          } catch (error) {
            // Not retried: the listeners' poll finds these writes.
            this.reportError(error)
          }
        }
        batch.resolve()
      }
    } finally {
      this.sending = undefined
    }
  }
}
