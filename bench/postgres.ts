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
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  type SqlClient,
  tableNames,
} from '../src/backends/postgres/index.js'
import {
  at,
  type Budget,
  type Case,
  type Measurement,
  measure,
  noop,
  progress,
  quick,
  settle,
} from './harness.js'
import {
  childReceiver,
  inProcessReceiver,
  LATENCY_LABELS,
  LATENCY_SESSION,
  type LatencyPath,
  type LatencyResult,
  type Receiver,
  sampleLatency,
} from './postgres-latency.js'

const STORE_TASKS = quick ? 200 : 1_000
const SESSION_SIZE = 100
const TARGET = 'sess-0'
const LATENCY_SAMPLES = quick ? 30 : 300
const TEXT = [{ type: 'text' as const, text: 'step done' }]

/** The measured operations. */
export const PG_OPS = ['create', 'update', 'get', 'list', 'recordMessage'] as const
/** One of {@link PG_OPS}. */
export type PgOp = (typeof PG_OPS)[number]
const MEASURE_ORDER: readonly PgOp[] = ['update', 'get', 'list', 'recordMessage', 'create']

/** Row labels. */
export const PG_OP_LABELS: Record<PgOp, string> = {
  create: 'create',
  update: 'update (progress, 1 listener)',
  get: 'get',
  list: `list one session (${SESSION_SIZE} of ${STORE_TASKS.toLocaleString('en-US')} tasks)`,
  recordMessage: 'recordMessage',
}

/** Where the registry's database runs. */
export const BACKENDS = ['postgres', 'pglite'] as const
/** One of {@link BACKENDS}. */
export type Backend = (typeof BACKENDS)[number]

/** Column labels of the backends. */
export const BACKEND_LABELS: Record<Backend, string> = {
  postgres: 'PostgreSQL server (loopback)',
  pglite: 'PGlite (in-process)',
}

/** The PostgreSQL section's results. */
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

/** The database URL to benchmark against, if any. */
export function databaseUrl(): string | undefined {
  for (const name of ['BENCH_DATABASE_URL', 'TEST_DATABASE_URL']) {
    const value = process.env[name]
    if (value !== undefined && value !== '') return value
  }
  return undefined
}

/** How to include the server part. */
export const SKIPPED_HINT =
  'set BENCH_DATABASE_URL or TEST_DATABASE_URL, or run `bash scripts/with-postgres.sh npm run bench`'

function uniquePrefix(): string {
  return `bench_${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}_`
}

async function dropTables(client: SqlClient, prefix: string): Promise<void> {
  const t = tableNames(prefix)
  await client.query(
    `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
  )
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
    list: () => registry.list(TARGET),
    recordMessage: () =>
      registry.recordMessage('sess-1', fx.recorder, { direction: 'outbound', content: TEXT }),
  }
}

// ---------------------------------------------------------------- run

type Backendish = {
  backend: Backend
  client: SqlClient
  prefix: string
  fixture?: Fixture
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The PostgreSQL section: server (when configured) and PGlite, ops/s and event latency. */
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
    for (const side of sides) {
      const listed = await side.fixture?.registry.list(TARGET)
      if (listed?.length !== SESSION_SIZE) throw new Error(`list returned ${listed?.length} tasks`)
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
          result.latency.push(await sampleLatency(a, task.id, receiver, path, LATENCY_SAMPLES))
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
