import { type TableNames, tableNames } from '../table-names.js'
import type { SqlClient } from './sql-client.js'

/** Options of {@link migrate}. */
export type MigrateOptions = {
  /**
   * Prepended to every table and index name, so that several registries (or
   * an application's own `sessions` table) can share one schema. Lower-case
   * letters, digits and `_`.
   * @default 'session_tasks_'
   */
  prefix?: string | undefined
}

// Timestamps are canonical `toISOString()` strings; with the "C" collation
// their byte order is their time order, whatever the database's locale.
// Records and payloads are `json`, not `jsonb`: `json` keeps key order and
// accepts every string the library accepts (jsonb rejects `\u0000`), and the
// registry never looks inside them in SQL.

/** One step of the schema, applied once per prefix, in version order. */
export type Migration = {
  /** 1, 2, 3, ...: the schema version the step brings the tables to. */
  readonly version: number
  /** What the step does, for logs. */
  readonly name: string
  /** Its statements, for one table prefix. */
  readonly statements: (t: TableNames) => readonly string[]
}

/**
 * Every schema version so far. Version 1 is the 0.1 schema, written so that
 * it also runs harmlessly on a 0.1 database (which has no schema table):
 * such a database is upgraded in place by the versions after it.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tasks, messages, session counters and events (0.1)',
    statements: (t) => {
      const p = t.prefix
      return [
        `CREATE TABLE IF NOT EXISTS ${t.tasks} (
          id text PRIMARY KEY,
          session_id text NOT NULL,
          state text NOT NULL,
          record json NOT NULL,
          heartbeat_at text COLLATE "C",
          finished_at text COLLATE "C",
          created_at text COLLATE "C" NOT NULL,
          ord bigserial NOT NULL
    )`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_by_session ON ${t.tasks} (session_id, created_at, ord)`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_stale ON ${t.tasks} (heartbeat_at, created_at, ord)
          WHERE state IN ('queued', 'running') AND heartbeat_at IS NOT NULL`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_finished ON ${t.tasks} (finished_at, created_at, ord)
          WHERE state IN ('succeeded', 'failed', 'canceled') AND finished_at IS NOT NULL`,
        `CREATE TABLE IF NOT EXISTS ${t.messages} (
          id text PRIMARY KEY,
          task_id text NOT NULL REFERENCES ${t.tasks} (id) ON DELETE CASCADE,
          record json NOT NULL,
          created_at text COLLATE "C" NOT NULL,
          ord bigserial NOT NULL
    )`,
        `CREATE INDEX IF NOT EXISTS ${p}messages_by_task ON ${t.messages} (task_id, created_at, ord)`,
        `CREATE TABLE IF NOT EXISTS ${t.sessions} (
          session_id text PRIMARY KEY,
          seq bigint NOT NULL,
          epoch text NOT NULL
    )`,
        `CREATE TABLE IF NOT EXISTS ${t.events} (
          session_id text NOT NULL,
          seq bigint NOT NULL,
          task_id text NOT NULL,
          type text NOT NULL,
          payload json NOT NULL,
          PRIMARY KEY (session_id, seq)
    )`,
        `CREATE INDEX IF NOT EXISTS ${p}events_by_task ON ${t.events} (task_id)`,
      ]
    },
  },
  {
    version: 2,
    name: 'writing transaction ids, for catching up after a LISTEN outage (0.2)',
    statements: (t) => [
      `ALTER TABLE ${t.sessions} ADD COLUMN IF NOT EXISTS tx xid8`,
      `ALTER TABLE ${t.sessions} ALTER COLUMN tx SET DEFAULT pg_current_xact_id()`,
      `ALTER TABLE ${t.events} ADD COLUMN IF NOT EXISTS tx xid8`,
      `ALTER TABLE ${t.events} ALTER COLUMN tx SET DEFAULT pg_current_xact_id()`,
    ],
  },
  {
    version: 3,
    name: 'kinds, deadlines and record versions as columns, for claims, deadline sweeps and optimistic writes (0.2)',
    statements: (t) => {
      const p = t.prefix
      return [
        `ALTER TABLE ${t.tasks} ADD COLUMN IF NOT EXISTS kind text`,
        `ALTER TABLE ${t.tasks} ADD COLUMN IF NOT EXISTS deadline_at text COLLATE "C"`,
        // Bumped by every record write: optimistic writers compare it.
        `ALTER TABLE ${t.tasks} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0`,
        // The kind column holds the kind's JSON text (see kindKey): the record's own.
        `UPDATE ${t.tasks} SET kind = (record->'kind')::text, deadline_at = record->>'deadlineAt' WHERE kind IS NULL`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_queued ON ${t.tasks} (created_at, ord) WHERE state = 'queued'`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_overdue ON ${t.tasks} (deadline_at, created_at, ord)
          WHERE state IN ('queued', 'running', 'awaiting_input') AND deadline_at IS NOT NULL`,
        `CREATE INDEX IF NOT EXISTS ${p}tasks_holding ON ${t.tasks} (session_id, kind)
          WHERE state IN ('running', 'awaiting_input')`,
        // A writer that does not bump the version itself (a 0.1 process
        // during the upgrade, hand-written SQL) still changes it, so an
        // optimistic write that read the old one cannot overwrite its change.
        `CREATE OR REPLACE FUNCTION ${p}tasks_bump_version() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $f$`,
        `DROP TRIGGER IF EXISTS ${p}tasks_version ON ${t.tasks}`,
        `CREATE TRIGGER ${p}tasks_version BEFORE UPDATE ON ${t.tasks} FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION ${p}tasks_bump_version()`,
      ]
    },
  },
  {
    version: 4,
    name: 'expiry as a column, for reads and prune (0.2)',
    statements: (t) => [
      `ALTER TABLE ${t.tasks} ADD COLUMN IF NOT EXISTS expires_at text COLLATE "C"`,
      `UPDATE ${t.tasks} SET expires_at = record->>'expiresAt' WHERE expires_at IS NULL AND record->>'expiresAt' IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS ${t.prefix}tasks_expiring ON ${t.tasks} (expires_at) WHERE expires_at IS NOT NULL`,
    ],
  },
]

/** The schema version this library writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS.length

/** Every statement of every version, in order (for operators who run DDL themselves). */
export function migrationStatements(prefix?: string): string[] {
  const t = tableNames(prefix)
  return MIGRATIONS.flatMap((m) => [...m.statements(t)])
}

