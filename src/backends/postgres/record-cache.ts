import type { SessionTask } from '../../model/schemas.js'

/** A record as this process last wrote or read it, with its row's version and insertion number. */
export type CachedRecord = {
  readonly task: SessionTask
  readonly version: string
  readonly ord: string
  /** The length of the record's stored JSON text: what the cache budgets. */
  readonly bytes: number
}

// A record larger than this is not remembered; the cache holds at most
// MAX_TOTAL_BYTES of JSON text in all (about as much memory again as objects).
const MAX_RECORD_BYTES = 64 * 1024
const MAX_TOTAL_BYTES = 8 * 1024 * 1024

/**
 * The records this process wrote last, so its next write of the same task
 * (a worker reporting progress, then finishing) can skip the read: the
 * guarded statement checks the version anyway, and a stale entry only costs
 * one write that matches nothing, then a read. A decision that writes
 * nothing is never trusted from here (the store reads and decides again).
 * Bounded by count and by size (large records are never kept): the least
 * recently used entries go first.
 */
export class RecordCache {
  private readonly entries = new Map<string, CachedRecord>()
  private bytes = 0

  constructor(private readonly max: number) {}

  /** The entry of a task of `sessionId`, if any (and now the most recently used). */
  get(sessionId: string, taskId: string): CachedRecord | undefined {
    const entry = this.entries.get(taskId)
    if (entry === undefined || entry.task.sessionId !== sessionId) return undefined
    this.entries.delete(taskId)
    this.entries.set(taskId, entry)
    return entry
  }

  /** Remembers what the row now holds (forgets it when it is too large to keep). */
  set(entry: CachedRecord): void {
    const id = entry.task.id
    this.forget(id)
    if (entry.bytes > MAX_RECORD_BYTES) return
    this.entries.set(id, entry)
    this.bytes += entry.bytes
    while (this.entries.size > this.max || this.bytes > MAX_TOTAL_BYTES) {
      const oldest = this.entries.keys().next()
      if (oldest.done === true) break
      this.forget(oldest.value)
    }
  }

  /** Forgets a task (its row changed elsewhere, or is gone). */
  forget(taskId: string): void {
    const entry = this.entries.get(taskId)
    if (entry === undefined) return
    this.entries.delete(taskId)
    this.bytes -= entry.bytes
  }

  /** Forgets every task of a deleted session. */
  forgetSession(sessionId: string): void {
    for (const [id, entry] of this.entries) if (entry.task.sessionId === sessionId) this.forget(id)
  }

  /** How many records and how much JSON text are kept (for tests and metrics). */
  size(): { records: number; bytes: number } {
    return { records: this.entries.size, bytes: this.bytes }
  }
}

/** The version a row has after one more update of it. */
export const nextVersion = (version: string): string => (BigInt(version) + 1n).toString()
