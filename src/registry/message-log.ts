import type { TaskMessage } from '../model/schemas.js'

/**
 * One task's messages, kept sorted by (createdAt, record order) so that
 * "newest N" and "first N after a cursor" are slices, not scans. Messages
 * are stored as they are (frozen, no wrapper); the id index that serves
 * cursors is built on the first cursor read, since most logs never get one.
 */
export class MessageLog {
  private readonly items: TaskMessage[] = []
  // id -> index in `items`; dropped when an out-of-order insert shifts them.
  private byId: Map<string, number> | undefined

  /** How many messages the log holds. */
  get size(): number {
    return this.items.length
  }

  /** Appends a message; one stamped before the newest goes after every message up to its time. */
  add(message: TaskMessage): void {
    const last = this.items[this.items.length - 1]
    // A monotonic clock appends; only a clock that went backwards pays for a search.
    if (last === undefined || last.createdAt <= message.createdAt) {
      this.items.push(message)
      this.byId?.set(message.id, this.items.length - 1)
    } else {
      this.items.splice(this.firstAfter(message.createdAt), 0, message)
      this.byId = undefined
    }
  }

  // First index whose message is stamped after `at`.
  private firstAfter(at: string): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.items[mid] as TaskMessage).createdAt > at) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Without a cursor: the newest `limit` (all when unlimited). With one: the first `limit` after it. */
  list(limit: number | undefined, afterId: string | undefined): TaskMessage[] {
    if (afterId === undefined) {
      return limit === undefined
        ? this.items.slice()
        : this.items.slice(Math.max(0, this.items.length - limit))
    }
    if (this.byId === undefined) {
      this.byId = new Map()
      for (let i = 0; i < this.items.length; i++) {
        this.byId.set((this.items[i] as TaskMessage).id, i)
      }
    }
    const cursor = this.byId.get(afterId)
    if (cursor === undefined) return []
    const start = cursor + 1
    return this.items.slice(start, limit === undefined ? undefined : start + limit)
  }
}
