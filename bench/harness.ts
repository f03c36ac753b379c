/**
 * Measurement plumbing shared by every section: batched tinybench tasks run
 * in interleaved rounds, GC pause time per case, per-round spread, heap
 * readings after GC, and the shapes that end up in bench/results.json.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { Bench } from 'tinybench'

/** True in the reduced smoke-test mode (`BENCH_QUICK=1`). */
export const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true'

/** One benchmarked operation; `i` counts calls, so operations can rotate inputs. */
export type Op = (i: number) => Promise<unknown>

/** Who did the work. */
export type Subject = 'floor' | 'session-tasks' | 'a2a' | 'mcp'

/** Every subject, in table order. */
export const SUBJECTS: readonly Subject[] = ['floor', 'session-tasks', 'a2a', 'mcp']

/** Column labels of the subjects. */
export const SUBJECT_LABELS: Record<Subject, string> = {
  floor: 'floor (Map + spread + freeze + mitt)',
  'session-tasks': 'session-tasks',
  a2a: 'A2A InMemoryTaskStore',
  mcp: 'MCP InMemoryTaskStore',
}

/** The statistics kept for one measured operation. */
export type Measurement = {
  /** Operations per second: 1000 / the mean of the batch means (ms per operation). */
  hz: number
  /** Relative margin of error of the mean, in percent (95%, Student's t). */
  rme: number
  /** Mean latency of one operation, in nanoseconds. */
  meanNs: number
  /** Median and p99 of the batch means, in nanoseconds per operation. */
  p50Ns: number
  p99Ns: number
  /** Samples (batches) measured, and operations per batch. */
  samples: number
  batch: number
  /** Ops/s of each round on its own (round order), for the spread of ratios. */
  roundsHz: number[]
  /** Time spent in measured batches, and GC pauses that started inside them, in ms. */
  runMs: number
  gcMs: number
  /** GC pauses during measured batches: all of them, and the major (mark-compact) ones. */
  gcCount: number
  majorGcMs: number
  /** `gcMs` as a percentage of `runMs`. */
  gcPct: number
}

/** Time per case (split over `rounds`), and warm-up before the first round. */
export type Budget = { timeMs: number; warmupMs: number; rounds: number }

/** A named case of a section (`key` is what results and reports refer to). */
export type Case = { key: string; op: Op }

// Each tinybench sample is the mean of a batch of calls: a single call of the
// fastest operations (~100 ns) is below what one timer read can resolve, and
// a batch long enough to include its share of young-generation GCs varies
// far less than single calls do.
const TARGET_BATCH_MS = 2
const MAX_BATCH = 20_000

const gc = (globalThis as { gc?: () => void }).gc

type GcEntry = { start: number; duration: number; major: boolean }
const gcEntries: GcEntry[] = []
let observer: PerformanceObserver | undefined

function collect(list: readonly PerformanceEntry[]): void {
  for (const e of list) {
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0
    gcEntries.push({
      start: e.startTime,
      duration: e.duration,
      major: kind === constants.NODE_PERFORMANCE_GC_MAJOR,
    })
  }
}

/** Starts recording GC pauses (once); entries reach the observer a macrotask later. */
function observeGc(): void {
  if (observer !== undefined) return
  observer = new PerformanceObserver((list) => collect(list.getEntries()))
  observer.observe({ entryTypes: ['gc'] })
}

/** Waits for the GC entries of what ran so far to arrive, and returns them all. */
async function flushGc(): Promise<readonly GcEntry[]> {
  await new Promise((resolve) => setTimeout(resolve, 5))
  if (observer !== undefined) collect(observer.takeRecords())
  return gcEntries
}

/**
 * Estimates the cost of `op` and picks a batch of ~2 ms: the fastest of a
 * few short runs, so a moment of load elsewhere does not shrink the batch.
 */
async function calibrate(op: Op, counter: { i: number }, runs = 4, ms = 5): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    let n = 0
    let elapsed = 0
    do {
      await op(counter.i++)
      n++
      elapsed = performance.now() - t0
    } while (elapsed < ms && n < MAX_BATCH)
    best = Math.min(best, elapsed / n)
  }
  return Math.max(1, Math.min(MAX_BATCH, Math.round(TARGET_BATCH_MS / best)))
}

