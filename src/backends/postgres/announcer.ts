import type { SqlClient } from './sql-client.js'

// One statement sends a batch of notices. Its commit need not wait for the
// WAL flush: a notice only says where rows are, and a lost one is found by
// the listeners' poll (see OutageRecovery).
const ANNOUNCE = `SELECT set_config('synchronous_commit', 'off', true) AS c, pg_notify($1, n) AS n FROM json_array_elements_text($2::json) AS n`
// Notices per statement: each is a short JSON object, far below NOTIFY's
// 8000-byte payload limit, and a batch stays one modest parameter.
const BATCH = 500

type Wire = { o: string; s: string; e: string; f: number; q: number }

// How long notices gather before a batch goes out: a busy process sends a
// few statements per window instead of one per write, for a few ms of latency.
const GATHER_MS = 3

/**
 * Tells other processes about committed writes with NOTIFY, after the
 * commit instead of inside it: PostgreSQL serialises the commits of
 * notifying transactions (WAL flush included) across the whole cluster, so
 * notifying inside every write would keep writers from sharing a flush.
 * Notices gather for a few ms (and while a batch is out), one per session
 * and batch, spanning its seqs; writes never wait for them.
 */
export class Announcer {
  private pending = new Map<string, Wire>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private sending: Promise<void> | undefined

  constructor(
    private readonly client: SqlClient,
    private readonly channel: string,
    private readonly origin: string,
    private readonly reportError: (error: unknown) => void,
  ) {}

  /** Queues the notice of a committed write: seqs `first`..`last` of a session life. */
  add(sessionId: string, epoch: string, first: number, last: number): void {
    const key = `${epoch}\u0000${sessionId}`
    const known = this.pending.get(key)
    if (known !== undefined) {
      known.f = Math.min(known.f, first)
      known.q = Math.max(known.q, last)
    } else {
      this.pending.set(key, { o: this.origin, s: sessionId, e: epoch, f: first, q: last })
    }
    if (this.timer === undefined && this.sending === undefined) {
      this.timer = setTimeout(() => this.flush(), GATHER_MS)
      ;(this.timer as { unref?: () => void }).unref?.()
    }
  }

  /** Sends what is queued now and resolves when every notice was sent (or failed). */
  async idle(): Promise<void> {
    if (this.timer !== undefined) this.flush()
    while (this.sending !== undefined) await this.sending
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.sending ??= this.send()
  }

  private async send(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const wires = [...this.pending.values()].slice(0, BATCH)
        for (const wire of wires) this.pending.delete(`${wire.e}\u0000${wire.s}`)
        const part = wires.map((wire) => JSON.stringify(wire))
        try {
          await this.client.query(ANNOUNCE, [this.channel, JSON.stringify(part)])
        } catch (error) {
          // Not retried: the listeners' poll finds these writes.
          this.reportError(error)
        }
      }
    } finally {
      this.sending = undefined
    }
  }
}
