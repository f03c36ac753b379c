// Adversarial checks of the SQLite backend: two connections to one file
// stand for two processes (test/sqlite-processes.test.ts runs real ones).
// 'found and fixed' holds the bugs this review found, each fixed; 'held up'
// the attacks that did not break anything and are not covered elsewhere.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  migrate,
  SQLITE_SCHEMA_VERSION,
  type SqliteDriver,
  SqliteSessionTaskRegistry,
} from '../src/backends/sqlite/index.js'
import type { EventGap } from '../src/events/event.js'
import type { JsonValue } from '../src/model/json.js'
import type { SessionTask } from '../src/model/schemas.js'
import type { SessionTaskRegistryCore } from '../src/registry/core.js'
import { InMemorySessionTaskRegistry } from '../src/registry/in-memory-registry.js'
import { eventually } from '../src/testing/contract/processes.js'
import { anySqlite } from './fixtures/sqlite.js'
import { counting, openRaw, type RawConnection } from './fixtures/sqlite-adversary.js'

const [driverName, open] = anySqlite
const dir = mkdtempSync(join(tmpdir(), 'session-tasks-adversary-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
const freshFile = () => join(dir, `f${files++}.db`)

const registries: SqliteSessionTaskRegistry[] = []
const raws: RawConnection[] = []
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close()
  for (const raw of raws.splice(0)) {
    try {
      raw.close()
    } catch {
      // Already closed by the test.
    }
  }
})

type Options = Omit<ConstructorParameters<typeof SqliteSessionTaskRegistry>[0], 'driver'>

/** A registry on `driver`, closed after the test. */
function registry(driver: SqliteDriver, options: Options = {}): SqliteSessionTaskRegistry {
  const r = new SqliteSessionTaskRegistry({ driver, pollIntervalMs: 5, ...options })
  registries.push(r)
  return r
}

/** A migrated file and two connections to it (two "processes"). */
async function twoConnections(): Promise<{ file: string; a: SqliteDriver; b: SqliteDriver }> {
  const file = freshFile()
  const a = open(file)
  await migrate(a)
  return { file, a, b: open(file) }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (error: unknown) => error,
  )

/**
 * A listener that, on a write's first event, starts another write at once
 * (synchronously, as `void registry.update(...)` does): what every listener
 * of the session sees, and the gaps reported.
 */
async function listenerWritesBack(r: SessionTaskRegistryCore, gaps: EventGap[]) {
  const seen: string[] = []
  const a = await r.create({
    sessionId: 's',
    kind: 'k',
    displayName: 'a',
    wakePolicy: 'on_terminal',
  })
  const b = await r.create({ sessionId: 's', kind: 'k', displayName: 'b' })
  r.onEventGap((gap) => gaps.push(gap))
  let answered = false
  const done: Promise<unknown>[] = []
  r.subscribe('s', (type, payload) => {
    const name = (payload as { task?: SessionTask }).task?.displayName
    seen.push(name === undefined ? type : `${type}:${name}`)
    if (type === 'task.updated' && !answered) {
      answered = true
      done.push(r.update('s', b.id, { summary: 'from the listener' }))
    }
  })
  // One write, two events: task.updated then task.wake.
  await r.update('s', a.id, { state: 'succeeded' })
  await Promise.all(done)
  return seen
}

