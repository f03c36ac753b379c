import type { SessionTask } from '../../model/schemas.js'

/** A record as this process last wrote or read it, with its row's version and insertion number. */
export type CachedRecord = {
  readonly task: SessionTask
  readonly version: string
  readonly ord: string
}

/**
 * The records this process wrote last, so its next write of the same task
 * (a worker reporting progress, then finishing) can skip the read: the
 * guarded statement checks the version anyway, and a stale entry only costs
 * one write that matches nothing, then a read. A decision that writes
 * nothing is never trusted from here (the store reads and decides again).
 * Bounded: the least recently used entries go first.
 */
export class RecordCache {
  private readonly entries = new Map<string, CachedRecord>()

  constructor(private readonly max: number) {}

  /** The entry of a task of `sessionId`, if any (and now the most recently used). */
  get(sessionId: string, taskId: string): CachedRecord | undefined {
    const entry = this.entries.get(taskId)
    if (entry === undefined || entry.task.sessionId !== sessionId) return undefined
    this.entries.delete(taskId)
    this.entries.set(taskId, entry)
    return entry
  }

  /** Remembers what the row now holds. */
  set(entry: CachedRecord): void {
    const id = entry.task.id
    this.entries.delete(id)
    this.entries.set(id, entry)
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
  }

  /** Forgets a task (its row changed elsewhere, or is gone). */
  forget(taskId: string): void {
    this.entries.delete(taskId)
  }
}

/** The version a row has after one more update of it. */
export const nextVersion = (version: string): string => (BigInt(version) + 1n).toString()
