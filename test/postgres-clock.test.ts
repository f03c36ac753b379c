import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test, vi } from 'vitest'
import {
  createDatabaseClock,
  DATABASE_CLOCK_QUERY,
  fromPGlite,
  migrate,
  PostgresSessionTaskRegistry,
  type SqlClient,
} from '../src/backends/postgres/index.js'

/** A client whose database clock reads `dbNow()`; every other statement is refused. */
function clockOnly(dbNow: () => number): SqlClient {
  return {
    async query<T>(text: string) {
      if (text !== DATABASE_CLOCK_QUERY) throw new Error(`unexpected statement: ${text}`)
      return { rows: [{ ms: dbNow() }] as T[] }
    },
    transaction: async () => {
      throw new Error('no transactions here')
    },
    listen: async () => async () => {},
  }
}

describe('database clock', () => {
  test('a process clock 6 minutes behind reads the database’s time after sync', async () => {
    const SIX_MINUTES = 6 * 60_000
    // Local readings: before sync, query sent, reply received, after sync.
    const readings = [500, 1_000, 1_010, 1_020]
    const clock = createDatabaseClock(
      clockOnly(() => 1_005 + SIX_MINUTES),
      () => readings.shift() as number,
    )
    expect(clock.now().getTime()).toBe(500)
    await clock.sync()
    // The reply is credited to the middle of the round trip.
    expect(clock.now().getTime()).toBe(1_020 + SIX_MINUTES)
  })

  test('readings never go backwards, even when a re-sync moves the offset back', async () => {
    let db = 10_000_000
    const local = 1_000
    const clock = createDatabaseClock(
      clockOnly(() => db),
      () => local,
    )
    await clock.sync()
    const before = clock.now().getTime()
    db -= 60_000
    await clock.sync()
    expect(clock.now().getTime()).toBeGreaterThanOrEqual(before)
  })

  test('the timer re-measures every interval until stopped', async () => {
    vi.useFakeTimers()
    try {
      let queries = 0
      const clock = createDatabaseClock(
        clockOnly(() => {
          queries++
          return Date.now()
        }),
      )
      clock.start(60_000, () => {})
      clock.start(60_000, () => {})
      await vi.advanceTimersByTimeAsync(180_000)
      expect(queries).toBe(3)
      clock.stop()
      await vi.advanceTimersByTimeAsync(180_000)
      expect(queries).toBe(3)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('PostgresSessionTaskRegistry clock', () => {
  const db = new PGlite()
  afterAll(() => db.close())

  test('without `now`, records are stamped on the database clock once started', async () => {
    await db.waitReady
    const base = fromPGlite(db)
    await migrate(base, { prefix: 'clock_' })
    const AHEAD = 6 * 60_000
    // The same database, reporting a clock six minutes ahead of this process.
    const skewed: SqlClient = {
      query: (text, params) =>
        text === DATABASE_CLOCK_QUERY
          ? Promise.resolve({ rows: [{ ms: Date.now() + AHEAD }] as never[] })
          : base.query(text, params),
      transaction: (fn) => base.transaction(fn),
      listen: (channel, onPayload, options) => base.listen(channel, onPayload, options),
    }
    const registry = new PostgresSessionTaskRegistry({ client: skewed, prefix: 'clock_' })
    await registry.start()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    const stamped = Date.parse(task.createdAt) - Date.now()
    expect(stamped).toBeGreaterThan(AHEAD - 60_000)
    expect(stamped).toBeLessThan(AHEAD + 60_000)
    await registry.close()
  })

  test('an explicit `now` wins and no clock query is made', async () => {
    await db.waitReady
    const at = new Date('2030-01-01T00:00:00.000Z')
    const registry = new PostgresSessionTaskRegistry({
      client: clockOnly(() => {
        throw new Error('the database clock must not be read')
      }),
      prefix: 'clock_',
      now: () => at,
    })
    expect(registry.now()).toEqual(at)
  })
})
