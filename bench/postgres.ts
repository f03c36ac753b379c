/**
 * The PostgreSQL registry (`session-tasks/postgres`): ops/s of create,
 * update, get, list and recordMessage, and the latency of an event from one
 * registry's write to another registry's listener.
 *
 * - On a PostgreSQL server when `BENCH_DATABASE_URL` or `TEST_DATABASE_URL`
 *   is set (`bash scripts/with-postgres.sh npm run bench` starts a throwaway
 *   one on 127.0.0.1), through `pg.Pool` and `fromPgPool`. Tables get a
 *   unique prefix and are dropped at the end.
 * - On PGlite (in-process PostgreSQL compiled to WebAssembly) always, through
 *   `fromPGlite`, for comparison.
 *
 * Operations are sequential awaits (one at a time, as one caller sees them),
 * on a registry that has called `start()` (LISTEN), with one listener on the
 * session under test, in a store of 1k tasks in sessions of 100.
 *
 * Event latency: registry A updates a task's progress, registry B (its own
 * pool, so its own LISTEN connection) delivers the `task.updated` to its
 * listener; measured from just before `A.update()` is called to B's
 * listener, one update at a time. On a server B runs in a child process
 * (bench/postgres-listener.ts) and, for comparison, in this process; on
 * PGlite both registries share the one in-process database.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  type SqlClient,
  tableNames,
} from '../src/backends/postgres/index.js'
import type { SessionTaskEvents } from '../src/events/emitter.js'
import { type Budget, type Case, type Measurement, measure, progress, settle } from './harness.js'

export const PG_OPS = ['create', 'update', 'get', 'list', 'recordMessage'] as const
export type PgOp = (typeof PG_OPS)[number]
const MEASURE_ORDER: readonly PgOp[] = ['update', 'get', 'list', 'recordMessage', 'create']

export const PG_OP_LABELS: Record<PgOp, string> = {
  create: 'create',
  update: 'update (progress, 1 listener)',
  get: 'get',
  list: 'list one session (100 of 1k tasks)',
  recordMessage: 'recordMessage',
}

export const BACKENDS = ['postgres', 'pglite'] as const
export type Backend = (typeof BACKENDS)[number]

export const BACKEND_LABELS: Record<Backend, string> = {
  postgres: 'PostgreSQL server (loopback)',
  pglite: 'PGlite (in-process)',
}

/** Where B, the listening registry, ran. */
export type LatencyPath = 'process' | 'pool' | 'pglite'

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

export type LatencyResult = {
  path: LatencyPath
  /** From just before `A.update()` to B's listener. */
  delivery: Percentiles
  /** From just before `A.update()` to its promise resolving (A's own commit). */
  write: Percentiles
}

export type PostgresResult = {
  /** `SELECT version()`-style description of the server; absent when the server part was skipped. */
  server?: string
  /** The server settings that matter for write latency (fsync, synchronous_commit). */
  serverSettings?: Record<string, string>
  /** Why the server part was skipped. */
  skipped?: string
  /** The PostgreSQL version inside PGlite. */
  pglite: string
  budget: Budget
  ops: Record<PgOp, Partial<Record<Backend, Measurement>>>
  latency: LatencyResult[]
  /** Why a latency path could not be measured. */
  latencyErrors?: Partial<Record<LatencyPath, string>>
  durationSeconds: number
}

const STORE_TASKS = 1_000
const SESSION_SIZE = 100
const TARGET = 'sess-0'
const LATENCY_SESSION = 'latency'
const LATENCY_SAMPLES = 300
const LATENCY_WARMUP = 30
const SAMPLE_TIMEOUT_MS = 5_000
const TEXT = [{ type: 'text' as const, text: 'step done' }]

const noop = (..._args: unknown[]) => {}
const at = <T>(list: readonly T[], i: number): T => list[i % list.length] as T

/** The database URL to benchmark against, if any. */
export function databaseUrl(): string | undefined {
  for (const name of ['BENCH_DATABASE_URL', 'TEST_DATABASE_URL']) {
    const value = process.env[name]
    if (value !== undefined && value !== '') return value
  }
  return undefined
}

export const SKIPPED_HINT =
  'set BENCH_DATABASE_URL or TEST_DATABASE_URL, or run `bash scripts/with-postgres.sh npm run bench`'

