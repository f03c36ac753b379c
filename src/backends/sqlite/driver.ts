// The few synchronous calls the SQLite store makes, and adapters from the two
// drivers it supports. Both are typed by shape here, so neither is imported:
// nothing native loads unless the caller opened a database with it.

/** A value bound to a statement parameter or read from a column. */
export type SqliteValue = string | number | bigint | null

/** A row as a driver returns it: column name to value. */
export type SqliteRow = Readonly<Record<string, unknown>>

/**
 * One prepared statement. Parameters are given in order: the store's SQL
 * uses `?` and, where a value repeats, numbered `?1`, `?2`, ... (value i
 * binds `?i`), as SQLite itself numbers them.
 */
export interface SqliteStatement {
  /** Runs it: how many rows changed, and the rowid of the last row inserted. */
  run(...params: SqliteValue[]): {
    readonly changes: number | bigint
    readonly lastInsertRowid: number | bigint
  }
  /** Runs it and returns every row. */
  all(...params: SqliteValue[]): readonly SqliteRow[]
  /** Runs it and returns the first row, or undefined. */
  get(...params: SqliteValue[]): SqliteRow | undefined
}

/**
 * The driver interface {@link SqliteSessionTaskRegistry} and {@link migrate}
 * use: one open connection, called synchronously. Get one with
 * `fromBetterSqlite3(db)` or `fromNodeSqlite(db)`, or write your own.
 */
export interface SqliteDriver {
  /** Runs SQL without results (DDL, PRAGMA, BEGIN, COMMIT). */
  exec(sql: string): void
  /** A prepared statement for `sql`; the driver may cache it. */
  prepare(sql: string): SqliteStatement
  /** True when `error` says the database was locked by another connection (SQLITE_BUSY). */
  isBusy(error: unknown): boolean
}

/** What {@link fromBetterSqlite3} needs of a `better-sqlite3` (12.x) `Database`. */
export type BetterSqlite3Like = {
  /** Runs SQL without results. */
  exec(sql: string): unknown
  /** Prepares a statement. */
  prepare(sql: string): {
    /** Runs it. */
    run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint }
    /** Every row. */
    all(...params: unknown[]): unknown[]
    /** The first row. */
    get(...params: unknown[]): unknown
  }
}

/** What {@link fromNodeSqlite} needs of a `node:sqlite` `DatabaseSync` (Node >= 22.5). */
export type NodeSqliteLike = BetterSqlite3Like

type Prepared = ReturnType<BetterSqlite3Like['prepare']>

function cached(
  db: BetterSqlite3Like,
  isBusy: (error: unknown) => boolean,
  wrap: (statement: Prepared, sql: string) => SqliteStatement = (statement) =>
    statement as SqliteStatement,
): SqliteDriver {
  if (
    typeof db !== 'object' ||
    db === null ||
    typeof db.exec !== 'function' ||
    typeof db.prepare !== 'function'
  ) {
    throw new TypeError('session-tasks: the SQLite database must have exec() and prepare()')
  }
  // Statements are prepared once per text: the store's texts are a fixed set.
  const statements = new Map<string, SqliteStatement>()
  return {
    exec: (sql) => {
      db.exec(sql)
    },
    prepare(sql) {
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = wrap(db.prepare(sql), sql)
        statements.set(sql, statement)
      }
      return statement
    },
    isBusy,
  }
}

const SQLITE_BUSY = 5

// better-sqlite3 binds `?1`, `?2`, ... by name only: an object keyed 1, 2, ...
function numberedByName(statement: Prepared, sql: string): SqliteStatement {
  if (!/\?\d/.test(sql)) return statement as SqliteStatement
  const named = (params: SqliteValue[]) => {
    const values: Record<number, SqliteValue> = {}
    params.forEach((value, i) => {
      values[i + 1] = value
    })
    return values
  }
  return {
    run: (...params) => statement.run(named(params)),
    all: (...params) => statement.all(named(params)) as SqliteRow[],
    get: (...params) => statement.get(named(params)) as SqliteRow | undefined,
  }
}

// One driver per connection: the registry tells two registries on one
// connection apart by their driver (see SqliteSessionTaskRegistry).
const adapted = new WeakMap<object, SqliteDriver>()

function once(db: BetterSqlite3Like, make: () => SqliteDriver): SqliteDriver {
  if (typeof db !== 'object' || db === null) return make()
  let driver = adapted.get(db)
  if (driver === undefined) {
    driver = make()
    adapted.set(db, driver)
  }
  return driver
}

/**
 * Adapts a `better-sqlite3` 12.x `Database` (open it yourself; the registry
 * never closes it). The same database always gives the same driver.
 */
export function fromBetterSqlite3(db: BetterSqlite3Like): SqliteDriver {
  return once(db, () => betterSqlite3Driver(db))
}

function betterSqlite3Driver(db: BetterSqlite3Like): SqliteDriver {
  return cached(
    db,
    (error) => {
      const code = (error as { code?: unknown } | null)?.code
      return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
    },
    numberedByName,
  )
}

/**
 * Adapts a `node:sqlite` `DatabaseSync` (Node >= 22.5; open it yourself;
 * the registry never closes it). The same database always gives the same driver.
 */
export function fromNodeSqlite(db: NodeSqliteLike): SqliteDriver {
  return once(db, () =>
    cached(db, (error) => {
      // node:sqlite reports the primary result code as `errcode` (extended codes keep it in the low byte).
      const errcode = (error as { errcode?: unknown } | null)?.errcode
      return typeof errcode === 'number' && (errcode & 0xff) === SQLITE_BUSY
    }),
  )
}
