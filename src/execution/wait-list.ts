/** A task waiting for a concurrency slot. */
export type QueuedTask = {
  readonly key: string
  readonly sessionId: string
  readonly taskId: string
  readonly kind: string
  /** The attempt it waits to start; another process that moved it on took it over. */
  readonly attempt?: number | undefined
  /** The error kind a failing start records. @default 'start_failed' */
  readonly failKind?: string | undefined
}

/** Whether the limits leave room in a session, and for a kind. */
export type Room = {
  session(sessionId: string): boolean
  kind(kind: string): boolean
}

type Entry = { readonly task: QueuedTask; readonly seq: number; live: boolean }

// The tasks of one session and kind, first in first out: they are blocked or
// free together, so the list moves whole groups, never scans tasks.
type Group = {
  readonly key: string
  readonly sessionId: string
  readonly kind: string
  items: Entry[]
  head: number
  // Its current node in its kind's heap; older nodes of it there are stale.
  node: Node | undefined
}

// A heap node keeps the key it was pushed with: a group's head moves on
// while it sits in the heap, so the node is checked when it reaches the top.
type Node = { readonly g: Group; readonly seq: number }

/** A binary min-heap. */
class Heap<T> {
  private readonly items: T[] = []
  constructor(private readonly before: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length
  }
  peek(): T | undefined {
    return this.items[0]
  }
  push(item: T): void {
    const a = this.items
    a.push(item)
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1
      if (!this.before(a[i] as T, a[up] as T)) break
      ;[a[i], a[up]] = [a[up] as T, a[i] as T]
      i = up
    }
  }
  pop(): T | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      for (let i = 0; ; ) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.before(a[l] as T, a[m] as T)) m = l
        if (r < a.length && this.before(a[r] as T, a[m] as T)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m] as T, a[i] as T]
        i = m
      }
    }
    return top
  }
}

const headSeq = (g: Group) => (g.items[g.head] as Entry).seq

/**
 * The supervisor's wait list: `next()` takes the oldest task whose session
 * and kind both have room, in O(log n) amortised, however long the list and
 * whichever limits bind. Each kind keeps a heap of its groups (by their
 * oldest task); a kind's best head goes into one heap across kinds; a group
 * whose session is full is parked with its session until a slot there frees.
 * Everything is checked lazily, when it reaches the top.
 */
export class WaitList {
  private seq = 0
  private live = 0
  private readonly entries = new Map<string, Entry>()
  private readonly groups = new Map<string, Group>()
  private readonly bySession = new Map<string, Set<Group>>()
  private readonly kinds = new Map<string, Heap<Node>>()
  private readonly parked = new Map<string, Set<Group>>()
  private readonly top = new Heap<{ kind: string; seq: number }>((a, b) => a.seq < b.seq)
  // The seq of each kind's one valid entry in `top`; other entries are stale.
  private readonly announced = new Map<string, number>()

  constructor(private readonly room: Room) {}

  /** Live tasks on the list. */
  get size(): number {
    return this.live
  }

  /** True while the task is on the list. */
  has(key: string): boolean {
    return this.entries.has(key)
  }

  /** Appends a task; a task already on the list keeps its place. */
  add(task: QueuedTask): void {
    if (this.entries.has(task.key)) return
    const entry: Entry = { task, seq: ++this.seq, live: true }
    this.entries.set(task.key, entry)
    this.live++
    const key = `${task.sessionId}\u0000${task.kind}`
    let group = this.groups.get(key)
    if (group === undefined) {
      group = {
        key,
        sessionId: task.sessionId,
        kind: task.kind,
        items: [],
        head: 0,
        node: undefined,
      }
      this.groups.set(key, group)
      let own = this.bySession.get(task.sessionId)
      if (own === undefined) {
        own = new Set()
        this.bySession.set(task.sessionId, own)
      }
      own.add(group)
      group.items.push(entry)
      this.place(group)
    } else {
      group.items.push(entry)
    }
  }

