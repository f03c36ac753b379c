// The shared state of one describePostgresRegistry run: two lazily migrated
// clients, a wipe between tests and registries closed after each test.
import { migrate } from '../../backends/postgres/migrations.js'
import { PostgresSessionTaskRegistry } from '../../backends/postgres/registry.js'
import type { SqlClient } from '../../backends/postgres/sql-client.js'
import { type TableNames, tableNames } from '../../backends/table-names.js'
import type { ContractExpect, ContractTest } from '../contract/runner.js'
import type { PostgresTestEnvironment } from './environment.js'

/** Options of {@link PostgresHarness.make}. */
export type MakeOptions = { now?: () => Date; replayBuffer?: number; start?: boolean }

/** The database of one run and the registries its tests open. */
export type PostgresHarness = {
  /** The table prefix (undefined: the default one). */
  prefix: string | undefined
  /** The run's table names. */
  t: TableNames
  /** How many concurrent writes the batch tests make. */
  batch: number
  /** The two clients, migrated on first use. */
  clients(): Promise<[SqlClient, SqlClient]>
  /** Empties every table. */
  wipe(): Promise<void>
  /** A started registry on client `which` (0 or 1), closed after the test; listener errors throw. */
  make(which: 0 | 1, options?: MakeOptions): Promise<PostgresSessionTaskRegistry>
  /** Closes the registries the current test made. */
  closeAll(): Promise<void>
}

/** What a group of PostgreSQL checks gets: the harness and the runner's `test` and `expect`. */
export type PostgresChecks = PostgresHarness & { test: ContractTest; expect: ContractExpect }

/** The harness of one run on `env`. */
export function postgresHarness(env: PostgresTestEnvironment): PostgresHarness {
  const prefix = env.prefix
  const t = tableNames(prefix)
  let clientsPromise: Promise<[SqlClient, SqlClient]> | undefined
  const clients = () => {
    clientsPromise ??= (async () => {
      const pair = await env.clients()
      await migrate(pair[0], { prefix })
      return pair
    })()
    return clientsPromise
  }
  const open: PostgresSessionTaskRegistry[] = []
  return {
    prefix,
    t,
    batch: env.concurrency ?? 200,
    clients,
    async wipe() {
      const [a] = await clients()
      await a.query(`DELETE FROM ${t.tasks}`)
      await a.query(`DELETE FROM ${t.events}`)
      await a.query(`DELETE FROM ${t.sessions}`)
    },
    async make(which, options = {}) {
      const pair = await clients()
      const registry = new PostgresSessionTaskRegistry({
        client: pair[which],
        prefix,
        now: options.now,
        replayBuffer: options.replayBuffer,
        onListenerError: (error) => {
          throw error
        },
      })
      if (options.start !== false) await registry.start()
      open.push(registry)
      return registry
    },
    async closeAll() {
      for (const registry of open.splice(0)) await registry.close()
    },
  }
}
