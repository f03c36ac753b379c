import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import {
  migrate,
  type SqliteDriver,
  SqliteSessionTaskRegistry,
} from '../src/backends/sqlite/index.js'
import type { SessionTask } from '../src/model/schemas.js'
import { T0 } from '../src/testing/contract/helpers.js'
import { crossProcessChecks, eventually } from '../src/testing/contract/processes.js'
import { type OpenSqlite, sqliteDrivers } from './fixtures/sqlite.js'

// Two connections to one database file stand for two processes: the checks
// every shared backend passes, then what only the SQLite feed does.
// (test/sqlite-processes.test.ts runs real processes.)
const dir = mkdtempSync(join(tmpdir(), 'session-tasks-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function harness(open: OpenSqlite, file: string) {
  const connections: SqliteDriver[] = []
  const opened: SqliteSessionTaskRegistry[] = []
  const connection = async (which: 0 | 1): Promise<SqliteDriver> => {
    while (connections.length < 2) {
      const driver = open(file)
      if (connections.length === 0) await migrate(driver)
      connections.push(driver)
    }
    return connections[which] as SqliteDriver
  }
  return {
    connection,
    async wipe() {
      const driver = await connection(0)
      for (const table of ['tasks', 'messages', 'sessions', 'events']) {
        driver.exec(`DELETE FROM session_tasks_${table}`)
      }
    },
    async make(
      which: 0 | 1,
      options: {
        now?: () => Date
        replayBuffer?: number
        start?: boolean
        pollIntervalMs?: number
      } = {},
    ) {
      const registry = new SqliteSessionTaskRegistry({
        driver: await connection(which),
        pollIntervalMs: options.pollIntervalMs ?? 5,
        ...(options.now === undefined ? {} : { now: options.now }),
        ...(options.replayBuffer === undefined ? {} : { replayBuffer: options.replayBuffer }),
        onListenerError: (error) => {
          throw error
        },
      })
      if (options.start !== false) await registry.start()
      opened.push(registry)
      return registry
    },
    async storedEvents(sessionId: string) {
      const driver = await connection(0)
      return driver
        .prepare(
          'SELECT type, payload FROM session_tasks_events WHERE session_id = ? AND seq > 0 ORDER BY seq',
        )
        .all(sessionId) as { type: string; payload: string }[]
    },
    async closeAll() {
      for (const registry of opened.splice(0)) await registry.close()
    },
  }
}

for (const [name, open] of sqliteDrivers) {
  if (open === undefined) {
    describe.skip(`SQLite across connections (${name})`, () => {
      test('every check (the driver does not load in this Node)', () => {})
    })
    continue
  }
  describe(`SQLite across connections (${name})`, () => {
    const h = harness(open, join(dir, `${name.replace(/\W/g, '')}.db`))
    afterEach(() => h.closeAll())

    crossProcessChecks({ test, expect, batch: 100, ...h })

    test('a listener that writes while a poll delivers keeps seq order and loses nothing', async () => {
      await h.wipe()
      const a = await h.make(0)
      const b = await h.make(1)
      const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      const seqs: number[] = []
      let answered = false
      await eventually(() => b.stats().trackedSessions === 0, 'nothing yet')
      b.subscribe('s', (type, payload) => {
        if (type !== 'task.updated') return
        const seq = (payload as { task?: SessionTask }).task?.progress?.current
        seqs.push(seq ?? 0)
        // B writes from inside the delivery of A's first update: its own
        // event must come after the rest of the batch it interrupted.
        if (seq === 1 && !answered) {
          answered = true
          void b.update('s', task.id, { progress: { current: 100 } })
        }
      })
      // Three commits in one poll interval, read by B in one batch.
      await a.update('s', task.id, { progress: { current: 1 } })
      await a.update('s', task.id, { progress: { current: 2 } })
      await a.update('s', task.id, { progress: { current: 3 } })
      await eventually(() => seqs.length === 4, 'every update in B')
      expect(seqs).toEqual([1, 2, 3, 100])
    })

    test('events pushed out of retention before another process read them are reported as a gap', async () => {
      await h.wipe()
      const gaps: unknown[] = []
      const a = await h.make(0, { start: false })
      const b = new SqliteSessionTaskRegistry({
        driver: await h.connection(1),
        pollIntervalMs: 5,
        onEventGap: (gap) => gaps.push(gap),
      })
      const seen: number[] = []
      b.subscribe('s', (type, payload) => {
        if (type === 'task.output') seen.push(Number((payload as { delta: string }).delta))
      })
      const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      await b.get('s', task.id)
      // B reads the create, then sleeps (not polling) while A writes more than is kept.
      await b.start()
      await eventually(() => b.stats().trackedSessions === 1, 'B to follow the session')
      await b.close()
      for (let i = 1; i <= 1005; i++)
        await a.publishOutput('s', task.id, { stream: 'o', delta: String(i) })
      await b.start()
      await eventually(() => seen.length === 1000, 'the stored events in B')
      await b.close()
      expect(gaps).toEqual([{ sessionId: 's', after: 1, through: 6 }])
      expect(seen[0]).toBe(6)
      expect(seen.at(-1)).toBe(1005)
    })

    test('a write waits for another connection’s write lock, then commits', async () => {
      await h.wipe()
      const a = await h.make(0)
      const other = await h.connection(1)
      other.exec('BEGIN IMMEDIATE')
      let done = false
      const writing = a.create({ sessionId: 's', kind: 'k', displayName: 'x' }).then((t) => {
        done = true
        return t
      })
      await new Promise((resolve) => setTimeout(resolve, 30))
      expect(done).toBe(false)
      other.exec('COMMIT')
      const task = await writing
      expect((await a.get('s', task.id))?.displayName).toBe('x')
    })

    test('a write that cannot get the lock within busyTimeoutMs fails and stores nothing', async () => {
      await h.wipe()
      const a = new SqliteSessionTaskRegistry({ driver: await h.connection(0), busyTimeoutMs: 20 })
      const other = await h.connection(1)
      other.exec('BEGIN IMMEDIATE')
      try {
        const failure = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' }).then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(failure).toBeInstanceOf(Error)
        expect((await h.connection(0)).isBusy(failure)).toBe(true)
      } finally {
        other.exec('COMMIT')
      }
      expect(await a.list('s')).toEqual([])
      await a.close()
    })

    test('a deleted session’s marker is pruned a day later', async () => {
      await h.wipe()
      let time = T0
      const a = await h.make(0, { now: () => new Date(time) })
      await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      await a.deleteSession('s')
      const markers = async () =>
        (await h.connection(0))
          .prepare('SELECT count(*) AS n FROM session_tasks_events WHERE seq = 0')
          .get()?.n
      expect(await markers()).toBe(1)
      time += 1000
      await a.prune({ finishedBefore: new Date(time) })
      // Markers age by the wall clock: a fresh one stays.
      expect(await markers()).toBe(1)
    })
  })
}
