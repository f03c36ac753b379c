import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test } from 'vitest'
import { fromPGlite, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import {
  SqliteSessionTaskRegistry,
  migrate as sqliteMigrate,
} from '../src/backends/sqlite/index.js'
import { InMemorySessionTaskRegistry } from '../src/index.js'
import { anySqlite } from './fixtures/sqlite.js'

const pglite = new PGlite()
afterAll(() => pglite.close())

describe('registries close at the end of an await using block', () => {
  test('in memory: await using works, close() changes nothing, and the registry still serves', async () => {
    let kept: InMemorySessionTaskRegistry
    {
      await using registry = new InMemorySessionTaskRegistry()
      kept = registry
      await registry.create({ sessionId: 's', kind: 'k', displayName: 'd', id: 'kept' })
    }
    await kept.close()
    expect((await kept.get('s', 'kept'))?.displayName).toBe('d')
  })

  test('PostgreSQL: the block end stops listening (close), the data stays', async () => {
    const client = fromPGlite(pglite)
    await migrate(client, { prefix: 'dispose_' })
    let id: string
    {
      await using registry = new PostgresSessionTaskRegistry({ client, prefix: 'dispose_' })
      await registry.start()
      id = (await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })).id
    }
    const again = new PostgresSessionTaskRegistry({ client, prefix: 'dispose_' })
    expect((await again.get('s', id))?.displayName).toBe('d')
    await again[Symbol.asyncDispose]()
  })

  test('SQLite: the block end frees the connection for a new registry', async () => {
    const driver = anySqlite[1](':memory:')
    await sqliteMigrate(driver)
    {
      await using registry = new SqliteSessionTaskRegistry({ driver })
      await registry.start()
      // A second registry on a connection in use is refused ...
      expect(() => new SqliteSessionTaskRegistry({ driver })).toThrow(/already backs a registry/)
    }
    // ... and accepted once the block closed the first.
    const next = new SqliteSessionTaskRegistry({ driver })
    await next.close()
  })
})
