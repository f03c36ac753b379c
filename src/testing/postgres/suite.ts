// describePostgresRegistry: the registry contract on PostgreSQL, then the
// checks only a database shows, on the given runner.
import { PostgresSessionTaskRegistry } from '../../backends/postgres/registry.js'
import { type ContractHook, resolveRunner } from '../contract/runner.js'
import { describeRegistryContract } from '../contract/suite.js'
import { databaseChecks } from './database.js'
import type { PostgresTestEnvironment } from './environment.js'
import { eventChecks } from './events.js'
import { postgresHarness } from './harness.js'

/**
 * Runs the registry contract and the PostgreSQL-specific checks
 * (transactions, several processes on one database, NOTIFY delivery, resume
 * across processes) against a database, registered with `env.runner` or,
 * without one, the runner's globals (Jest, vitest with `globals: true`).
 */
export function describePostgresRegistry(name: string, env: PostgresTestEnvironment): void {
  const runner = resolveRunner(env.runner, 'describePostgresRegistry', ['afterAll'])
  const { describe, test, afterEach, expect } = runner
  const afterAll = runner.afterAll as ContractHook
  const harness = postgresHarness(env)

  describe(name, () => {
    afterEach(() => harness.closeAll())
    afterAll(async () => {
      await env.teardown?.()
    })

    describeRegistryContract(
      'contract',
      async (options) => {
        await harness.wipe()
        const [a] = await harness.clients()
        const registry = new PostgresSessionTaskRegistry({
          client: a,
          prefix: harness.prefix,
          ...options,
        })
        await registry.start()
        return registry
      },
      { cleanup: (registry) => (registry as PostgresSessionTaskRegistry).close(), runner },
    )

    describe('PostgreSQL', () => {
      const checks = { ...harness, test, expect }
      databaseChecks(checks)
      eventChecks(checks)
    })
  })
}
