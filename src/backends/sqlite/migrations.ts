import { type TableNames, tableNames } from '../table-names.js'
import type { SqliteDriver } from './driver.js'
import { immediate, whileBusy } from './transaction.js'

/** Options of {@link migrate}. */
export type SqliteMigrateOptions = {
  /**
   * Prepended to every table and index name (lower-case letters, digits and `_`).
   * @default 'session_tasks_'
   */
  prefix?: string | undefined
}

/** One step of the SQLite schema, applied once per prefix, in version order. */
export type SqliteMigration = {
  /** 1, 2, 3, ...: the schema version the step brings the tables to. */
  readonly version: number
  /** What the step does, for logs. */
  readonly name: string
  /** Its statements, for one table prefix. */
  readonly statements: (t: TableNames) => readonly string[]
}

// Timestamps are canonical `toISOString()` strings, so text order is time
// order. Records and payloads are JSON text the registry never looks into
// in SQL; the columns beside them are what queries filter and sort on.
// `ord` and `gid` are AUTOINCREMENT: never reused, so a position or a feed
// cursor never points at a later row.

/** Every version of the SQLite schema so far. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'tasks, messages, session counters and the event feed (0.2)',
    statements: (t) => {
      const p = t.prefix
      const unfinished = `('queued', 'running', 'awaiting_input')`
      return [
        `CREATE TABLE ${t.tasks} (
          ord INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          session_id TEXT NOT NULL,
          state TEXT NOT NULL,
          kind TEXT NOT NULL,
          record TEXT NOT NULL,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL,
          heartbeat_at TEXT,
          finished_at TEXT,
          deadline_at TEXT,
          expires_at TEXT
        )`,
        `CREATE INDEX ${p}tasks_by_session ON ${t.tasks} (session_id, created_at, ord)`,
        `CREATE INDEX ${p}tasks_by_state ON ${t.tasks} (state, created_at, ord)`,
        `CREATE INDEX ${p}tasks_stale ON ${t.tasks} (heartbeat_at, created_at, ord)
          WHERE state IN ('queued', 'running') AND heartbeat_at IS NOT NULL`,
        `CREATE INDEX ${p}tasks_finished ON ${t.tasks} (finished_at, created_at, ord)
          WHERE finished_at IS NOT NULL`,
        `CREATE INDEX ${p}tasks_overdue ON ${t.tasks} (deadline_at, created_at, ord)
          WHERE state IN ${unfinished} AND deadline_at IS NOT NULL`,
        `CREATE INDEX ${p}tasks_expiring ON ${t.tasks} (expires_at) WHERE expires_at IS NOT NULL`,
        `CREATE TABLE ${t.messages} (
          ord INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          task_id TEXT NOT NULL,
          record TEXT NOT NULL,
          created_at TEXT NOT NULL
        )`,
        `CREATE INDEX ${p}messages_by_task ON ${t.messages} (task_id, created_at, ord)`,
        `CREATE TABLE ${t.sessions} (
          session_id TEXT PRIMARY KEY,
          seq INTEGER NOT NULL
        ) WITHOUT ROWID`,
        // The feed: every process reads it in gid order, which is commit
        // order (SQLite has one writer at a time). seq 0 marks a deleted session.
        `CREATE TABLE ${t.events} (
          gid INTEGER PRIMARY KEY AUTOINCREMENT,
          session_id TEXT NOT NULL,
          seq INTEGER NOT NULL,
          task_id TEXT NOT NULL,
          type TEXT NOT NULL,
          payload TEXT NOT NULL,
          origin TEXT NOT NULL
        )`,
        `CREATE UNIQUE INDEX ${p}events_by_session ON ${t.events} (session_id, seq) WHERE seq > 0`,
        `CREATE INDEX ${p}events_by_task ON ${t.events} (task_id)`,
      ]
    },
  },
]

/** The SQLite schema version this library writes and reads. */
export const SQLITE_SCHEMA_VERSION: number = SQLITE_MIGRATIONS.length

/**
 * Brings the registry's tables in a SQLite database to
 * {@link SQLITE_SCHEMA_VERSION} and switches the file to WAL mode (so readers
 * in other processes never wait for a writer). Each version is applied in
 * one `BEGIN IMMEDIATE` transaction with its record in the schema table, so
 * several processes may run it at once. Rejects a database whose schema is
 * newer than this library. Resolves the version applied.
 */
export async function migrate(
  driver: SqliteDriver,
  options: SqliteMigrateOptions = {},
): Promise<number> {
  const t = tableNames(options.prefix)
  // Outside a transaction: the journal mode cannot change inside one. A
  // memory database stays 'memory', which is fine for one connection. On a
  // new file another process may hold the lock for its own switch: wait.
  await whileBusy(driver, { busyTimeoutMs: 30_000 }, () =>
    driver.prepare('PRAGMA journal_mode = WAL').get(),
  )
  return immediate(driver, { busyTimeoutMs: 30_000 }, () => {
    driver.exec(
      `CREATE TABLE IF NOT EXISTS ${t.schema} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    )
    const current = refuseNewerSchema(driver, t)
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue
      for (const statement of m.statements(t)) driver.exec(statement)
      driver
        .prepare(`INSERT INTO ${t.schema} (version, name, applied_at) VALUES (?, ?, ?)`)
        .run(m.version, m.name, new Date().toISOString())
    }
    return SQLITE_SCHEMA_VERSION
  })
}

/**
 * Throws when the tables' schema is newer than this library's (a newer
 * library migrated them, and they may mean other things now); returns the
 * version applied. Tables without a schema table count as version 0.
 */
export function refuseNewerSchema(driver: SqliteDriver, t: TableNames): number {
  let current: number
  try {
    const row = driver.prepare(`SELECT coalesce(max(version), 0) AS v FROM ${t.schema}`).get()
    current = Number(row?.v ?? 0)
  } catch {
    return 0 // No schema table yet: migrate creates it, and the store names migrate().
  }
  if (current > SQLITE_SCHEMA_VERSION) {
    throw new Error(
      `session-tasks: the SQLite tables with prefix '${t.prefix}' are at schema version ${current}, newer than this library's ${SQLITE_SCHEMA_VERSION}; upgrade session-tasks`,
    )
  }
  return current
}