function uniquePrefix(): string {
  return `bench_${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}_`
}

async function dropTables(client: SqlClient, prefix: string): Promise<void> {
  const t = tableNames(prefix)
  await client.query(`DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}`)
}

/** 1k tasks in sessions of 100; the target session's 100 are running. */
type Fixture = {
  registry: PostgresSessionTaskRegistry
  ids: string[]
  recorder: string
}

async function buildFixture(client: SqlClient, prefix: string): Promise<Fixture> {
  const registry = new PostgresSessionTaskRegistry({ client, prefix })
  await registry.start()
  const ids: string[] = []
  for (let i = 0; i < STORE_TASKS; i++) {
    const sessionId = `sess-${Math.floor(i / SESSION_SIZE)}`
    const task = await registry.create({
      sessionId,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: i },
    })
    if (sessionId === TARGET) ids.push(task.id)
  }
  for (const id of ids) await registry.update(TARGET, id, { state: 'running' })
  // In the next session, so that `list` sees exactly 100 tasks.
  const recorder = await registry.create({
    sessionId: 'sess-1',
    kind: 'agent',
    displayName: 'recorder',
  })
  registry.subscribe(TARGET, noop)
  registry.subscribe('sess-1', noop)
  return { registry, ids, recorder: recorder.id }
}

function cases(fx: Fixture): Record<PgOp, Case['op']> {
  const { registry, ids } = fx
  return {
    create: (i) =>
      registry.create({
        sessionId: `new-${i % 1000}`,
        kind: 'background_tool',
        displayName: 'job',
        spec: { n: i },
      }),
    update: (i) => registry.update(TARGET, at(ids, i), { progress: { current: i, total: i + 1 } }),
    get: (i) => registry.get(TARGET, at(ids, i)),
    list: async () => {
      const tasks = await registry.list(TARGET)
      if (tasks.length !== SESSION_SIZE) throw new Error(`list returned ${tasks.length} tasks`)
    },
    recordMessage: () =>
      registry.recordMessage('sess-1', fx.recorder, { direction: 'outbound', content: TEXT }),
  }
}

// ---------------------------------------------------------------- latency

