import { type QueuedTask, WaitList } from './wait-list.js'

export type { QueuedTask } from './wait-list.js'

/** Concurrency limits; every given limit applies at once. */
export type ConcurrencyLimits = {
  /** Most tasks started by this supervisor running at once. */
  global?: number | undefined
  /** Most running at once per session. */
  perSession?: number | undefined
  /** Most running at once per task kind. */
  perKind?: number | undefined
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
  private readonly waiting: WaitList
  // Tasks taken off the wait list whose start is still being prepared (the
  // registry is async): a cancel or a terminal write in that gap revokes the claim.
  private readonly starting = new Map<string, Claim>()
  private closed = false
  private pumping = false
  private pumpAgain = false

  constructor(deps: AdmissionDeps) {
    this.deps = deps
    const { perSession, perKind } = deps.limits
    this.waiting = new WaitList({
      session: (sessionId) =>
        perSession === undefined || (this.bySession.get(sessionId) ?? 0) < perSession,
      kind: (kind) => perKind === undefined || (this.byKind.get(kind) ?? 0) < perKind,
    })
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
        this.waiting.freed(sessionId, kind)
      },
    }
  }

  /** True when a waiting task could start now (a new task must queue behind it). */
  hasStartable(): boolean {
    if (this.waiting.size === 0) return false
    const { global } = this.deps.limits
    if (global !== undefined && this.active >= global) return false
    return this.waiting.hasStartable()
  }

  /** Puts a task at the end of the wait list (a task already on it keeps its place). */
  enqueue(task: QueuedTask): void {
    this.waiting.add(task)
  }

  /** True while the task waits or its start is being prepared. */
  tracks(key: string): boolean {
    return this.starting.has(key) || this.waiting.has(key)
  }

  /** Keys of the tasks of `sessionId` on the wait list. */
  waitingIn(sessionId: string): string[] {
    return this.waiting.keysIn(sessionId)
  }

  /** Takes the task off the wait list or revokes its start; true when it had not started. */
  withdraw(key: string): boolean {
    const claim = this.starting.get(key)
    if (claim !== undefined) {
      claim.revoked = true
      return true
    }
    return this.waiting.remove(key)
  }

  /** Starts waiting tasks the limits now allow, on a later microtask. */
  schedule(): void {
    if (this.waiting.size > 0 && !this.closed) queueMicrotask(() => void this.pump())
  }

  /** Empties the wait list and starts nothing more. */
  close(): void {
    this.closed = true
    this.waiting.clear()
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
        while (!this.closed) {
          // Nothing more can start once the global limit is reached.
          if (global !== undefined && this.active >= global) break
          const next = this.waiting.next()
          if (next === undefined) break
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
