import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'

// Connection faults against a real server (run by .ci/run through
// scripts/with-postgres.sh): terminated backends must never crash the process.
const url = process.env.TEST_DATABASE_URL
const APP = 'session-tasks-faults'

describe.skipIf(url === undefined || url === '')('PostgreSQL connection faults', () => {
  const prefix = `sf${Date.now().toString(36)}_`
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: APP })
  const admin = new pg.Pool({ connectionString: url, max: 1 })
  const errors: unknown[] = []

  afterAll(async () => {
    const t = tableNames(prefix)
    await admin.query(
      `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
    )
    await Promise.all([pool.end(), admin.end()])
  })

  const terminate = () =>
    admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [APP],
    )

  test('terminating the pool’s backends mid-write fails writes with an error, never crashes, and the registry recovers', async () => {
    // No pool.on('error') of our own: the adapter must handle idle-connection errors.
    const client = fromPgPool(pool, { onError: (e) => errors.push(e) })
    await migrate(client, { prefix })
    const registry = new PostgresSessionTaskRegistry({
      client,
      prefix,
      onError: (e) => errors.push(e),
    })
    await registry.start()
    const seen: number[] = []
    registry.subscribe('s', () => seen.push(1))
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    let failed = 0
    let succeeded = 0
    for (let round = 0; round < 8; round++) {
      const writes = Array.from({ length: 12 }, (_, i) =>
        registry.update('s', task.id, { progress: { current: round * 100 + i } }).then(
          () => succeeded++,
          (error: unknown) => {
            expect(error).toBeInstanceOf(Error)
            failed++
          },
        ),
      )
      await terminate()
      await Promise.all(writes)
    }
    // After the faults, everything works again.
    const after = await registry.update('s', task.id, { summary: 'recovered' })
    expect(after?.summary).toBe('recovered')
    expect(succeeded + failed).toBe(96)
    expect(succeeded).toBeGreaterThan(0)
    await registry.close()
  }, 60_000)
})