describe(`SQLite backend under attack (${driverName})`, () => {
  describe('found and fixed', () => {
    // A listener that writes runs its whole write at once (whileBusy's first
    // try is synchronous): the rest of the outer write's events must still
    // come first, as on the in-memory registry, with no false gap.
    it('a listener that writes back during a multi-event write of its own process loses no event and reports no gap', async () => {
      const memoryGaps: EventGap[] = []
      const expected = await listenerWritesBack(new InMemorySessionTaskRegistry(), memoryGaps)
      expect(expected).toEqual(['task.updated:a', 'task.wake', 'task.updated:b'])
      expect(memoryGaps).toEqual([])

      const { a } = await twoConnections()
      const gaps: EventGap[] = []
      const seen = await listenerWritesBack(registry(a, { onEventGap: () => {} }), gaps)
      expect(gaps).toEqual([])
      expect(seen).toEqual(expected)
    })

    // A second close() must not free the claim of a registry that took the
    // connection since.
    it('closing a closed registry again does not free the claim of the registry that took its connection', async () => {
      const { a } = await twoConnections()
      const first = new SqliteSessionTaskRegistry({ driver: a })
      await first.close()
      registry(a)
      await first.close()
      expect(() => registry(a)).toThrow(/already backs a registry/)
    })

    // A closed registry on a connection another registry took would write
    // events that one never hears (data_version ignores its own
    // connection's commits): its writes are refused, and start() re-claims.
    it("after close(), a registry that took the connection hears the old one's writes, or the old one refuses them", async () => {
      const { a } = await twoConnections()
      const old = registry(a)
      await old.close()
      const taker = registry(a)
      await taker.start()
      const heard: string[] = []
      taker.subscribe('s', (type) => heard.push(type))
      const failure = await errorOf(old.create({ sessionId: 's', kind: 'k', displayName: 'x' }))
      if (failure === undefined) {
        await eventually(() => heard.includes('task.created'), 'the old registry’s event', 300)
      }
      expect(failure !== undefined || heard.includes('task.created')).toBe(true)
    })

    // On a new file still in rollback-journal mode, the switch to WAL meets
    // another process's lock; node:sqlite opens with busy_timeout 0, so
    // migrate must wait for it as it waits inside its transaction.
    it('migrate waits for another connection’s lock on a new file instead of failing with SQLITE_BUSY', async () => {
      const file = freshFile()
      const other = open(file)
      const late = open(file)
      // As node:sqlite opens a connection.
      late.exec('PRAGMA busy_timeout = 0')
      other.exec('BEGIN IMMEDIATE')
      other.exec('CREATE TABLE unrelated (x INTEGER)')
      const migrating = errorOf(migrate(late))
      await pause(30)
      other.exec('COMMIT')
      const failure = await migrating
      expect(failure).toBeUndefined()
    })

    // A deleted session's listeners went with it: the feed stops following
    // it, so a process that uses events() per session does not grow.
    it('a deleted session stops being watched (events() and dropped listeners)', async () => {
      const { a, b } = await twoConnections()
      const writer = registry(a)
      const reader = registry(b)
      await reader.start()
      reader.events('remote1')
      reader.subscribe('remote2', () => {})
      reader.events('local1')
      reader.subscribe('local2', () => {})
      for (const s of ['remote1', 'remote2']) {
        await writer.create({ sessionId: s, kind: 'k', displayName: 'x' })
        await writer.deleteSession(s)
      }
      for (const s of ['local1', 'local2']) {
        await reader.create({ sessionId: s, kind: 'k', displayName: 'x' })
        await reader.deleteSession(s)
      }
      await eventually(() => reader.stats().eventSessions === 0, 'the hub to drop the sessions')
      expect(reader.stats()).toEqual({ trackedSessions: 0, watchedSessions: 0, eventSessions: 0 })
    })

    // A file a newer library migrated may mean other things: the registry
    // refuses it, as migrate does.
    it('a registry refuses a database whose schema is newer than this library', async () => {
      const { a } = await twoConnections()
      a.prepare(
        'INSERT INTO session_tasks_schema (version, name, applied_at) VALUES (?, ?, ?)',
      ).run(SQLITE_SCHEMA_VERSION + 1, 'from the future', new Date().toISOString())
      await expect(migrate(a)).rejects.toThrow(/newer than this library/)
      expect(() => registry(a)).toThrow(/schema version/)
    })

    // Delivery runs after the commit: a row that does not parse (another
    // writer's) is reported and counted as a gap, not thrown into a write
    // that committed (a caller's retry would duplicate it).
    it('a malformed row from another writer does not make this process’s committed write reject', async () => {
      const { a, b } = await twoConnections()
      const r = registry(a, { onError: () => {} })
      r.subscribe('s', () => {})
      const task = await r.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      b.prepare(
        "INSERT INTO session_tasks_events (session_id, seq, task_id, type, payload, origin) VALUES ('s', 99, ?, 'task.output', '{not json', 'elsewhere')",
      ).run(task.id)
      const failure = await errorOf(r.update('s', task.id, { summary: 'committed' }))
      expect((await r.get('s', task.id))?.summary).toBe('committed')
      expect(failure).toBeUndefined()
    })

    // A connection closed under a started registry: the failure is reported
    // once, and polling backs off, rather than an error every tick.
    it('a poll on a closed connection reports the failure once rather than every tick', async () => {
      const file = freshFile()
      const raw = openRaw(file)
      raws.push(raw)
      await migrate(raw.driver)
      const errors: unknown[] = []
      const r = registry(raw.driver, { pollIntervalMs: 2, onError: (e) => errors.push(e) })
      await r.start()
      raw.close()
      await eventually(() => errors.length >= 1, 'the first failed poll')
      await pause(40)
      expect(errors.length).toBe(1)
    })
  })

  describe('held up', () => {
    it('a read-only connection reads, and its writes fail at once with SQLITE_READONLY (no retry loop)', async () => {
      const { file, a } = await twoConnections()
      const writer = registry(a)
      const task = await writer.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      const ro = openRaw(file, true)
      raws.push(ro)
      const reader = registry(ro.driver, { busyTimeoutMs: 2000 })
      expect((await reader.get('s', task.id))?.displayName).toBe('x')
      const started = Date.now()
      const failure = await errorOf(reader.create({ sessionId: 's', kind: 'k', displayName: 'y' }))
      expect(String(failure)).toMatch(/readonly/i)
      expect(Date.now() - started).toBeLessThan(1000)
      expect((await writer.list('s')).map((t) => t.displayName)).toEqual(['x'])
    })

    it('hostile strings and deep JSON round-trip exactly through another connection and its feed', async () => {
      const { a, b } = await twoConnections()
      const writer = registry(a)
      const reader = registry(b)
      await reader.start()
      const got: SessionTask[] = []
      reader.subscribe('s \u2028 😀', (type, payload) => {
        if (type === 'task.created') got.push((payload as { task: SessionTask }).task)
      })
      let deep: JsonValue = 'bottom \u0000'
      for (let i = 0; i < 30; i++) deep = { [`k${i}\u0000`]: [deep] }
      const weird = `nul\u0000 ls\u2028 ps\u2029 bom\ufeff astral😀 \\u0000 "quotes" ${'é'.repeat(200_000)}`
      const created = await writer.create({
        sessionId: 's \u2028 😀',
        kind: 'kind\u0000"[]',
        displayName: weird,
        spec: { deep, weird },
      })
      expect(await reader.get('s \u2028 😀', created.id)).toEqual(created)
      await eventually(() => got.length === 1, 'the created event in the reader')
      expect(got[0]?.displayName).toBe(weird)
      expect(
        (await reader.query({ kind: 'kind\u0000"[]', sessionIds: ['s \u2028 😀'] })).tasks,
      ).toHaveLength(1)
      expect((await reader.listQueued({ kinds: ['kind\u0000"[]'] })).map((t) => t.id)).toEqual([
        created.id,
      ])
      // Lone surrogates are refused before they reach SQLite (which would
      // turn them into U+FFFD and merge distinct ids).
      await expect(
        writer.create({ sessionId: 'x', kind: 'k', displayName: 'lone \ud800' }),
      ).rejects.toThrow(/well-formed/)
    })

    it('subscribe/unsubscribe churn under another process’s writes leaves no tracked state and no late delivery', async () => {
      const { a, b } = await twoConnections()
      const writer = registry(a)
      const reader = registry(b)
      await reader.start()
      const tasks = new Map<string, SessionTask>()
      for (let i = 0; i < 20; i++) {
        const sessionId = `c${i}`
        tasks.set(sessionId, await writer.create({ sessionId, kind: 'k', displayName: 'x' }))
      }
      const late: string[] = []
      for (let round = 0; round < 5; round++) {
        const offs = [...tasks.keys()].map((sessionId) => {
          const seen: string[] = []
          // Only updates: a create committed just before may still be read by the next poll.
          const off = reader.subscribe(sessionId, (type) => {
            if (type !== 'task.updated') return
            seen.push(type)
            if (round === 4) late.push(sessionId)
          })
          return { sessionId, seen, off }
        })
        const all = reader.subscribeAll(() => {})
        for (const [sessionId, task] of tasks) {
          await writer.update(sessionId, task.id, { summary: `r${round}` })
        }
        await eventually(() => offs.every((o) => o.seen.length === 1), 'one update per session')
        for (const o of offs) {
          o.off()
          o.off()
        }
        all()
      }
      expect(reader.stats()).toEqual({ trackedSessions: 0, watchedSessions: 0, eventSessions: 0 })
      late.length = 0
      for (const [sessionId, task] of tasks) {
        await writer.update(sessionId, task.id, { summary: 'after' })
      }
      // A write of the reader reads the feed up to the writer's last commit.
      const own = await reader.create({ sessionId: 'own', kind: 'k', displayName: 'x' })
      expect(own.sessionId).toBe('own')
      expect(late).toEqual([])
      expect(reader.stats()).toEqual({ trackedSessions: 0, watchedSessions: 0, eventSessions: 0 })
    })

    it('close() stops the poll loop: the connection is not touched again, even by a close() from inside a delivery', async () => {
      const { a, b } = await twoConnections()
      const writer = registry(a)
      const counted = counting(b)
      const reader = registry(counted.driver, { pollIntervalMs: 1 })
      await reader.start()
      let closing: Promise<void> | undefined
      reader.subscribe('s', () => {
        closing ??= reader.close()
      })
      await writer.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      await eventually(() => closing !== undefined, 'the delivery that closes')
      await closing
      const calls = counted.calls()
      await pause(30)
      expect(counted.calls()).toBe(calls)
    })

    it('events a prune removed before another process read them are one gap, then delivery resumes in order, once each', async () => {
      const { a, b } = await twoConnections()
      const writer = registry(a)
      const gaps: EventGap[] = []
      const reader = registry(b, { onEventGap: (gap) => gaps.push(gap) })
      const seqs: number[] = []
      reader.subscribe('s', (type, payload) => {
        if (type === 'task.output') seqs.push(Number((payload as { delta: string }).delta))
      })
      await reader.start()
      const keep = await writer.create({ sessionId: 's', kind: 'k', displayName: 'keep' })
      await eventually(() => reader.stats().trackedSessions === 1, 'the reader to follow s')
      await reader.close()
      const gone = await writer.create({ sessionId: 's', kind: 'k', displayName: 'gone' })
      await writer.update('s', gone.id, { state: 'succeeded' })
      expect((await writer.prune({ finishedBefore: new Date(Date.now() + 60_000) })).length).toBe(1)
      for (let i = 4; i <= 6; i++) {
        await writer.publishOutput('s', keep.id, { stream: 'o', delta: String(i) })
      }
      await reader.start()
      await eventually(() => seqs.length === 3, 'the outputs after the prune')
      await writer.publishOutput('s', keep.id, { stream: 'o', delta: '7' })
      await eventually(() => seqs.length === 4, 'one more')
      expect(seqs).toEqual([4, 5, 6, 7])
      expect(gaps).toEqual([{ sessionId: 's', after: 1, through: 3 }])
    })

    it('two connections writing one session at once: every event once, in one seq order, at both', async () => {
      const { a, b } = await twoConnections()
      const ra = registry(a)
      const rb = registry(b)
      await ra.start()
      await rb.start()
      const gaps: EventGap[] = []
      ra.onEventGap((gap) => gaps.push(gap))
      rb.onEventGap((gap) => gaps.push(gap))
      const task = await ra.create({ sessionId: 's', kind: 'k', displayName: 'x' })
      const seqsA: number[] = []
      const seqsB: number[] = []
      ra.subscribe('s', (type, payload) => {
        if (type === 'task.output') seqsA.push(Number((payload as { delta: string }).delta))
      })
      rb.subscribe('s', (type, payload) => {
        if (type === 'task.output') seqsB.push(Number((payload as { delta: string }).delta))
      })
      const writes: Promise<unknown>[] = []
      for (let i = 0; i < 100; i++) {
        const via = i % 2 === 0 ? ra : rb
        writes.push(via.publishOutput('s', task.id, { stream: 'o', delta: String(i) }))
      }
      await Promise.all(writes)
      await eventually(() => seqsA.length === 100 && seqsB.length === 100, 'every output at both')
      expect(new Set(seqsA).size).toBe(100)
      expect(seqsB).toEqual(seqsA)
      expect(gaps).toEqual([])
    })
  })
})
