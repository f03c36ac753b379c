import type { SqlClient } from '../../backends/postgres/sql-client.js'
import type { ContractRunner } from '../contract/runner.js'

/** The database a {@link describePostgresRegistry} run uses. */
export type PostgresTestEnvironment = {
  /**
   * Two clients standing for two processes (two pools on a server; the same
   * PGlite twice works too). Called once, lazily, before the first test.
   */
  clients(): Promise<[SqlClient, SqlClient]> | [SqlClient, SqlClient]
  /** Table prefix to use (a fresh one keeps a shared database clean). */
  prefix?: string | undefined
  /** Runs once after the last test (close pools, drop tables). */
  teardown?: (() => Promise<void>) | undefined
  /** Larger batches for real servers; smaller keep PGlite fast. */
  concurrency?: number | undefined
  /**
   * The test runner to register the tests with, `afterAll` included (under
   * node:test, `afterAll: after`); by default the runner's globals (Jest,
   * vitest with `globals: true`). Under vitest without globals, pass
   * `vitestRunner` from `session-tasks/testing/vitest`.
   */
  runner?: ContractRunner | undefined
}
