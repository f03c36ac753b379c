export type {
  BetterSqlite3Like,
  NodeSqliteLike,
  SqliteDriver,
  SqliteRow,
  SqliteStatement,
  SqliteValue,
} from './driver.js'
export { fromBetterSqlite3, fromNodeSqlite } from './driver.js'
export type { SqliteMigrateOptions, SqliteMigration } from './migrations.js'
export { migrate, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './migrations.js'
export type { SqliteSessionTaskRegistryOptions } from './registry.js'
export { SqliteSessionTaskRegistry } from './registry.js'
export type { SqliteTaskStoreOptions } from './store.js'
export { SqliteTaskStore } from './store.js'
export type { SqliteSynchronous } from './wal.js'
export { SQLITE_SYNCHRONOUS } from './wal.js'
