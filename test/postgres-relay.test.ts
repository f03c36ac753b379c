import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  type PgClientLike,
  PostgresSessionTaskRegistry,
} from '../src/backends/postgres/index.js'

// What one process keeps in memory for the sessions it writes to or follows,
// and how the node-postgres adapter treats connection errors.

const db = new PGlite()
const client = fromPGlite(db)
afterAll(() => db.close())

async function registry(prefix: string) {
  await db.waitReady
  await migrate(client, { prefix })
  return new PostgresSessionTaskRegistry({ client, prefix })
}

describe('PostgreSQL event relay memory', () => {
  test('writing to sessions nobody here follows keeps no cursor or hub state', async () => {
    const r = await registry('relay_a_')
    for (let i = 0; i < 50; i++) {
      const t = await r.create({ sessionId: `s${i}`, kind: 'k', displayName: 'd' })
      await r.update(`s${i}`, t.id, { state: 'running' })
    }
    expect(r.stats()).toEqual({ trackedSessions: 0, watchedSessions: 0, eventSessions: 0 })
  })

  test('a session stops being watched and tracked after its last unsubscribe', async () => {
    const r = await registry('relay_b_')
    const seen: string[] = []
    const off1 = r.subscribe('s', (type) => seen.push(type))
    const off2 = r.subscribe('s', () => {})
    await r.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    expect(seen).toEqual(['task.created'])
    expect(r.stats()).toEqual({ trackedSessions: 1, watchedSessions: 1, eventSessions: 1 })
    off1()
    expect(r.stats().watchedSessions).toBe(1)
    off2()
    off2()
    expect(r.stats()).toEqual({ trackedSessions: 0, watchedSessions: 0, eventSessions: 0 })
    // Following again starts cleanly and still delivers.
    const again: string[] = []
    const off3 = r.subscribe('s', (type) => again.push(type))
    await r.create({ sessionId: 's', kind: 'k', displayName: 'd2' })
    expect(again).toEqual(['task.created'])
    off3()
  })
})

describe('node-postgres adapter: connection errors', () => {
  test('one pool gets one adapter per options, so registries on it add no listeners', async () => {
    const { EventEmitter } = await import('node:events')
    const poolEvents = new EventEmitter()
    const pool = {
      query: async () => ({ rows: [] }),
      connect: async () => {
        throw new Error('not used')
      },
      on: (event: string, listener: (arg: never) => void) =>
        poolEvents.on(event, listener as (...args: unknown[]) => void),
    }
    const first = fromPgPool(pool)
    for (let i = 0; i < 20; i++) expect(fromPgPool(pool)).toBe(first)
    expect(poolEvents.listenerCount('error') + poolEvents.listenerCount('connect')).toBe(2)
    const onError = () => {}
    const own = fromPgPool(pool, { onError })
    expect(own).not.toBe(first)
    expect(fromPgPool(pool, { onError })).toBe(own)
    expect(fromPgPool(pool, { prepare: false })).not.toBe(first)
    expect(poolEvents.listenerCount('error')).toBe(3)
  })

  test('a connection that fails as it joins the pool, before its checkout resolves, is handled', async () => {
    // pg.Pool hands a new connection over from inside the driver's read of
    // the server's messages; an error message in the same read (a backend
    // terminated right after it connected) is emitted before the checkout resolves.
    const { EventEmitter } = await import('node:events')
    const client = Object.assign(new EventEmitter(), {
      query: async () => ({ rows: [] }),
      release: () => {},
    }) as unknown as PgClientLike & InstanceType<typeof EventEmitter>
    const poolEvents = new EventEmitter()
    const errors: Error[] = []
    const adapter = fromPgPool(
      {
        query: async () => ({ rows: [] }),
        connect: async () => {
          poolEvents.emit('connect', client)
          client.emit('error', new Error('terminating connection due to administrator command'))
          return client
        },
        on: (event: string, listener: (arg: never) => void) =>
          poolEvents.on(event, listener as (...args: unknown[]) => void),
      },
      { onError: (e) => errors.push(e) },
    )
    await adapter.query('SELECT 1')
    expect(errors.map((e) => e.message)).toEqual([
      'terminating connection due to administrator command',
    ])
  })

  test('an error event on a checked-out connection is handled, and that connection is destroyed', async () => {
    const handlers = new Map<string, ((...args: unknown[]) => void)[]>()
    let released: unknown = 'not yet'
    const connection: PgClientLike = {
      async query(text: string) {
        if (text === 'SELECT 1') {
          // The server terminates the backend: pg emits 'error', then the query fails.
          for (const h of handlers.get('error') ?? []) h(new Error('terminating connection'))
          throw new Error('Connection terminated unexpectedly')
        }
        if (text === 'ROLLBACK') throw new Error('Connection terminated')
        return { rows: [] }
      },
      release(error) {
        released = error
      },
      on(event, listener) {
        handlers.set(event, [...(handlers.get(event) ?? []), listener])
      },
      removeListener(event, listener) {
        handlers.set(
          event,
          (handlers.get(event) ?? []).filter((l) => l !== listener),
        )
      },
    }
    const poolErrors: Error[] = []
    const poolHandlers: ((e: Error) => void)[] = []
    const adapter = fromPgPool(
      {
        query: async () => ({ rows: [] }),
        connect: async () => connection,
        on: (event: string, listener: (arg: never) => void) => {
          if (event === 'error') poolHandlers.push(listener as (e: Error) => void)
        },
      },
      { onError: (e) => poolErrors.push(e) },
    )
    // Before the fix, nothing listened for 'error' while the connection was checked out.
    let listenersDuring = 0
    await expect(
      adapter.transaction(async (tx) => {
        listenersDuring = handlers.get('error')?.length ?? 0
        await tx.query('SELECT 1')
      }),
    ).rejects.toThrow('Connection terminated unexpectedly')
    // Ours for this transaction, plus the one the adapter keeps on every
    // connection it touched (a destroyed connection can emit a second error).
    expect(listenersDuring).toBe(2)
    expect(released).toBeInstanceOf(Error)
    expect(handlers.get('error')).toHaveLength(1)
    // That late second error goes to onError, never unhandled.
    for (const h of handlers.get('error') ?? []) h(new Error('Connection terminated unexpectedly'))
    // Idle-connection errors of the pool go to onError instead of crashing the process.
    expect(poolHandlers).toHaveLength(1)
    poolHandlers[0]?.(new Error('idle connection lost'))
    // onError hears every connection error (the failing write also rejected).
    expect(poolErrors.map((e) => e.message)).toEqual([
      'terminating connection',
      'Connection terminated unexpectedly',
      'idle connection lost',
    ])
  })
})
