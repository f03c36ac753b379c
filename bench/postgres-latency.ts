/**
 * Event latency of the PostgreSQL registry: registry A updates a task's
 * progress, registry B delivers the `task.updated` to its listener, in this
 * process or in a child process (bench/postgres-listener.ts).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import type { SessionTaskEvents } from '../src/events/emitter.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'

/** The session the latency probe writes to. */
export const LATENCY_SESSION = 'latency'
const LATENCY_WARMUP = 30
const SAMPLE_TIMEOUT_MS = 5_000

/** Where B, the listening registry, ran. */
export type LatencyPath = 'process' | 'pool' | 'pglite'

/** Row labels of the latency paths. */
export const LATENCY_LABELS: Record<LatencyPath, string> = {
  process: 'server: B in another process (own pool and LISTEN connection)',
  pool: 'server: B in this process, own pool and LISTEN connection',
  pglite: 'PGlite: A and B on one in-process database',
}

/** Percentiles of one set of latencies, in milliseconds. */
export type Percentiles = {
  samples: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  meanMs: number
  minMs: number
  maxMs: number
}

/** The latency of one path. */
export type LatencyResult = {
  path: LatencyPath
  /** From just before `A.update()` to B's listener. */
  delivery: Percentiles
  /** From just before `A.update()` to its promise resolving (A's own commit). */
  write: Percentiles
}

/** Percentiles of `samples` (ms), interpolated. */
export function percentiles(samples: number[]): Percentiles {
  const n = samples.length
  const sorted = samples.slice().sort((a, b) => a - b)
  const q = (p: number) => {
    const at = (n - 1) * p
    const lo = Math.floor(at)
    const a = sorted[lo] ?? Number.NaN
    const b = sorted[Math.min(n - 1, lo + 1)] ?? a
    return a + (b - a) * (at - lo)
  }
  return {
    samples: n,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
    meanMs: samples.reduce((sum, x) => sum + x, 0) / n,
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[n - 1] ?? Number.NaN,
  }
}

/** Where B's listener reports: `next(i)` resolves with the monotonic time it saw progress `i`. */
export type Receiver = { next(current: number): Promise<bigint>; close(): Promise<void> }

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), SAMPLE_TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A map of awaited progress values to their resolvers, fed by `seen`. */
function waiters() {
  const pending = new Map<number, (t: bigint) => void>()
  return {
    next(current: number): Promise<bigint> {
      return new Promise<bigint>((resolve) => pending.set(current, resolve))
    },
    seen(current: number, t: bigint): void {
      const resolve = pending.get(current)
      if (resolve === undefined) return
      pending.delete(current)
      resolve(t)
    },
  }
}

/** B as another registry in this process. */
export function inProcessReceiver(b: PostgresSessionTaskRegistry): Receiver {
  const w = waiters()
  const off = b.subscribe(LATENCY_SESSION, (type, payload) => {
    if (type !== 'task.updated') return
    const t = process.hrtime.bigint()
    const current = (payload as SessionTaskEvents['task.updated']).task.progress?.current
    if (current !== undefined) w.seen(current, t)
  })
  return {
    next: w.next,
    close: async () => {
      off()
      await b.close()
    },
  }
}

type ChildMessage =
  | { ready: true }
  | { i: number; t: string }
  | { stopped: true; errors: string[] }
  | { error: string }

/** B as a registry in a child process (bench/postgres-listener.ts). */
export function childReceiver(url: string, prefix: string): Promise<Receiver> {
  const script = fileURLToPath(new URL('./postgres-listener.ts', import.meta.url))
  return forkedReceiver(script, [prefix, LATENCY_SESSION], { BENCH_PG_LISTENER_URL: url })
}

/**
 * B as a listener script in a child process, speaking the protocol of
 * bench/postgres-listener.ts over IPC (ready, then `{ i, t }` per event;
 * 'stop' answered by `{ stopped, errors }`). `onChild` is told of the
 * child as soon as it is forked (so a caller can kill it by pid).
 */
export async function forkedReceiver(
  script: string,
  args: string[],
  env: Record<string, string>,
  onChild?: (child: ChildProcess) => void,
): Promise<Receiver> {
  // fork keeps this process's execArgv (`--import tsx`), so the child runs TypeScript too.
  const child: ChildProcess = fork(script, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  onChild?.(child)
  const w = waiters()
  let stopped: ((errors: string[]) => void) | undefined
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    exited.then((code) => reject(new Error(`the listener process exited (${code})`)))
    child.on('message', (raw) => {
      const message = raw as ChildMessage
      if ('ready' in message) resolve()
      else if ('i' in message) w.seen(message.i, BigInt(message.t))
      else if ('stopped' in message) stopped?.(message.errors)
    })
  })
  try {
    await withTimeout(ready, 'the listener process to start')
  } catch (error) {
    child.kill()
    throw error
  }
  return {
    next: w.next,
    close: async () => {
      const errors = new Promise<string[]>((resolve) => {
        stopped = resolve
      })
      child.send('stop')
      const reported = await withTimeout(errors, 'the listener process to stop').catch(() => [])
      await withTimeout(exited, 'the listener process to exit').catch(() => child.kill())
      if (reported.length > 0) throw new Error(`listener process errors: ${reported.join('; ')}`)
    },
  }
}

let progressBase = 1_000_000

/**
 * Sequential updates by A, each awaited until B's listener has seen it;
 * `pauseMs`, when given, says how long to wait before each update (a
 * polling B would otherwise always be written to at the same point of its
 * poll interval, right after the poll that delivered the previous one).
 */
export async function sampleLatency(
  a: Pick<SessionTaskRegistry, 'update'>,
  taskId: string,
  receiver: Receiver,
  path: LatencyPath,
  samples: number,
  pauseMs?: () => number,
): Promise<LatencyResult> {
  const delivery: number[] = []
  const write: number[] = []
  for (let k = 0; k < LATENCY_WARMUP + samples; k++) {
    const pause = pauseMs?.() ?? 0
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
    const current = progressBase++
    const seen = receiver.next(current)
    const t0 = process.hrtime.bigint()
    await a.update(LATENCY_SESSION, taskId, { progress: { current, total: current + 1 } })
    const tw = process.hrtime.bigint()
    const te = await withTimeout(seen, `${path}: B's listener (sample ${k})`)
    if (k < LATENCY_WARMUP) continue
    delivery.push(Number(te - t0) / 1e6)
    write.push(Number(tw - t0) / 1e6)
  }
  return { path, delivery: percentiles(delivery), write: percentiles(write) }
}
