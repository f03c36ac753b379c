import type { PruneOptions } from '../model/scan-schemas.js'
import { HousekeepingOptionsSchema } from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import type { ReapOptions } from './reaper.js'
import type { TimerSource } from './timer.js'

/** The passes housekeeping runs, each as the supervisor exposes it. */
export type HousekeepingPasses = {
  /** One deadline pass: enforces the stored deadlines of every task (SPEC 12.4). */
  deadlines(limit: number): Promise<unknown>
  /** One reap pass. */
  reap(options: ReapOptions): Promise<unknown>
  /** One retention pass. */
  prune(options: PruneOptions): Promise<unknown>
}

/** What {@link Housekeeping} needs from the supervisor that owns it. */
export type HousekeepingDeps = {
  clock: () => Date
  onError: (error: unknown, context: string) => void
  passes: HousekeepingPasses
  timers: TimerSource
}

const DAY_MS = 24 * 60 * 60 * 1000

/** Periodic deadline, reap and prune passes, all stopped at once by {@link Housekeeping.stopAll}. */
export class Housekeeping {
  private readonly deps: HousekeepingDeps
  private readonly stops = new Set<() => void>()

  constructor(deps: HousekeepingDeps) {
    this.deps = deps
  }

  /** Validates `options` and runs the deadline, reap and prune passes every interval; returns the stop function. */
  start(options: unknown): () => void {
    const { clock, passes } = this.deps
    const opts =
      options === undefined
        ? {}
        : parseInput(HousekeepingOptionsSchema, options, 'HousekeepingOptions')
    const report =
      (opts.onError as ((error: unknown, context: string) => void) | undefined) ?? this.deps.onError
    const retainMs = opts.retainFinishedMs ?? 30 * DAY_MS
    const limit = opts.limit ?? 50
    const steps: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
      ['housekeeping deadlines', () => passes.deadlines(limit)],
      [
        'housekeeping reap',
        () =>
          passes.reap({
            staleAfterMs: opts.staleAfterMs ?? 300_000,
            maxAttempts: opts.maxAttempts ?? 3,
            limit,
          }),
      ],
      [
        'housekeeping prune',
        () => passes.prune({ finishedBefore: new Date(clock().getTime() - retainMs), limit }),
      ],
    ]
    let running = false
    let stopped = false
    const pass = async () => {
      // A slow pass is not overlapped by the next tick.
      if (running) return
      running = true
      for (const [context, step] of steps) {
        // Stopped (or the supervisor closed) while a step was in flight: the
        // rest of the pass would only fail against a closed supervisor.
        if (stopped) break
        try {
          await step()
        } catch (error) {
          report(error, context)
        }
      }
      running = false
    }
    // Re-armed after each tick rather than setInterval, which fires every
    // millisecond past 2^31-1 ms; unref'd: housekeeping alone must not keep
    // the process alive.
    const intervalMs = opts.intervalMs ?? 60_000
    let cancel = () => {}
    const arm = () => {
      cancel = this.deps.timers.startTimer(
        intervalMs,
        () => {
          if (stopped) return
          arm()
          void pass()
        },
        { unref: true },
      )
    }
    arm()
    const stop = () => {
      stopped = true
      cancel()
      this.stops.delete(stop)
    }
    this.stops.add(stop)
    return stop
  }

  /** Stops every schedule started here. */
  stopAll(): void {
    for (const stop of [...this.stops]) stop()
  }
}