  /** Takes the task off the list; false when it was not on it. */
  remove(key: string): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    entry.live = false
    this.entries.delete(key)
    this.live--
    return true
  }

  /** Keys of the session's tasks on the list, oldest first. */
  keysIn(sessionId: string): string[] {
    const found: Entry[] = []
    for (const g of this.bySession.get(sessionId) ?? []) {
      for (let i = g.head; i < g.items.length; i++) {
        const e = g.items[i] as Entry
        if (e.live) found.push(e)
      }
    }
    return found.sort((a, b) => a.seq - b.seq).map((e) => e.task.key)
  }

  /** True when some task on the list has room now (global limits aside). */
  hasStartable(): boolean {
    return this.best() !== undefined
  }

  /** Removes and returns the oldest task that has room now, if any. */
  next(): QueuedTask | undefined {
    const group = this.best()
    if (group === undefined) return undefined
    this.kinds.get(group.kind)?.pop()
    group.node = undefined
    const entry = group.items[group.head++] as Entry
    this.remove(entry.task.key)
    this.place(group)
    this.announce(group.kind)
    return entry.task
  }

  /** A slot of `sessionId` and `kind` came free: what it blocked may move again. */
  freed(sessionId: string, kind: string): void {
    const waiting = this.parked.get(sessionId)
    if (waiting !== undefined && this.room.session(sessionId)) {
      this.parked.delete(sessionId)
      for (const g of waiting) this.place(g)
    }
    this.announce(kind)
  }

  /** Forgets everything. */
  clear(): void {
    for (const entry of this.entries.values()) entry.live = false
    this.entries.clear()
    this.groups.clear()
    this.bySession.clear()
    this.kinds.clear()
    this.parked.clear()
    this.announced.clear()
    this.live = 0
    while (this.top.pop() !== undefined) {}
  }

  // Drops dead entries at the group's head; false (and the group forgotten)
  // when nothing live is left in it.
  private trim(g: Group): boolean {
    while (g.head < g.items.length && !(g.items[g.head] as Entry).live) g.head++
    if (g.head > 64 && g.head * 2 > g.items.length) {
      g.items = g.items.slice(g.head)
      g.head = 0
    }
    if (g.head < g.items.length) return true
    if (this.groups.get(g.key) === g) {
      this.groups.delete(g.key)
      const own = this.bySession.get(g.sessionId)
      own?.delete(g)
      if (own?.size === 0) this.bySession.delete(g.sessionId)
    }
    return false
  }

  // Puts a group where it belongs: in its kind's heap, or parked with its
  // full session.
  private place(g: Group): void {
    if (!this.trim(g)) return
    if (!this.room.session(g.sessionId)) {
      this.park(g)
      return
    }
    this.enheap(g)
    this.announce(g.kind)
  }

  private enheap(g: Group): void {
    let heap = this.kinds.get(g.kind)
    if (heap === undefined) {
      heap = new Heap((a, b) => a.seq < b.seq)
      this.kinds.set(g.kind, heap)
    }
    const node: Node = { g, seq: headSeq(g) }
    g.node = node
    heap.push(node)
  }

  private park(g: Group): void {
    let waiting = this.parked.get(g.sessionId)
    if (waiting === undefined) {
      waiting = new Set()
      this.parked.set(g.sessionId, waiting)
    }
    waiting.add(g)
  }

  // The kind's best group with room in its session, after dropping stale
  // nodes, emptied groups and groups of full sessions from the top.
  private cleanTop(kind: string): Node | undefined {
    const heap = this.kinds.get(kind)
    if (heap === undefined) return undefined
    for (;;) {
      const node = heap.peek()
      if (node === undefined) {
        this.kinds.delete(kind)
        this.announced.delete(kind)
        return undefined
      }
      const g = node.g
      if (g.node !== node) {
        heap.pop()
        continue
      }
      const live = this.trim(g)
      if (live && headSeq(g) === node.seq && this.room.session(g.sessionId)) return node
      heap.pop()
      g.node = undefined
      if (live && this.room.session(g.sessionId)) this.enheap(g)
      else if (live) this.park(g)
    }
  }

  // Makes sure the cross-kind heap holds the kind's current best head.
  private announce(kind: string): void {
    const node = this.cleanTop(kind)
    if (node === undefined || this.announced.get(kind) === node.seq) return
    this.announced.set(kind, node.seq)
    this.top.push({ kind, seq: node.seq })
    // While the global limit is full nothing pops: keep the stale entries
    // from piling up.
    if (this.top.size > 2 * this.announced.size + 64) this.rebuildTop()
  }

  private rebuildTop(): void {
    while (this.top.pop() !== undefined) {}
    for (const [kind, seq] of this.announced) this.top.push({ kind, seq })
  }

  // The group whose head is the oldest task with room.
  private best(): Group | undefined {
    for (;;) {
      const entry = this.top.peek()
      if (entry === undefined) return undefined
      if (this.announced.get(entry.kind) !== entry.seq) {
        this.top.pop()
        continue
      }
      // A full kind is announced again when one of its slots frees.
      const node = this.room.kind(entry.kind) ? this.cleanTop(entry.kind) : undefined
      if (node === undefined) {
        this.top.pop()
        this.announced.delete(entry.kind)
        continue
      }
      if (node.seq !== entry.seq) {
        this.top.pop()
        this.announced.set(entry.kind, node.seq)
        this.top.push({ kind: entry.kind, seq: node.seq })
        continue
      }
      return node.g
    }
  }
}
