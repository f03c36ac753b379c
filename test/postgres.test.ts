import { PGlite } from '@electric-sql/pglite'
import type { Pool } from 'pg'
import { describe, expect, expectTypeOf, test } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  type PGliteLike,
  type PgClientLike,
  type PgNamedQuery,
  type PgPoolLike,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import { describePostgresRegistry } from '../src/backends/postgres/testing.js'
import { vitestRunner } from '../src/testing/vitest.js'

// One in-process database for the whole file: starting PGlite takes seconds.
const db = new PGlite()
const client = fromPGlite(db)

describePostgresRegistry('PostgresSessionTaskRegistry on PGlite', {
  clients: async () => {
    await db.waitReady
    // Two registries on one PGlite stand for two processes on one server.
    return [client, client]
  },
  teardown: () => db.close(),
  runner: vitestRunner,
})

describe('driver adapters', () => {
  test('a pg Pool and a PGlite database fit the adapters', () => {
    expectTypeOf<Pool>().toExtend<PgPoolLike>()
    expectTypeOf<PGlite>().toExtend<PGliteLike>()
  })

  /** A fake node-postgres pool that records statements and can fail on cue. */
  function fakePool(fail: (text: string) => Error | undefined = () => undefined) {
    const log: string[] = []
    const clients: FakeClient[] = []
    class FakeClient implements PgClientLike {
      readonly handlers = new Map<string, ((...args: unknown[]) => void)[]>()
      released: Error | boolean | undefined | 'no' = 'no'
      async query(statement: string | PgNamedQuery) {
        const text = typeof statement === 'string' ? statement : statement.text
        log.push(typeof statement === 'string' ? text : `${statement.name}:${text}`)
        const error = fail(text)
        if (error !== undefined) throw error
        return { rows: [{ text }] }
      }
      release(error?: Error | boolean) {
        this.released = error
      }
      on(event: string, listener: (...args: unknown[]) => void) {
        this.handlers.set(event, [...(this.handlers.get(event) ?? []), listener])
        return this
      }
      removeListener(event: string, listener: (...args: unknown[]) => void) {
        this.handlers.set(
          event,
          (this.handlers.get(event) ?? []).filter((l) => l !== listener),
        )
        return this
      }
      fire(event: string, arg: unknown) {
        for (const l of this.handlers.get(event) ?? []) (l as (a: unknown) => void)(arg)
      }
    }
    const pool: PgPoolLike = {
      async query(text: string) {
        log.push(`pool:${text}`)
        return { rows: [] }
      },
      async connect() {
        const c = new FakeClient()
        clients.push(c)
        return c
      },
    }
    return { pool, log, clients }
  }

  test('fromPgPool commits a transaction on one connection and releases it', async () => {
    const { pool, log, clients } = fakePool()
    const result = await fromPgPool(pool).transaction(async (tx) => {
      await tx.query('SELECT 1')
      return 42
    })
    expect(result).toBe(42)
    expect(log).toEqual(['BEGIN', 'SELECT 1', 'COMMIT'])
    expect(clients[0]?.released).toBeUndefined()
  })

  test('fromPgPool prepares a parameterised statement under one name per text, unless told not to', async () => {
    const { pool, log } = fakePool()
    const client = fromPgPool(pool)
    await client.query('SELECT $1::int AS a', [1])
    await client.transaction(async (tx) => {
      await tx.query('SELECT $1::int AS a', [2])
      await tx.query('SELECT $1::int AS b', [3])
    })
    const [a, , b, c] = log
    const name = a?.split(':')[0]
    expect(name).toMatch(/^session_tasks_[a-z0-9]+_\d+$/)
    expect(b).toBe(a)
    expect(c?.split(':')[0]).not.toBe(name)
    expect(log.slice(-1)).toEqual(['COMMIT'])
    const plain = fakePool()
    await fromPgPool(plain.pool, { prepare: false }).query('SELECT $1::int AS a', [1])
    expect(plain.log).toEqual(['SELECT $1::int AS a'])
  })

  test('fromPgPool: a statement the server no longer has prepared runs unnamed once, and its connection is replaced', async () => {
    const seen: string[] = []
    let released: unknown = 'not yet'
    const connection: PgClientLike = {
      async query(statement: string | PgNamedQuery) {
        if (typeof statement !== 'string') {
          seen.push('named')
          // As after DISCARD ALL: the driver thinks it is prepared, the server does not.
          throw Object.assign(new Error('prepared statement "x" does not exist'), {
            code: '26000',
          })
        }
        seen.push(statement)
        return { rows: [{ ok: 1 }] }
      },
      release(error) {
        released = error
      },
      on: () => connection,
      removeListener: () => connection,
    }
    const client = fromPgPool({
      query: async () => ({ rows: [] }),
      connect: async () => connection,
    })
    const { rows } = await client.query('SELECT $1::int AS ok', [1])
    expect(rows).toEqual([{ ok: 1 }])
    expect(seen).toEqual(['named', 'SELECT $1::int AS ok'])
    expect(released).toBeInstanceOf(Error)
  })

  test('fromPgPool rolls back on failure; a failed rollback destroys the connection', async () => {
    const { pool, log, clients } = fakePool((text) =>
      text === 'ROLLBACK' ? new Error('gone') : undefined,
    )
    const boom = new Error('boom')
    await expect(
      fromPgPool(pool).transaction(async () => {
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(log).toEqual(['BEGIN', 'ROLLBACK'])
    expect(clients[0]?.released).toBeInstanceOf(Error)
  })

  test('fromPgPool listens on a dedicated connection and comes back after a failure', async () => {
    const { pool, log, clients } = fakePool()
    const payloads: string[] = []
    const errors: unknown[] = []
    let reconnected = 0
    const stop = await fromPgPool(pool).listen('chan', (p) => payloads.push(p), {
      onError: (e) => errors.push(e),
      onReconnect: () => reconnected++,
    })
    expect(log).toEqual(['LISTEN chan'])
    clients[0]?.fire('notification', { channel: 'chan', payload: 'one' })
    clients[0]?.fire('notification', { channel: 'other', payload: 'no' })
    expect(payloads).toEqual(['one'])
    clients[0]?.fire('error', new Error('connection lost'))
    expect(errors).toHaveLength(1)
    expect(clients[0]?.released).toBeInstanceOf(Error)
    const until = Date.now() + 2000
    while (reconnected === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    expect(reconnected).toBe(1)
    clients[1]?.fire('notification', { channel: 'chan', payload: 'two' })
    expect(payloads).toEqual(['one', 'two'])
    await stop()
    expect(log.at(-1)).toBe('UNLISTEN chan')
    expect(clients[1]?.released).toBeUndefined()
    clients[1]?.fire('notification', { channel: 'chan', payload: 'late' })
    expect(payloads).toEqual(['one', 'two'])
  })

  test('channel names and table prefixes must be plain identifiers', async () => {
    const { pool } = fakePool()
    await expect(fromPgPool(pool).listen('x; DROP TABLE t', () => {})).rejects.toThrow(
      /invalid channel name/,
    )
    expect(() => tableNames('Bad-Prefix')).toThrow(/invalid table prefix/)
    expect(tableNames('app_').tasks).toBe('app_tasks')
    expect(
      () => new PostgresSessionTaskRegistry({ client: fromPgPool(pool), channel: 'Nope!' }),
    ).toThrow(/channel/)
  })
})
