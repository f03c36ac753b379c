/** Concurrency limits; every given limit applies at once. */
export type ConcurrencyLimits = {
  /** Most tasks started by this supervisor running at once. */
  global?: number | undefined
  /** Most running at once per session. */
  perSession?: number | undefined
  /** Most running at once per task kind. */
  perKind?: number | undefined
}

/** A task waiting for a concurrency slot. */
export type QueuedTask = {
  readonly key: string
  readonly sessionId: string
  readonly taskId: string
  readonly kind: string
  /** The error kind a failing start records. @default 'start_failed' */
  readonly failKind?: string | undefined
}

/** One taken concurrency slot. */
export type Slot = {
  /** Gives the slot back; later calls do nothing. */
  release(): void
}

/** Where running work takes its slot from. */
export type SlotSource = {
  /** Takes a slot for a task of `kind` in `sessionId`, whether or not the limits allow it. */
  take(sessionId: string, kind: string): Slot
}

/**
 * Gets a queued task ready to start (the admission holds a slot for it
 * meanwhile). Resolves with the start to run, or `undefined` when there is
 * nothing to start; `wanted` turns false once a cancel, a terminal write or
 * close has withdrawn the task.
 */
export type PrepareQueued = (
  task: QueuedTask,
  wanted: () => boolean,
) => Promise<(() => void) | undefined>

/** What {@link Admission} needs from the supervisor that owns it. */
export type AdmissionDeps = {
  limits: ConcurrencyLimits
  onError: (error: unknown, context: string) => void
  prepare: PrepareQueued
}

type Claim = { revoked: boolean }

const bump = (map: Map<string, number>, key: string, delta: number) => {
  const next = (map.get(key) ?? 0) + delta
  if (next <= 0) map.delete(key)
  else map.set(key, next)
}

/**
 * Concurrency admission: counts the slots in use against the limits and
 * starts waiting tasks first in, first out as slots free up.
 */
export class Admission implements SlotSource {
  private readonly deps: AdmissionDeps
  private active = 0
  private readonly bySession = new Map<string, number>()
  private readonly byKind = new Map<string, number>()
  private readonly waiting: QueuedTask[] = []
  // The keys on the wait list, so membership checks do not scan it.
  private readonly waitingKeys = new Set<string>()
  // Tasks taken off the wait list whose start is still being prepared (the
  // registry is async): a cancel or a terminal write in that gap revokes the claim.
  private readonly starting = new Map<string, Claim>()
  private closed = false
  private pumping = false
  private pumpAgain = false

  constructor(deps: AdmissionDeps) {
    this.deps = deps
  }

  /** True when a task of `kind` in `sessionId` may start within the limits. */
  canStart(sessionId: string, kind: string): boolean {
    const { limits } = this.deps
    return (
      (limits.global === undefined || this.active < limits.global) &&
      (limits.perSession === undefined ||
        (this.bySession.get(sessionId) ?? 0) < limits.perSession) &&
      (limits.perKind === undefined || (this.byKind.get(kind) ?? 0) < limits.perKind)
    )
  }

  /** Takes a slot, whether or not the limits allow it. */
  take(sessionId: string, kind: string): Slot {
    this.active++
    bump(this.bySession, sessionId, 1)
    bump(this.byKind, kind, 1)
    let held = true
    return {
      release: () => {
        if (!held) return
        held = false
        this.active--
        bump(this.bySession, sessionId, -1)
        bump(this.byKind, kind, -1)
      },
    }
  }

  /** True when a waiting task could start now (a new task must queue behind it). */
  hasStartable(): boolean {
    if (this.waiting.length === 0) return false
    // The common case of a long wait list: the global limit blocks them all.
    const { global } = this.deps.limits
    if (global !== undefined && this.active >= global) return false
    return this.waiting.some((w) => this.canStart(w.sessionId, w.kind))
  }

  /** Puts a task at the end of the wait list. */
  enqueue(task: QueuedTask): void {
    if (this.waitingKeys.has(task.key)) return
    this.waiting.push(task)
    this.waitingKeys.add(task.key)
  }

  /** True while the task waits or its start is being prepared. */
  tracks(key: string): boolean {
    return this.starting.has(key) || this.waitingKeys.has(key)
  }

  /** Keys of the tasks of `sessionId` on the wait list. */
  waitingIn(sessionId: string): string[] {
    return this.waiting.filter((w) => w.sessionId === sessionId).map((w) => w.key)
  }

  /** Takes the task off the wait list or revokes its start; true when it had not started. */
  withdraw(key: string): boolean {
    const claim = this.starting.get(key)
    if (claim !== undefined) {
      claim.revoked = true
      return true
    }
    if (!this.waitingKeys.has(key)) return false
    const index = this.waiting.findIndex((w) => w.key === key)
    if (index === -1) return false
    this.waiting.splice(index, 1)
    this.waitingKeys.delete(key)
    return true
  }

  /** Starts waiting tasks the limits now allow, on a later microtask. */
  schedule(): void {
    if (this.waiting.length > 0 && !this.closed) queueMicrotask(() => void this.pump())
  }

  /** Empties the wait list and starts nothing more. */
  close(): void {
    this.closed = true
    this.waiting.length = 0
    this.waitingKeys.clear()
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true
      return
    }
    this.pumping = true
    try {
      do {
        this.pumpAgain = false
        const { global } = this.deps.limits
        for (let i = 0; i < this.waiting.length && !this.closed; ) {
          // Nothing more can start once the global limit is reached: stop
          // scanning (a long wait list would make every release O(n)).
          if (global !== undefined && this.active >= global) break
          const next = this.waiting[i] as QueuedTask
          if (!this.canStart(next.sessionId, next.kind)) {
            i++
            continue
          }
          this.waiting.splice(i, 1)
          this.waitingKeys.delete(next.key)
          // Hold the slot while reading, so no other start overtakes it.
          const slot = this.take(next.sessionId, next.kind)
          const claim: Claim = { revoked: false }
          this.starting.set(next.key, claim)
          const wanted = () => !claim.revoked && !this.closed
          let start: (() => void) | undefined
          try {
            start = await this.deps.prepare(next, wanted)
          } catch (error) {
            this.deps.onError(error, `starting queued task '${next.taskId}'`)
          }
          // The start takes a slot of its own: hand this one back first.
          slot.release()
          this.starting.delete(next.key)
          if (start !== undefined && wanted()) start()
        }
      } while (this.pumpAgain && !this.closed)
    } catch (error) {
      this.deps.onError(error, 'starting queued tasks')
    } finally {
      this.pumping = false
    }
  }
}
