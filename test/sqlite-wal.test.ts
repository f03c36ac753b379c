import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { migrate, SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import {
  CHECKPOINT_EVERY_COMMITS,
  JOURNAL_SIZE_LIMIT,
  WalKeeper,
} from '../src/backends/sqlite/wal.js'
import { sqliteDrivers } from './fixtures/sqlite.js'

const walSize = (file: string) => {
  try {
    return statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const freshFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'session-tasks-wal-'))
  dirs.push(dir)
  return join(dir, 'tasks.db')
}

const big = 'x'.repeat(3000)

for (const [name, open] of sqliteDrivers) {
  describe.skipIf(open === undefined)(`SQLite WAL upkeep (${name})`, () => {
    const connect = (file: string) => (open as NonNullable<typeof open>)(file)

    test('the connection syncs at FULL unless the registry is told NORMAL', async () => {
      const file = freshFile()
      const a = connect(file)
      await migrate(a)
      const b = connect(file)
      const full = new SqliteSessionTaskRegistry({ driver: a })
      const normal = new SqliteSessionTaskRegistry({ driver: b, synchronous: 'NORMAL' })
      expect(a.prepare('PRAGMA synchronous').get()?.synchronous).toBe(2)
      expect(b.prepare('PRAGMA synchronous').get()?.synchronous).toBe(1)
      expect(a.prepare('PRAGMA journal_size_limit').get()?.journal_size_limit).toBe(
        JOURNAL_SIZE_LIMIT,
      )
      await full.close()
      await normal.close()
    })

    test('a bad synchronous level is refused by name and claims nothing', async () => {
      const file = freshFile()
      const a = connect(file)
      await migrate(a)
      const bad = { driver: a, synchronous: 'full' } as unknown as ConstructorParameters<
        typeof SqliteSessionTaskRegistry
      >[0]
      expect(() => new SqliteSessionTaskRegistry(bad)).toThrow(/synchronous/)
      // The connection is still free for a registry.
      const ok = new SqliteSessionTaskRegistry({ driver: a })
      await ok.close()
    })

    test('after a long reader lets the WAL grow, it is emptied again within a checkpoint period', async () => {
      const file = freshFile()
      const writer = connect(file)
      await migrate(writer)
      const registry = new SqliteSessionTaskRegistry({ driver: writer, synchronous: 'NORMAL' })
      const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
      // Another connection holds one snapshot: nothing after it can be copied
      // back, so every commit appends to the WAL.
      const reader = connect(file)
      reader.exec('BEGIN')
      reader.prepare('SELECT count(*) AS n FROM session_tasks_tasks').get()
      for (let i = 0; i < 400; i++) {
        await registry.update('s', task.id, { summary: `${big}${i}` })
      }
      const grown = walSize(file)
      expect(grown).toBeGreaterThan(JOURNAL_SIZE_LIMIT / 8)
      reader.exec('COMMIT')
      let smallest = grown
      for (let i = 0; i < CHECKPOINT_EVERY_COMMITS; i++) {
        await registry.update('s', task.id, { progress: { current: i } })
        smallest = Math.min(smallest, walSize(file))
      }
      // Emptied (TRUNCATE) at the period's checkpoint; after it, SQLite's own
      // checkpoints keep it near 1000 pages.
      expect(smallest).toBe(0)
      expect(walSize(file)).toBeLessThanOrEqual(JOURNAL_SIZE_LIMIT)
      expect((await registry.get('s', task.id))?.progress?.current).toBe(
        CHECKPOINT_EVERY_COMMITS - 1,
      )
      await registry.close()
    })

    test('a checkpoint that meets a reader says so and leaves the data alone', () => {
      const file = freshFile()
      const writer = connect(file)
      writer.exec('PRAGMA journal_mode = WAL')
      // As the store sets it: the checkpoint waits for readers only briefly.
      writer.exec('PRAGMA busy_timeout = 5')
      writer.exec('CREATE TABLE t (x INTEGER)')
      const errors: unknown[] = []
      const keeper = new WalKeeper({
        driver: writer,
        synchronous: 'FULL',
        checkpointEvery: 1,
        busyWaitMs: 5,
        reportError: (e) => errors.push(e),
      })
      writer.exec('INSERT INTO t VALUES (1)')
      const reader = connect(file)
      reader.exec('BEGIN')
      reader.prepare('SELECT count(*) AS n FROM t').get()
      writer.exec('INSERT INTO t VALUES (2)')
      expect(keeper.checkpoint()).toBe(false)
      expect(reader.prepare('SELECT count(*) AS n FROM t').get()?.n).toBe(1)
      reader.exec('COMMIT')
      expect(keeper.checkpoint()).toBe(true)
      expect(walSize(file)).toBe(0)
      expect(errors).toEqual([])
      expect(
        writer
          .prepare('SELECT x FROM t ORDER BY x')
          .all()
          .map((r) => r.x),
      ).toEqual([1, 2])
    })
  })
}
