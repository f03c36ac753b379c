export type { DatabaseClock } from './clock.js'
export { createDatabaseClock, DATABASE_CLOCK_QUERY } from './clock.js'
export type { MigrateOptions, Migration, TableNames } from './migrations.js'
export {
  DEFAULT_TABLE_PREFIX,
  MIGRATIONS,
  migrate,
  migrationStatements,
  SCHEMA_VERSION,
  tableNames,
} from './migrations.js'
export type { PostgresSessionTaskRegistryOptions } from './registry.js'
export { PostgresSessionTaskRegistry } from './registry.js'
export type {
  PGliteLike,
  PgClientLike,
  PgNamedQuery,
  PgPoolAdapterOptions,
  PgPoolLike,
  SqlClient,
  SqlListenOptions,
  SqlResult,
  SqlTx,
} from './sql-client.js'
export { fromPGlite, fromPgPool } from './sql-client.js'
export type { PostgresTaskStoreOptions } from './store.js'
export { PostgresTaskStore } from './store.js'