// Any constant works; it only keeps two processes from migrating at once
// (concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs).
const MIGRATION_LOCK = 0x5e55_1a5c

/**
 * Brings the registry's tables to {@link SCHEMA_VERSION}: creates them on an
 * empty database, upgrades one made by an earlier release in place (a 0.1
 * database included), and does nothing when they are current. Every
 * version is applied in one transaction with its record in the schema
 * table. Safe to run from several processes at once; rejects a database
 * whose schema is newer than this library. Resolves the version applied.
 */
export async function migrate(client: SqlClient, options: MigrateOptions = {}): Promise<number> {
  const t = tableNames(options.prefix)
  return client.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`)
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${t.schema} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    const { rows } = await tx.query<{ v: unknown }>(
      `SELECT coalesce(max(version), 0) AS v FROM ${t.schema}`,
    )
    const current = Number(rows[0]?.v ?? 0)
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `session-tasks: the tables with prefix '${t.prefix}' are at schema version ${current}, newer than this library's ${SCHEMA_VERSION}; upgrade session-tasks`,
      )
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue
      for (const statement of m.statements(t)) await tx.query(statement)
      await tx.query(`INSERT INTO ${t.schema} (version, name) VALUES ($1, $2)`, [m.version, m.name])
    }
    return SCHEMA_VERSION
  })
}
