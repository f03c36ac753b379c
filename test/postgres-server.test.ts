import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import { describePostgresRegistry } from '../src/backends/postgres/testing.js'
import { vitestRunner } from '../src/testing/vitest.js'

// The same suite as test/postgres.test.ts, on a real server through
// node-postgres pools (one per simulated process). Run it with a throwaway
// server:  bash scripts/with-postgres.sh npx vitest run test/postgres-server.test.ts
const url = process.env.TEST_DATABASE_URL

if (url === undefined || url === '') {
  console.warn(
    [
      '',
      '='.repeat(78),
      '  SKIPPED: PostgreSQL server tests (test/postgres-server.test.ts)',
      '  TEST_DATABASE_URL is not set, so the registry was NOT tested against a real',
      '  PostgreSQL server. Run them with a throwaway server:',
      '    bash scripts/with-postgres.sh npx vitest run test/postgres-server.test.ts',
      '='.repeat(78),
      '',
    ].join('\n'),
  )
  describe('PostgresSessionTaskRegistry on a PostgreSQL server', () => {
    test.skip('SKIPPED: set TEST_DATABASE_URL (or use scripts/with-postgres.sh) to run', () => {})
  })
} else {
  // A fresh prefix per run: a shared database keeps its own tables untouched.
  const prefix = `st${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}_`
  const pools: pg.Pool[] = []
  describePostgresRegistry('PostgresSessionTaskRegistry on a PostgreSQL server', {
    prefix,
    clients: () => {
      const a = new pg.Pool({ connectionString: url, max: 10 })
      const b = new pg.Pool({ connectionString: url, max: 10 })
      pools.push(a, b)
      return [fromPgPool(a), fromPgPool(b)]
    },
    teardown: async () => {
      const t = tableNames(prefix)
      try {
        await pools[0]?.query(
          `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
        )
      } finally {
        await Promise.all(pools.map((pool) => pool.end()))
      }
    },
    runner: vitestRunner,
  })

  describe('PostgresSessionTaskRegistry on a PostgreSQL server: LISTEN connection failures', () => {
    const prefix2 = `${prefix}r`
    const a = new pg.Pool({ connectionString: url, max: 4 })
    const b = new pg.Pool({ connectionString: url, max: 4 })
    afterAll(async () => {
      const t = tableNames(prefix2)
      try {
        await a.query(
          `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
        )
      } finally {
        await Promise.all([a.end(), b.end()])
      }
    })

    test('a dropped LISTEN connection comes back and catches up on what it missed', async () => {
      await migrate(fromPgPool(a), { prefix: prefix2 })
      const errors: unknown[] = []
      const writer = new PostgresSessionTaskRegistry({ client: fromPgPool(a), prefix: prefix2 })
      const reader = new PostgresSessionTaskRegistry({
        client: fromPgPool(b),
        prefix: prefix2,
        onError: (error) => errors.push(error),
      })
      await reader.start()
      const seen: string[] = []
      reader.subscribe('s', (type) => seen.push(type))
      const task = await writer.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      const until = (check: () => boolean) =>
        new Promise<void>((resolve, reject) => {
          const stop = Date.now() + 5000
          const poll = () => {
            if (check()) resolve()
            else if (Date.now() > stop) reject(new Error(`timed out; saw ${seen.join(', ')}`))
            else setTimeout(poll, 10)
          }
          poll()
        })
      await until(() => seen.length === 1)
      // Kill the reader's LISTEN connection from the server side.
      await a.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN session_tasks%' AND pid <> pg_backend_pid()`,
      )
      await until(() => errors.length > 0)
      await writer.update('s', task.id, { state: 'running' })
      await writer.update('s', task.id, { summary: 'written while the reader was deaf' })
      await until(() => seen.length === 3)
      expect(seen).toEqual(['task.created', 'task.updated', 'task.updated'])
      await writer.update('s', task.id, { state: 'succeeded' })
      await until(() => seen.length === 4)
      await reader.close()
    })
  })
}
