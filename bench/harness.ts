/**
 * Measurement plumbing shared by every section: batched tinybench tasks,
 * heap readings after GC, and the shapes that end up in bench/results.json.
 */
import { Bench } from 'tinybench'

/** One benchmarked operation; `i` counts calls, so operations can rotate inputs. */
export type Op = (i: number) => Promise<unknown>

/** Who did the work. */
export type Subject = 'floor' | 'session-tasks' | 'a2a' | 'mcp'

export const SUBJECTS: readonly Subject[] = ['floor', 'session-tasks', 'a2a', 'mcp']

export const SUBJECT_LABELS: Record<Subject, string> = {
  floor: 'floor (Map + spread + mitt)',
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

/** Statistics of per-operation latencies (ms), as tinybench computes them. */
function stats(samples: number[], batch: number): Measurement {
  const n = samples.length
  const sorted = samples.slice().sort((a, b) => a - b)
  const mean = samples.reduce((sum, x) => sum + x, 0) / n
  const variance = n > 1 ? samples.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (n - 1) : 0
  const sem = Math.sqrt(variance / n)
  const q = (p: number) => {
    const at = (n - 1) * p
    const lo = Math.floor(at)
    const a = sorted[lo] ?? mean
    const b = sorted[Math.min(n - 1, lo + 1)] ?? mean
    return a + (b - a) * (at - lo)
  }
  return {
    hz: 1000 / mean,
    rme: (100 * tCritical(n - 1) * sem) / mean,
    meanNs: mean * 1e6,
    p50Ns: q(0.5) * 1e6,
    p99Ns: q(0.99) * 1e6,
    samples: n,
    batch,
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

/**
 * Runs each case as a tinybench task of batched calls and returns the
 * measurements by key. The time budget is split into rounds that run every
 * case in turn, so a burst of load from elsewhere on the machine lands on
 * all of them rather than on whichever ran at the time; the samples of all
 * rounds are pooled. Cases share the process, the heap and the settings.
 */
export async function measure(
  name: string,
  cases: readonly Case[],
  budget: Budget,
): Promise<Map<string, Measurement>> {
  const batches = new Map<string, number>()
  const counters = new Map<string, { i: number }>()
  for (const { key, op } of cases) {
    const counter = { i: 0 }
    counters.set(key, counter)
    batches.set(key, await calibrate(op, counter))
  }
  const pooled = new Map<string, number[]>(cases.map((c) => [c.key, []]))
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
    for (const { key, op } of cases) {
      const batch = batches.get(key) ?? 1
      const counter = counters.get(key) ?? { i: 0 }
      bench.add(
        key,
        async () => {
          const t0 = performance.now()
          for (let k = 0; k < batch; k++) await op(counter.i++)
          const elapsed = performance.now() - t0
          return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed }
        },
        // No forced GC between cases: after one, V8 shrinks its young
        // generation and the next case would pay for it.
        { async: true },
      )
    }
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result
      if (result.state !== 'completed') {
        const error = result.state === 'errored' ? result.error : new Error(result.state)
        throw new Error(`${name} / ${task.name} did not complete`, { cause: error })
      }
      pooled.get(task.name)?.push(...(result.latency.samples ?? []))
    }
  }
  const out = new Map<string, Measurement>()
  for (const { key } of cases) out.set(key, stats(pooled.get(key) ?? [], batches.get(key) ?? 1))
  return out
}

/** A ratio of two measurements and its approximate relative margin (errors add in quadrature). */
export function ratio(a: Measurement, b: Measurement): { value: number; rme: number } {
  return { value: a.hz / b.hz, rme: Math.sqrt(a.rme ** 2 + b.rme ** 2) }
}

/** True when the process runs with `--expose-gc` (the npm script does). */
export const canMeasureHeap = gc !== undefined

/**
 * Heap used after full collections, in bytes (unreliable without
 * `--expose-gc`). A forced collection slows what runs next for a while
 * (V8 shrinks its young generation), so measure memory after benchmarking,
 * or warm up again before the next measurement.
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

const started = performance.now()

/** Logs a progress line, with the time since start, to stderr (stdout carries the results). */
export function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[bench ${seconds} s] ${message}\n`)
}