function percentiles(samples: number[]): Percentiles {
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
type Receiver = { next(current: number): Promise<bigint>; close(): Promise<void> }

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
function inProcessReceiver(b: PostgresSessionTaskRegistry): Receiver {
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
async function childReceiver(url: string, prefix: string): Promise<Receiver> {
  const script = fileURLToPath(new URL('./postgres-listener.ts', import.meta.url))
  // fork keeps this process's execArgv (`--import tsx`), so the child runs TypeScript too.
  const child: ChildProcess = fork(script, [prefix, LATENCY_SESSION], {
    env: { ...process.env, BENCH_PG_LISTENER_URL: url },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
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

/** Sequential updates by A, each awaited until B's listener has seen it. */
async function sampleLatency(
  a: PostgresSessionTaskRegistry,
  taskId: string,
  receiver: Receiver,
  path: LatencyPath,
): Promise<LatencyResult> {
  const delivery: number[] = []
  const write: number[] = []
  for (let k = 0; k < LATENCY_WARMUP + LATENCY_SAMPLES; k++) {
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

// ---------------------------------------------------------------- run

type Backendish = {
  backend: Backend
  client: SqlClient
  prefix: string
  fixture?: Fixture
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

export async function runPostgres(budget: Budget): Promise<PostgresResult> {
  const started = performance.now()
  const url = databaseUrl()
  const result: PostgresResult = {
    pglite: '',
    budget,
    ops: { create: {}, update: {}, get: {}, list: {}, recordMessage: {} },
    latency: [],
    durationSeconds: 0,
  }
  const cleanup: (() => Promise<unknown>)[] = []
  try {
    const sides: Backendish[] = []

    let pgModule: typeof import('pg').default | undefined
    if (url === undefined) {
      result.skipped = 'no BENCH_DATABASE_URL or TEST_DATABASE_URL'
      progress(`postgres: server part SKIPPED (${SKIPPED_HINT}); PGlite only`)
    } else {
      pgModule = (await import('pg')).default
      const pool = new pgModule.Pool({ connectionString: url, max: 4 })
      cleanup.push(() => pool.end())
      const client = fromPgPool(pool)
      const prefix = uniquePrefix()
      const version = await client.query<{ v: string }>(
        `SELECT current_setting('server_version') AS v`,
      )
      const settings = await client.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers') ORDER BY name`,
      )
      result.server = `PostgreSQL ${version.rows[0]?.v ?? '?'} at ${new URL(url).hostname}`
      result.serverSettings = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]))
      await migrate(client, { prefix })
      // Registered first, so it runs last: after the registries closed, before the pool ends.
      cleanup.unshift(() => dropTables(client, prefix))
      sides.push({ backend: 'postgres', client, prefix })
      progress(`postgres: ${result.server} (tables ${prefix}*)`)
    }

    const { PGlite } = await import('@electric-sql/pglite')
    const db = new PGlite()
    await db.waitReady
    cleanup.push(() => db.close())
    const pgliteClient = fromPGlite(db)
    const pgliteVersion = await pgliteClient.query<{ v: string }>(
      `SELECT current_setting('server_version') AS v`,
    )
    result.pglite = `PostgreSQL ${pgliteVersion.rows[0]?.v ?? '?'} (PGlite)`
    const pglitePrefix = uniquePrefix()
    await migrate(pgliteClient, { prefix: pglitePrefix })
    sides.push({ backend: 'pglite', client: pgliteClient, prefix: pglitePrefix })

    for (const side of sides) {
      const t0 = performance.now()
      side.fixture = await buildFixture(side.client, side.prefix)
      const registry = side.fixture.registry
      cleanup.unshift(() => registry.close())
      progress(
        `postgres: ${side.backend} fixture of ${STORE_TASKS.toLocaleString('en-US')} tasks in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      )
    }
    await settle()

    const byBackend = new Map(
      sides.map((s) => [s.backend, s.fixture ? cases(s.fixture) : undefined]),
    )
    // create last, so that the others run on exactly the fixture's 1k tasks.
    for (const op of MEASURE_ORDER) {
      const list: Case[] = []
      for (const backend of BACKENDS) {
        const c = byBackend.get(backend)
        if (c !== undefined) list.push({ key: backend, op: c[op] })
      }
      progress(`postgres: ${op} (${list.map((c) => c.key).join(', ')})`)
      const measured = await measure(`postgres ${op}`, list, budget)
      result.ops[op] = Object.fromEntries(measured) as Partial<Record<Backend, Measurement>>
    }

    // Event latency, A (the fixture's registry) → B.
    const errors: Partial<Record<LatencyPath, string>> = {}
    for (const side of sides) {
      const a = side.fixture?.registry
      if (a === undefined) continue
      const task = await a.create({
        sessionId: LATENCY_SESSION,
        kind: 'background_tool',
        displayName: 'latency probe',
      })
      await a.update(LATENCY_SESSION, task.id, { state: 'running' })
      const paths: LatencyPath[] = side.backend === 'postgres' ? ['process', 'pool'] : ['pglite']
      for (const path of paths) {
        progress(`postgres: event latency, ${LATENCY_LABELS[path]}`)
        let receiver: Receiver | undefined
        try {
          if (path === 'process') {
            receiver = await childReceiver(url as string, side.prefix)
          } else {
            let client = side.client
            if (path === 'pool' && pgModule !== undefined) {
              const poolB = new pgModule.Pool({ connectionString: url, max: 4 })
              cleanup.unshift(() => poolB.end())
              client = fromPgPool(poolB)
            }
            const b = new PostgresSessionTaskRegistry({ client, prefix: side.prefix })
            await b.start()
            receiver = inProcessReceiver(b)
          }
          result.latency.push(await sampleLatency(a, task.id, receiver, path))
        } catch (error) {
          errors[path] = describe(error)
          progress(`postgres: event latency (${path}) not measured: ${describe(error)}`)
        } finally {
          await receiver?.close().catch((error: unknown) => {
            errors[path] ??= describe(error)
          })
        }
      }
    }
    if (Object.keys(errors).length > 0) result.latencyErrors = errors
  } finally {
    for (const done of cleanup) {
      try {
        await done()
      } catch (error) {
        progress(`postgres: cleanup failed: ${describe(error)}`)
      }
    }
  }
  result.durationSeconds = (performance.now() - started) / 1000
  progress(`postgres: done in ${result.durationSeconds.toFixed(0)} s`)
  return result
}