const mean = (xs: readonly number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length

type Gc = { runMs: number; gcMs: number; gcCount: number; majorGcMs: number }

/** Statistics of per-operation latencies (ms), as tinybench computes them. */
function stats(rounds: number[][], batch: number, g: Gc): Measurement {
  const samples = rounds.flat()
  const n = samples.length
  const sorted = samples.slice().sort((a, b) => a - b)
  const m = mean(samples)
  const variance = n > 1 ? samples.reduce((sum, x) => sum + (x - m) ** 2, 0) / (n - 1) : 0
  const sem = Math.sqrt(variance / n)
  const q = (p: number) => {
    const at = (n - 1) * p
    const lo = Math.floor(at)
    const a = sorted[lo] ?? m
    const b = sorted[Math.min(n - 1, lo + 1)] ?? m
    return a + (b - a) * (at - lo)
  }
  return {
    hz: 1000 / m,
    rme: (100 * tCritical(n - 1) * sem) / m,
    meanNs: m * 1e6,
    p50Ns: q(0.5) * 1e6,
    p99Ns: q(0.99) * 1e6,
    samples: n,
    batch,
    roundsHz: rounds.filter((r) => r.length > 0).map((r) => 1000 / mean(r)),
    ...g,
    gcPct: g.runMs > 0 ? (100 * g.gcMs) / g.runMs : 0,
  }
}

/** Two-sided 95% critical value of Student's t. */
function tCritical(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
  if (df < 1) return Number.NaN
  if (df <= table.length) return table[df - 1] as number
  if (df <= 30) return 2.042 + (2.228 - 2.042) * ((30 - df) / 20)
  return df <= 120 ? 1.98 + (2.042 - 1.98) * ((120 - df) / 90) : 1.96
}

/** Sums the GC pauses that started inside each case's measured batches. */
function attributeGc(
  keys: readonly string[],
  windows: { t0: number; t1: number; key: number }[],
  entries: readonly GcEntry[],
): Gc[] {
  const out: Gc[] = keys.map(() => ({ runMs: 0, gcMs: 0, gcCount: 0, majorGcMs: 0 }))
  for (const w of windows) (out[w.key] as Gc).runMs += w.t1 - w.t0
  for (const e of entries) {
    // Windows are in time order and do not overlap: binary search the last one starting before.
    let lo = 0
    let hi = windows.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((windows[mid] as { t0: number }).t0 <= e.start) lo = mid + 1
      else hi = mid
    }
    const w = windows[lo - 1]
    if (w === undefined || e.start >= w.t1) continue
    const g = out[w.key] as Gc
    g.gcMs += e.duration
    g.gcCount++
    if (e.major) g.majorGcMs += e.duration
  }
  return out
}

/**
 * Runs each case as a tinybench task of batched calls and returns the
 * measurements by key. The time budget is split into rounds that run every
 * case in turn, each round from another starting case and in alternating
 * direction, so drift
 * or a burst of load from elsewhere on the machine lands on all of them
 * rather than on whichever ran at the time; the samples of all rounds are
 * pooled, and each round's own figure is kept for the spread. GC pauses
 * that start inside a measured batch are charged to its case.
 */
export async function measure(
  name: string,
  cases: readonly Case[],
  budget: Budget,
): Promise<Map<string, Measurement>> {
  observeGc()
  const batches: number[] = []
  const counters = cases.map(() => ({ i: 0 }))
  for (const [k, { op }] of cases.entries()) {
    batches.push(await calibrate(op, counters[k] as { i: number }))
  }
  const rounds: number[][][] = cases.map(() => [])
  const windows: { t0: number; t1: number; key: number }[] = []
  let measuring = false
  for (let round = 0; round < budget.rounds; round++) {
    const bench = new Bench({
      name,
      time: budget.timeMs / budget.rounds,
      warmup: round === 0,
      warmupTime: budget.warmupMs,
      iterations: 3,
      warmupIterations: 2,
      retainSamples: true,
      throws: true,
    })
    // Each round starts at another case and alternates direction, so no
    // case is always first or last (next to the round's set-up).
    const shift = Math.floor((round * cases.length) / budget.rounds)
    const order = cases.map((_, k) => (k + shift) % cases.length)
    if (round % 2 === 1) order.reverse()
    for (const k of order) {
      const { op } = cases[k] as Case
      const batch = batches[k] ?? 1
      const counter = counters[k] as { i: number }
      bench.add(
        String(k),
        async () => {
          const t0 = performance.now()
          for (let b = 0; b < batch; b++) await op(counter.i++)
          const t1 = performance.now()
          if (measuring) windows.push({ t0, t1, key: k })
          const elapsed = t1 - t0
          return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed }
        },
        // No forced GC between cases: after one, V8 shrinks its young
        // generation and the next case would pay for it.
        {
          async: true,
          beforeAll: (mode) => {
            measuring = mode === 'run'
          },
        },
      )
    }
    await bench.run()
    measuring = false
    for (const task of bench.tasks) {
      const result = task.result
      const key = cases[Number(task.name)]?.key
      if (result.state !== 'completed') {
        const error = result.state === 'errored' ? result.error : new Error(result.state)
        throw new Error(`${name} / ${key} did not complete`, { cause: error })
      }
      rounds[Number(task.name)]?.push(result.latency.samples?.slice() ?? [])
    }
  }
  const gcs = attributeGc(
    cases.map((c) => c.key),
    windows,
    await flushGc(),
  )
  const out = new Map<string, Measurement>()
  for (const [k, { key }] of cases.entries()) {
    out.set(key, stats(rounds[k] ?? [], batches[k] ?? 1, gcs[k] as Gc))
  }
  // Forget what this call attributed; later calls only need later entries.
  gcEntries.length = 0
  return out
}

