/**
 * Opening a SQLite database file for the SQLite benchmarks
 * (bench/sqlite-scale.ts and its processes): better-sqlite3 on Node 20,
 * node:sqlite on Node 22.5+ (the first that loads), and a driver that counts
 * and times every call the store makes, by statement.
 */
import { createRequire } from 'node:module'
import {
  type BetterSqlite3Like,
  fromBetterSqlite3,
  fromNodeSqlite,
  type SqliteDriver,
  type SqliteStatement,
} from '../src/backends/sqlite/index.js'
import { sqliteStatements } from '../src/backends/sqlite/statements.js'
import { tableNames } from '../src/backends/table-names.js'

const require = createRequire(import.meta.url)

type Connection = BetterSqlite3Like & { close(): unknown }

/** One open connection: the store's driver, the raw connection, the driver's name. */
export type Opened = { driver: SqliteDriver; db: Connection; driverName: string }

/** Opens `path` with better-sqlite3, or node:sqlite where better-sqlite3 does not load. */
export function openSqlite(path: string): Opened {
  try {
    const Database = require('better-sqlite3') as new (path: string) => Connection
    const db = new Database(path)
    return { driver: fromBetterSqlite3(db), db, driverName: 'better-sqlite3' }
  } catch (error) {
    let DatabaseSync: (new (path: string) => Connection) | undefined
    try {
      DatabaseSync = (require('node:sqlite') as { DatabaseSync: new (path: string) => Connection })
        .DatabaseSync
    } catch {
      throw error
    }
    const db = new DatabaseSync(path)
    return { driver: fromNodeSqlite(db), db, driverName: 'node:sqlite' }
  }
}

/** One statement's share: calls and the wall time spent inside them (ms). */
export type StatementCost = { calls: number; ms: number }

/** A driver that counts and times every call, by statement name. */
export type CountingDriver = SqliteDriver & {
  /** Per statement name: calls and ms so far. */
  readonly costs: Map<string, StatementCost>
  /** SQLITE_BUSY errors seen so far (each one a retry of a write). */
  readonly busy: { count: number }
}

/**
 * Wraps `inner` so that each exec/run/get/all is counted and timed under the
 * name of the store's statement (`insert`, `allocate`, ... as in
 * statements.ts), or its own SQL text for PRAGMAs, BEGIN and COMMIT.
 */
export function countingDriver(inner: SqliteDriver, prefix?: string): CountingDriver {
  const names = new Map<string, string>()
  for (const [name, sql] of Object.entries(sqliteStatements(tableNames(prefix)))) {
    names.set(sql, name)
  }
  const costs = new Map<string, StatementCost>()
  const busy = { count: 0 }
  const timed = <R>(name: string, call: () => R): R => {
    const t0 = performance.now()
    try {
      return call()
    } finally {
      const ms = performance.now() - t0
      let cost = costs.get(name)
      if (cost === undefined) {
        cost = { calls: 0, ms: 0 }
        costs.set(name, cost)
      }
      cost.calls++
      cost.ms += ms
    }
  }
  const statements = new Map<string, SqliteStatement>()
  return {
    costs,
    busy,
    exec: (sql) => timed(sql, () => inner.exec(sql)),
    prepare(sql) {
      let statement = statements.get(sql)
      if (statement === undefined) {
        const name = names.get(sql) ?? sql
        const s = inner.prepare(sql)
        statement = {
          run: (...params) => timed(name, () => s.run(...params)),
          get: (...params) => timed(name, () => s.get(...params)),
          all: (...params) => timed(name, () => s.all(...params)),
        }
        statements.set(sql, statement)
      }
      return statement
    },
    isBusy(error) {
      const yes = inner.isBusy(error)
      if (yes) busy.count++
      return yes
    },
  }
}

/** Sums of `costs` as a plain object, ms and calls per operation over `count` operations. */
export function perOperation(
  costs: Map<string, StatementCost>,
  count: number,
): Record<string, StatementCost> {
  const out: Record<string, StatementCost> = {}
  for (const [name, cost] of costs) {
    out[name] = { calls: cost.calls / count, ms: cost.ms / count }
  }
  return out
}

/** `costs` minus `before` (a copy taken earlier with {@link snapshotCosts}). */
export function costsSince(
  costs: Map<string, StatementCost>,
  before: Map<string, StatementCost>,
): Map<string, StatementCost> {
  const out = new Map<string, StatementCost>()
  for (const [name, cost] of costs) {
    const b = before.get(name) ?? { calls: 0, ms: 0 }
    if (cost.calls > b.calls) out.set(name, { calls: cost.calls - b.calls, ms: cost.ms - b.ms })
  }
  return out
}

/** A copy of `costs`. */
export function snapshotCosts(costs: Map<string, StatementCost>): Map<string, StatementCost> {
  return new Map([...costs].map(([name, cost]) => [name, { ...cost }]))
}
