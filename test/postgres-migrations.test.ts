import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  MIGRATIONS,
  migrate,
  PostgresSessionTaskRegistry,
  SCHEMA_VERSION,
  type SqlClient,
  tableNames,
} from '../src/backends/postgres/index.js'
import type { StreamItem } from '../src/index.js'

// SPEC 12.6: migrate() upgrades a database made by any earlier released
// schema in place. The 0.1 DDL is kept verbatim as a fixture; its rows are
// written in the 0.1 format (the row format did not change, only columns
// were added), then migrated and read back through the registry.

// On PGlite always, and on the real server when .ci/run gives one.
const url = process.env.TEST_DATABASE_URL
const PREFIXES = ['fresh_', 'src_', 'v01_', 'future_']

const ddl = readFileSync(new URL('./fixtures/schema-0.1.sql', import.meta.url), 'utf8')
  .split(/;\s*\n/)
  .map((s) => s.replace(/^--.*$/gm, '').trim())
  .filter((s) => s !== '')

async function collect(stream: AsyncIterable<StreamItem>, n: number): Promise<StreamItem[]> {
  const items: StreamItem[] = []
  for await (const item of stream) {
    items.push(item)
    if (items.length === n) break
  }
  return items
}

function migrationTests(
  name: string,
  open: () => { client: SqlClient; close: () => Promise<void> },
) {
  describe(`migrate (${name})`, () => {
    const { client, close } = open()
    const drop = async () => {
      for (const prefix of PREFIXES) {
        const t = tableNames(prefix)
        await client.query(
          `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
        )
      }
    }
    beforeAll(drop)
    afterAll(async () => {
      await drop()
      await close()
    })

    test('creates the current schema on an empty database and records its versions', async () => {
      expect(await migrate(client, { prefix: 'fresh_' })).toBe(SCHEMA_VERSION)
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM fresh_schema ORDER BY version',
      )
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
      // Running it again changes nothing.
      expect(await migrate(client, { prefix: 'fresh_' })).toBe(SCHEMA_VERSION)
      const again = await client.query('SELECT version FROM fresh_schema')
      expect(again.rows).toHaveLength(MIGRATIONS.length)
    })

    test('upgrades a 0.1 database in place: every record, message and event reads back', async () => {
      // A source of rows in the (unchanged) row format.
      await migrate(client, { prefix: 'src_' })
      const source = new PostgresSessionTaskRegistry({ client, prefix: 'src_' })
      const a = await source.create({ sessionId: 's', kind: 'k', displayName: 'first' })
      await source.update('s', a.id, { state: 'running', progress: { current: 1, total: 2 } })
      await source.recordMessage('s', a.id, {
        direction: 'outbound',
        content: [{ type: 'text', text: 'half way' }],
      })
      const b = await source.create({ sessionId: 's', kind: 'k', displayName: 'second' })
      await source.update('s', b.id, { state: 'succeeded', summary: 'done' })

      for (const statement of ddl) await client.query(statement)
      const src = tableNames('src_')
      const old = tableNames('v01_')
      await client.query(
        `INSERT INTO ${old.tasks} SELECT id, session_id, state, record, heartbeat_at, finished_at, created_at, ord FROM ${src.tasks}`,
      )
      await client.query(
        `INSERT INTO ${old.messages} SELECT id, task_id, record, created_at, ord FROM ${src.messages}`,
      )
      await client.query(
        `INSERT INTO ${old.sessions} SELECT session_id, seq, epoch FROM ${src.sessions}`,
      )
      await client.query(
        `INSERT INTO ${old.events} SELECT session_id, seq, task_id, type, payload FROM ${src.events}`,
      )

      expect(await migrate(client, { prefix: 'v01_' })).toBe(SCHEMA_VERSION)
      const upgraded = new PostgresSessionTaskRegistry({ client, prefix: 'v01_' })
      expect(await upgraded.list('s')).toEqual(await source.list('s'))
      expect(await upgraded.get('s', a.id)).toEqual(await source.get('s', a.id))
      expect(await upgraded.listMessages('s', a.id)).toEqual(await source.listMessages('s', a.id))
      const { rows } = await client.query<{ seq: unknown }>(`SELECT seq FROM ${old.sessions}`)
      const head = Number(rows[0]?.seq)
      expect(head).toBeGreaterThanOrEqual(5)
      const replay = await collect(upgraded.stream('s', { since: 0 }), head)
      const original = await collect(source.stream('s', { since: 0 }), head)
      expect(replay).toEqual(original)
      expect(replay.map((i) => i.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1))

      // And it keeps working: the next event follows the old ones.
      const seen: StreamItem[] = []
      const live = upgraded.stream('s', { since: head })[Symbol.asyncIterator]()
      const next = live.next()
      await upgraded.update('s', a.id, { state: 'succeeded' })
      seen.push((await next).value as StreamItem)
      expect(seen[0]?.seq).toBe(head + 1)
      await live.return?.()
    })

    test('refuses a database whose schema is newer than the library', async () => {
      await migrate(client, { prefix: 'future_' })
      await client.query(
        `INSERT INTO future_schema (version, name) VALUES ($1, 'from the future')`,
        [SCHEMA_VERSION + 1],
      )
      await expect(migrate(client, { prefix: 'future_' })).rejects.toThrow(
        /newer than this library/,
      )
    })
  })
}

migrationTests('PGlite', () => {
  const db = new PGlite()
  return { client: fromPGlite(db), close: () => db.close() }
})
if (url !== undefined && url !== '') {
  migrationTests('PostgreSQL server', () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    return { client: fromPgPool(pool, { onError: () => {} }), close: () => pool.end() }
  })
}
