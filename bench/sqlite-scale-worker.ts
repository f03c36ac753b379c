/**
 * One process of `bench/sqlite-scale.ts`, forked once per run and given
 * one case after another over IPC (forking per case cost more than a
 * short case itself on the shared 2-core host). For each case it opens the
 * backend afresh, drives one session-tasks operation in a sequential loop
 * (each call awaited before the next) for a fixed time, and reports how
 * many it finished, the statements it sent (SQLite: every driver call,
 * BEGIN, COMMIT and PRAGMAs included, with the wall time spent inside each
 * kind; PostgreSQL: every `pg` client query, as bench/pg-scale-worker.ts
 * counts them) and the CPU time it used; then it closes the backend.
 *
 * Messages in: a {@link WorkerCase}, then 'go' once every process of the
 * case is ready (so that all start at once); 'exit' to leave. Out:
 * started, then per case ready, done ({@link WorkerDone}) and closed.
 */
import pg from 'pg'
import { fromPgPool, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import { SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import type { SessionTaskRegistryCore } from '../src/registry/core.js'
import { InMemorySessionTaskRegistry } from '../src/registry/in-memory-registry.js'
import {
  type CountingDriver,
  costsSince,
  countingDriver,
  openSqlite,
  perOperation,
  type StatementCost,
  snapshotCosts,
} from './sqlite-open.js'

let pgStatements = 0
const query = pg.Client.prototype.query
pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
  pgStatements++
  return (query as (...a: unknown[]) => unknown).apply(this, args)
} as typeof query

const WARMUP = 20

/** One case, as the parent sends it. */
export type WorkerCase = {
  kind: 'case'
  backend: 'sqlite' | 'postgres' | 'memory'
  op: 'create' | 'update' | 'lifecycle'
  durationMs: number
  /** This process's number in the case: its session is `bench-<index>`. */
  index: number
  /** SQLite: the database file, and the registry's `synchronous` level (FULL unless NORMAL). */
  file?: string | undefined
  sync?: string | undefined
  /** PostgreSQL: the server and the table prefix. */
  url?: string | undefined
  prefix?: string | undefined
}

/** What a worker reports when its loop is done. */
export type WorkerDone = {
  kind: 'done'
  count: number
  elapsedMs: number
  statements: number
  cpuMs: number
  /** SQLite only: per statement name, calls and ms inside the driver per operation. */
  costs?: Record<string, StatementCost> | undefined
  /** SQLite only: SQLITE_BUSY errors (retried writes) during the loop. */
  busy?: number | undefined
  /** SQLite only: `PRAGMA synchronous` as the connection opened, and as it ran. */
  synchronous?: { default: number; used: number } | undefined
}

type Opened = {
  registry: SessionTaskRegistryCore
  statements: () => number
  counting?: CountingDriver | undefined
  synchronous?: { default: number; used: number } | undefined
  close: () => Promise<void>
}

async function open(c: WorkerCase): Promise<Opened> {
  if (c.backend === 'memory') {
    const registry = new InMemorySessionTaskRegistry()
    return { registry, statements: () => 0, close: async () => {} }
  }
  if (c.backend === 'postgres') {
    const pool = new pg.Pool({ connectionString: c.url ?? '', max: 3 })
    const registry = new PostgresSessionTaskRegistry({
      client: fromPgPool(pool),
      prefix: c.prefix ?? 'bench_',
    })
    // Started (LISTEN): told of every other process's writes, as in bench/pg-scale.ts.
    await registry.start()
    return {
      registry,
      statements: () => pgStatements,
      close: async () => {
        await registry.close()
        await pool.end()
      },
    }
  }
  const { driver, db } = openSqlite(c.file ?? '')
  const level = () => Number(driver.prepare('PRAGMA synchronous').get()?.synchronous)
  // Read after a first read of the file: the WAL default applies from then.
  driver.prepare('SELECT count(*) AS n FROM sqlite_schema').get()
  const initial = level()
  const counting = countingDriver(driver)
  // The registry sets the level it is given (FULL unless told otherwise).
  const synchronous = c.sync === 'NORMAL' ? 'NORMAL' : 'FULL'
  const registry = new SqliteSessionTaskRegistry({ driver: counting, synchronous })
  // Started (polling PRAGMA data_version): told of every other process's writes.
  await registry.start()
  return {
    registry,
    statements: () => [...counting.costs.values()].reduce((n, x) => n + x.calls, 0),
    counting,
    synchronous: { default: initial, used: level() },
    close: async () => {
      await registry.close()
      db.close()
    },
  }
}

// Messages in arrival order, taken one by one.
const inbox: unknown[] = []
let wake: (() => void) | undefined
process.on('message', (m) => {
  inbox.push(m)
  wake?.()
})
async function next(): Promise<unknown> {
  while (inbox.length === 0) {
    await new Promise<void>((resolve) => {
      wake = resolve
    })
  }
  wake = undefined
  return inbox.shift()
}

async function runCase(c: WorkerCase): Promise<void> {
  const opened = await open(c)
  const { registry } = opened
  const sessionId = `bench-${c.index}`
  const base = { sessionId, kind: 'job', displayName: 'job' }
  const target = await registry.create({ ...base, state: 'running' })
  let i = 0
  const steps: Record<WorkerCase['op'], () => Promise<void>> = {
    create: async () => {
      await registry.create(base)
    },
    update: async () => {
      await registry.update(sessionId, target.id, { progress: { current: ++i, total: 1_000_000 } })
    },
    // Enqueue, claim (queued -> running, fenced on the attempt), finish: as bench/pg-scale-worker.ts.
    lifecycle: async () => {
      const task = await registry.create(base)
      await registry.claim(sessionId, task.id, { expectedAttempt: 1 })
      await registry.update(sessionId, task.id, { state: 'succeeded' })
    },
  }
  const step = steps[c.op]
  for (let k = 0; k < WARMUP; k++) await step()
  process.send?.({ kind: 'ready' })
  const go = await next()
  if (go !== 'go') throw new Error(`expected go, got ${JSON.stringify(go)}`)
  const before = opened.statements()
  const costsBefore = opened.counting && snapshotCosts(opened.counting.costs)
  const busyBefore = opened.counting?.busy.count ?? 0
  const cpu = process.cpuUsage()
  const until = performance.now() + c.durationMs
  let count = 0
  while (performance.now() < until) {
    await step()
    count++
  }
  const elapsedMs = c.durationMs + (performance.now() - until)
  const used = process.cpuUsage(cpu)
  const done: WorkerDone = {
    kind: 'done',
    count,
    elapsedMs,
    statements: opened.statements() - before,
    cpuMs: (used.user + used.system) / 1000,
    costs:
      opened.counting && costsBefore
        ? perOperation(costsSince(opened.counting.costs, costsBefore), count)
        : undefined,
    busy: opened.counting === undefined ? undefined : opened.counting.busy.count - busyBefore,
    synchronous: opened.synchronous,
  }
  process.send?.(done)
  await opened.close()
  process.send?.({ kind: 'closed' })
}

// The parent gone (killed, or failed): nothing more to do.
process.on('disconnect', () => process.exit(0))

async function main(): Promise<void> {
  process.send?.({ kind: 'started' })
  for (;;) {
    const m = await next()
    if (m === 'exit') break
    const c = m as WorkerCase | undefined
    if (c?.kind !== 'case') throw new Error(`unexpected message ${JSON.stringify(m)}`)
    await runCase(c)
  }
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
