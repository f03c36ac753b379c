export type { TableNames } from '../table-names.js'
export { DEFAULT_TABLE_PREFIX, tableNames } from '../table-names.js'
export type { DatabaseClock } from './clock.js'
export { createDatabaseClock, DATABASE_CLOCK_QUERY } from './clock.js'
export type { MigrateOptions, Migration } from './migrations.js'
export { MIGRATIONS, migrate, migrationStatements, SCHEMA_VERSION } from './migrations.js'
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
