/**
 * The event-latency half of `npm run bench:sqlite`: from one process's
 * `update()` to a listener in another, on SQLite (by poll interval) and on
 * PostgreSQL (LISTEN/NOTIFY), with writes spaced at random or back to back.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import {
  fromPgPool,
  PostgresSessionTaskRegistry,
  migrate as pgMigrate,
} from '../src/backends/postgres/index.js'
import { migrate, SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import { tableNames } from '../src/backends/table-names.js'
import { track } from './bench-children.js'
import {
  forkedReceiver,
  LATENCY_SESSION,
  type Receiver,
  sampleLatency,
} from './postgres-latency.js'
import { openSqlite } from './sqlite-open.js'
import { type Latency, MAX_PAUSE_MS, type Spacing } from './sqlite-scale-report.js'

const sqliteListener = fileURLToPath(new URL('./sqlite-listener.ts', import.meta.url))
const pgListener = fileURLToPath(new URL('./postgres-listener.ts', import.meta.url))

const SPACINGS: readonly Spacing[] = ['random', 'back-to-back']
// Longer than the longest poll interval, so a random write lands anywhere in it.
const pauseFor = (spacing: Spacing) =>
  spacing === 'random' ? () => Math.floor(Math.random() * MAX_PAUSE_MS) : undefined

export function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true })
}

async function sampleBoth(
  samples: number,
  registry: Pick<SqliteSessionTaskRegistry, 'update'>,
  taskId: string,
  receiver: Receiver,
  key: string,
  label: string,
): Promise<Latency[]> {
  const out: Latency[] = []
  for (const spacing of SPACINGS) {
    const r = await sampleLatency(registry, taskId, receiver, 'process', samples, pauseFor(spacing))
    out.push({ key, label, spacing, delivery: r.delivery, write: r.write })
  }
  return out
}

export async function sqliteLatency(
  dir: string,
  samples: number,
  polls: readonly number[],
): Promise<Latency[]> {
  const file = join(dir, 'latency.db')
  const a = openSqlite(file)
  await migrate(a.driver)
  const registry = new SqliteSessionTaskRegistry({ driver: a.driver })
  await registry.start()
  const out: Latency[] = []
  try {
    const task = await registry.create({
      sessionId: LATENCY_SESSION,
      kind: 'probe',
      displayName: 'probe',
      state: 'running',
    })
    for (const poll of polls) {
      const receiver = await forkedReceiver(
        sqliteListener,
        [file, LATENCY_SESSION, String(poll)],
        {},
        track,
      )
      try {
        const label = `SQLite, pollIntervalMs ${poll}${poll === 20 ? ' (default)' : ''}`
        out.push(
          ...(await sampleBoth(samples, registry, task.id, receiver, `sqlite-poll-${poll}`, label)),
        )
      } finally {
        await receiver.close()
      }
    }
  } finally {
    await registry.close()
    a.db.close()
    removeDatabase(file)
  }
  return out
}

export async function dropPg(pool: pg.Pool, prefix: string): Promise<void> {
  const t = tableNames(prefix)
  await pool.query(
    `DROP TABLE IF EXISTS ${t.events}, ${t.messages}, ${t.tasks}, ${t.sessions}, ${t.schema}`,
  )
}

export async function pgLatency(
  url: string,
  pool: pg.Pool,
  prefix: string,
  samples: number,
): Promise<Latency[]> {
  await pgMigrate(fromPgPool(pool), { prefix })
  const registry = new PostgresSessionTaskRegistry({ client: fromPgPool(pool), prefix })
  await registry.start()
  try {
    const task = await registry.create({
      sessionId: LATENCY_SESSION,
      kind: 'probe',
      displayName: 'probe',
      state: 'running',
    })
    const receiver = await forkedReceiver(
      pgListener,
      [prefix, LATENCY_SESSION],
      { BENCH_PG_LISTENER_URL: url },
      track,
    )
    try {
      return await sampleBoth(
        samples,
        registry,
        task.id,
        receiver,
        'postgres',
        'PostgreSQL, LISTEN/NOTIFY',
      )
    } finally {
      await receiver.close()
    }
  } finally {
    await registry.close()
    await dropPg(pool, prefix)
  }
}