/** A ratio of two measurements: pooled, its margin (errors in quadrature) and its spread over rounds. */
export type Ratio = { value: number; rme: number; min: number; max: number; cv: number }

/** `a` ÷ `b`; the spread pairs round k of `a` with round k of `b` (measured in the same round). */
export function ratio(a: Measurement, b: Measurement): Ratio {
  const n = Math.min(a.roundsHz.length, b.roundsHz.length)
  const per: number[] = []
  for (let k = 0; k < n; k++) per.push((a.roundsHz[k] as number) / (b.roundsHz[k] as number))
  const value = a.hz / b.hz
  const m = per.length > 0 ? mean(per) : value
  const sd =
    per.length > 1 ? Math.sqrt(per.reduce((s, x) => s + (x - m) ** 2, 0) / (per.length - 1)) : 0
  return {
    value,
    rme: Math.sqrt(a.rme ** 2 + b.rme ** 2),
    min: per.length > 0 ? Math.min(...per) : value,
    max: per.length > 0 ? Math.max(...per) : value,
    cv: m > 0 ? (100 * sd) / m : 0,
  }
}

/** True when the process runs with `--expose-gc` (the npm script does). */
export const canMeasureHeap = gc !== undefined

/**
 * Heap used after full collections, in bytes (unreliable without
 * `--expose-gc`). A forced collection slows what runs next for a while
 * (V8 shrinks its young generation), so warm up again before measuring.
 */
export async function heapUsed(): Promise<number> {
  // Let pending promise jobs and timers release what they hold first.
  await new Promise((resolve) => setImmediate(resolve))
  for (let k = 0; k < 3; k++) gc?.()
  return process.memoryUsage().heapUsed
}

/**
 * Between sections: collects what the last one left (it may be a gigabyte of
 * unreachable stores that V8 would otherwise collect in the middle of the
 * next measurement), then waits for the background threads to finish
 * sweeping and releasing it.
 */
export async function settle(): Promise<void> {
  const before = process.memoryUsage().heapTotal
  await heapUsed()
  const freedMb = Math.max(0, before - process.memoryUsage().heapTotal) / 2 ** 20
  await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 250 + freedMb)))
}

/** A clock that moves 1 ms per call, so consecutive writes always change the record. */
export function tickingClock(start = Date.parse('2026-01-01T00:00:00.000Z')): () => Date {
  let t = start
  return () => new Date(t++)
}

/** A printable ops/s figure. */
export function formatHz(hz: number): string {
  if (hz >= 1e6) return `${(hz / 1e6).toFixed(2)}M`
  if (hz >= 1e3) return `${(hz / 1e3).toFixed(1)}k`
  return hz >= 100 ? hz.toFixed(0) : hz.toFixed(1)
}

/** Cycles through `list` by call count. */
export const at = <T>(list: readonly T[], i: number): T => list[i % list.length] as T

/** A listener that does nothing (the one listener on a session under test). */
export const noop = (..._args: unknown[]) => {}

const started = performance.now()

/** Logs a progress line, with the time since start, to stderr (stdout carries the results). */
export function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[bench ${seconds} s] ${message}\n`)
}
