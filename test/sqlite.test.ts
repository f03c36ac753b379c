import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import {
  fromBetterSqlite3,
  fromNodeSqlite,
  migrate,
  SQLITE_MIGRATIONS,
  SQLITE_SCHEMA_VERSION,
  type SqliteDriver,
  SqliteSessionTaskRegistry,
} from '../src/backends/sqlite/index.js'
import { describeRegistryContract } from '../src/testing/vitest.js'
import { anySqlite, sqliteDrivers } from './fixtures/sqlite.js'

// The registry contract on SQLite, through each driver this Node loads.
for (const [name, open] of sqliteDrivers) {
  if (open === undefined) {
    describe.skip(`SqliteSessionTaskRegistry (${name})`, () => {
      test('the registry contract (the driver does not load in this Node)', () => {})
    })
    continue
  }
  describeRegistryContract(
    `SqliteSessionTaskRegistry (${name})`,
    async (options) => {
      const driver = open(':memory:')
      await migrate(driver)
      const registry = new SqliteSessionTaskRegistry({ driver, ...options })
      await registry.start()
      return registry
    },
    { cleanup: (registry) => (registry as SqliteSessionTaskRegistry).close() },
  )
}

describe('SQLite setup', () => {
  const [, open] = anySqlite

  test('bad options are refused naming the field, before anything is opened', () => {
    const driver = open(':memory:')
    expect(() => new SqliteSessionTaskRegistry({ driver, pollIntervalMs: 0 })).toThrow(
      /pollIntervalMs.*must be positive/,
    )
    expect(() => new SqliteSessionTaskRegistry({ driver, busyTimeoutMs: -1 })).toThrow(
      /busyTimeoutMs.*must not be negative/,
    )
    expect(() => new SqliteSessionTaskRegistry({ driver, prefix: 'Bad-Prefix' })).toThrow(/prefix/)
    expect(() => new SqliteSessionTaskRegistry({ driver: {} as unknown as SqliteDriver })).toThrow(
      /driver.*SqliteDriver/,
    )
  })

  test('a database that was not migrated is refused at construction, saying what to do', () => {
    expect(() => new SqliteSessionTaskRegistry({ driver: open(':memory:') })).toThrow(
      /run migrate\(driver\)/,
    )
  })

  test('one connection backs one registry per prefix; close() frees it', async () => {
    const driver = open(':memory:')
    await migrate(driver)
    const first = new SqliteSessionTaskRegistry({ driver })
    expect(() => new SqliteSessionTaskRegistry({ driver })).toThrow(/already backs a registry/)
    await first.close()
    const second = new SqliteSessionTaskRegistry({ driver })
    expect(await second.list('s')).toEqual([])
    await second.close()
  })

  test('an adapter gives one driver per database object', () => {
    const db = {
      exec() {},
      prepare: () => ({
        run: () => ({ changes: 0, lastInsertRowid: 0 }),
        all: () => [],
        get: () => undefined,
      }),
    }
    expect(fromBetterSqlite3(db)).toBe(fromBetterSqlite3(db))
    expect(fromNodeSqlite(db)).toBe(fromNodeSqlite(db))
  })

  test('migrate is idempotent, records its version, and refuses a newer schema', async () => {
    const driver = open(':memory:')
    expect(await migrate(driver)).toBe(SQLITE_SCHEMA_VERSION)
    expect(await migrate(driver)).toBe(SQLITE_SCHEMA_VERSION)
    const versions = driver.prepare('SELECT version FROM session_tasks_schema').all()
    expect(versions.map((row) => row.version)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version))
    driver.prepare("INSERT INTO session_tasks_schema VALUES (99, 'future', '')").run()
    await expect(migrate(driver)).rejects.toThrow(/schema version 99, newer than/)
  })

  test('migrate under another prefix makes separate tables', async () => {
    const driver = open(':memory:')
    await migrate(driver, { prefix: 'app_' })
    const a = new SqliteSessionTaskRegistry({ driver, prefix: 'app_' })
    await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    const tables = driver
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'app_%' ORDER BY name",
      )
      .all()
      .map((row) => row.name)
    expect(tables).toEqual([
      'app_events',
      'app_messages',
      'app_schema',
      'app_sessions',
      'app_tasks',
    ])
    await a.close()
  })

  test('a file is switched to WAL by migrate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'session-tasks-wal-'))
    try {
      const driver = open(join(dir, 'wal.db'))
      await migrate(driver)
      expect(driver.prepare('PRAGMA journal_mode').get()?.journal_mode).toBe('wal')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
