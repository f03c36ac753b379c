import type { TaskMessage } from '../model/schemas.js'

type Stored = { message: TaskMessage; order: number }

function before(a: Stored, b: Stored): boolean {
  return (
    a.message.createdAt < b.message.createdAt ||
    (a.message.createdAt === b.message.createdAt && a.order < b.order)
  )
}

/**
 * One task's messages, kept sorted by (createdAt, record order) so that
 * "newest N" and "first N after a cursor" are slices, not scans.
 */
export class MessageLog {
  private readonly items: Stored[] = []
  private readonly byId = new Map<string, Stored>()
  private nextOrder = 0

  get size(): number {
    return this.items.length
  }

  add(message: TaskMessage): void {
    const stored = { message, order: this.nextOrder++ }
    const last = this.items[this.items.length - 1]
    // A monotonic clock appends; only a clock that went backwards pays for a search.
    if (last === undefined || !before(stored, last)) this.items.push(stored)
    else this.items.splice(this.indexAfter(stored), 0, stored)
    this.byId.set(message.id, stored)
  }

  // First index whose item sorts after `probe`.
  private indexAfter(probe: Stored): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(probe, this.items[mid] as Stored)) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Without a cursor: the newest `limit` (all when unlimited). With one: the first `limit` after it. */
  list(limit: number | undefined, afterId: string | undefined): TaskMessage[] {
    let slice: Stored[]
    if (afterId === undefined) {
      slice =
        limit === undefined ? this.items : this.items.slice(Math.max(0, this.items.length - limit))
    } else {
      const cursor = this.byId.get(afterId)
      if (cursor === undefined) return []
      const start = this.indexAfter(cursor)
      slice = this.items.slice(start, limit === undefined ? undefined : start + limit)
    }
    return slice.map((s) => s.message)
  }
}
