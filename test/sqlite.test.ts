import { describe, test } from 'vitest'
import { migrate, SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import { describeRegistryContract } from '../src/testing/vitest.js'
import { sqliteDrivers } from './fixtures/sqlite.js'

// The registry contract on SQLite, through each driver this Node loads.
for (const [name, open] of sqliteDrivers) {
  if (open === undefined) {
    describe.skip(`SqliteSessionTaskRegistry (${name})`, () => {
      test('the registry contract (the driver does not load in this Node)', () => {})
    })
    continue
  }
  describeRegistryContract(
    `SqliteSessionTaskRegistry (${name})`,
    async (options) => {
      const driver = open(':memory:')
      await migrate(driver)
      const registry = new SqliteSessionTaskRegistry({ driver, ...options })
      await registry.start()
      return registry
    },
    { cleanup: (registry) => (registry as SqliteSessionTaskRegistry).close() },
  )
}
