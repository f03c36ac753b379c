import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test, vi } from 'vitest'
import {
  fromPGlite,
  migrate,
  PostgresSessionTaskRegistry,
  type SqlClient,
  type SqlListenOptions,
} from '../src/backends/postgres/index.js'
import type { EventGap, SessionTaskEventType } from '../src/index.js'

// SPEC 12.5/12.6 on the PostgreSQL relay: a catch-up read that fails is
// retried and never skips events silently; events gone from the table are
// reported as a gap; sessions first written during a LISTEN outage are
// caught up after the reconnect. Two registries on one PGlite database
// stand for two processes.

const db = new PGlite()
const base = fromPGlite(db)
afterAll(() => db.close())

/** A client whose event reads can fail and whose LISTEN can "drop". */
function faultyClient() {
  let failReads = 0
  let gate: Promise<void> | undefined
  let headGate: Promise<void> | undefined
  let down = false
  let hooks: SqlListenOptions = {}
  const client: SqlClient = {
    async query(text, params) {
      if (text.includes('SELECT seq, epoch FROM') && headGate !== undefined) await headGate
      if (text.includes('e.seq >= $3')) {
        if (gate !== undefined) await gate
        if (failReads > 0) {
          failReads--
          throw new Error('connection reset while reading events')
        }
      }
      return base.query(text, params)
    },
    transaction: (fn) => base.transaction(fn),
    async listen(channel, onPayload, options = {}) {
      hooks = options
      return base.listen(channel, (payload) => {
        if (!down) onPayload(payload)
      })
    },
  }
  return {
    client,
    failNextReads(n: number) {
      failReads = n
    },
    hold() {
      let open = () => {}
      gate = new Promise<void>((resolve) => {
        open = resolve
      })
      return () => {
        gate = undefined
        open()
      }
    },
    holdCatchUp() {
      let open = () => {}
      headGate = new Promise<void>((resolve) => {
        open = resolve
      })
      return () => {
        headGate = undefined
        open()
      }
    },
    drop() {
      down = true
      hooks.onError?.(new Error('LISTEN connection lost'))
    },
    restore() {
      down = false
      hooks.onReconnect?.()
    },
  }
}

async function pair(prefix: string, readerOptions: { replayBuffer?: number } = {}) {
  await db.waitReady
  await migrate(base, { prefix })
  const faults = faultyClient()
  const errors: unknown[] = []
  const gaps: EventGap[] = []
  const writer = new PostgresSessionTaskRegistry({ client: base, prefix, ...readerOptions })
  const reader = new PostgresSessionTaskRegistry({
    client: faults.client,
    prefix,
    onError: (error) => errors.push(error),
    onEventGap: (gap) => gaps.push(gap),
  })
  await writer.start()
  await reader.start()
  return { writer, reader, faults, errors, gaps }
}

type Seen = { type: SessionTaskEventType; state?: string }

function record(list: Seen[]) {
  return (type: SessionTaskEventType, payload: unknown) => {
    const task = (payload as { task?: { state: string } }).task
    list.push(task === undefined ? { type } : { type, state: task.state })
  }
}

describe('a failed catch-up read', () => {
  test('is retried: every event arrives once, in order', async () => {
    const { writer, reader, faults, gaps } = await pair('rf_a_')
    const seen: Seen[] = []
    reader.subscribe('s', record(seen))
    faults.failNextReads(2)
    const t = await writer.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    await writer.update('s', t.id, { state: 'running' })
    await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 5000 })
    expect(seen).toEqual([
      { type: 'task.created', state: 'queued' },
      { type: 'task.updated', state: 'running' },
    ])
    expect(gaps).toEqual([])
    await reader.close()
    await writer.close()
  })

  test('that keeps failing is reported as a gap, and later events still arrive', async () => {
    const { writer, reader, faults, gaps } = await pair('rf_b_')
    const seen: Seen[] = []
    reader.subscribe('s', record(seen))
    const t = await writer.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    faults.failNextReads(100)
    await writer.update('s', t.id, { state: 'running' })
    await vi.waitFor(() => expect(gaps).toHaveLength(1), { timeout: 5000 })
    expect(gaps[0]).toEqual({ sessionId: 's', after: 1, through: 2 })
    faults.failNextReads(0)
    await writer.update('s', t.id, { state: 'succeeded' })
    await vi.waitFor(() => expect(seen).toHaveLength(2))
    expect(seen[1]).toEqual({ type: 'task.updated', state: 'succeeded' })
    await reader.close()
    await writer.close()
  })

  test("on a process's own write: its events go out, the unread range is a gap", async () => {
    const { writer, reader, faults, gaps } = await pair('rf_c_')
    const seen: Seen[] = []
    const t = await writer.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    reader.subscribe('s', record(seen))
    await reader.update('s', t.id, { progress: { label: 'a' } })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    // The writer's event is announced, but the reader cannot read it yet.
    const release = faults.hold()
    await writer.update('s', t.id, { state: 'running' })
    faults.failNextReads(100)
    const own = reader.update('s', t.id, { progress: { label: 'b' } })
    release()
    await own
    await vi.waitFor(() => expect(gaps.length).toBeGreaterThan(0), { timeout: 5000 })
    expect(gaps[0]).toMatchObject({ sessionId: 's', after: 2, through: 3 })
    // The reader's own update went out (its record already shows the
    // writer's running state); the writer's event itself was a gap.
    expect(seen).toEqual([
      { type: 'task.updated', state: 'queued' },
      { type: 'task.updated', state: 'running' },
    ])
    faults.failNextReads(0)
    await reader.close()
    await writer.close()
  })
})

describe('events gone from the table', () => {
  test('a reader that fell behind the retention (or a prune) is told of the gap', async () => {
    const { writer, reader, faults, gaps } = await pair('rf_d_')
    const seen: Seen[] = []
    reader.subscribe('s', record(seen))
    const t = await writer.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    const release = faults.hold()
    for (let i = 1; i <= 8; i++) await writer.update('s', t.id, { progress: { current: i } })
    // Seqs 2..9 were written; the oldest go before the reader gets to them,
    // as the retention trim (or a prune) removes them.
    await base.query('DELETE FROM rf_d_events WHERE session_id = $1 AND seq <= 6', ['s'])
    release()
    await vi.waitFor(() => expect(seen).toHaveLength(4), { timeout: 5000 })
    expect(gaps.length).toBeGreaterThan(0)
    expect(gaps[0]).toMatchObject({ sessionId: 's', after: 1 })
    expect(gaps.at(-1)?.through).toBe(6)
    const progress = seen.slice(1).map((e) => e.type)
    expect(progress).toEqual(['task.updated', 'task.updated', 'task.updated'])
    await reader.close()
    await writer.close()
  })
})

describe('a LISTEN outage', () => {
  test('a session first written during it, past the retention: the lost start is a gap, the rest arrives in order', async () => {
    const { writer, reader, faults, gaps } = await pair('rf_t_')
    const seen: { sessionId: string; type: SessionTaskEventType }[] = []
    reader.subscribeAll((sessionId, type) => seen.push({ sessionId, type }))
    await writer.create({ sessionId: 'warm', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    faults.drop()
    const task = await writer.create({ sessionId: 'busy', kind: 'k', displayName: 'd' })
    // 1,010 events in all: the first 10 leave the table (1,000 are kept).
    for (let i = 0; i < 1009; i++) {
      await writer.update('busy', task.id, { progress: { current: i, total: 1009 } })
    }
    faults.restore()
    await vi.waitFor(() => expect(seen).toHaveLength(1001), { timeout: 10000 })
    expect(gaps).toEqual([{ sessionId: 'busy', after: 0, through: 10 }])
    expect(seen.slice(1).every((e) => e.sessionId === 'busy' && e.type === 'task.updated')).toBe(
      true,
    )
    await reader.close()
    await writer.close()
  }, 30000)

  test('sessions first written during it are caught up after the reconnect, once and in order', async () => {
    const { writer, reader, faults } = await pair('rf_e_')
    const seen: { sessionId: string; type: SessionTaskEventType }[] = []
    reader.subscribeAll((sessionId, type) => seen.push({ sessionId, type }))
    const known = await writer.create({ sessionId: 'known', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    faults.drop()
    await writer.update('known', known.id, { state: 'running' })
    const fresh = await writer.create({ sessionId: 'fresh', kind: 'k', displayName: 'new' })
    await writer.update('fresh', fresh.id, { state: 'running' })
    await writer.update('fresh', fresh.id, { state: 'succeeded' })
    expect(seen).toHaveLength(1)
    faults.restore()
    await vi.waitFor(() => expect(seen).toHaveLength(5), { timeout: 5000 })
    expect(seen.filter((e) => e.sessionId === 'known').map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
    ])
    expect(seen.filter((e) => e.sessionId === 'fresh').map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
      'task.updated',
    ])
    // Live again afterwards, without repeats.
    await writer.update('known', known.id, { state: 'succeeded' })
    await vi.waitFor(() => expect(seen).toHaveLength(6))
    await new Promise((r) => setTimeout(r, 50))
    expect(seen).toHaveLength(6)
    await reader.close()
    await writer.close()
  })

  test('a live notice during the catch-up does not skip the events written before it', async () => {
    const { writer, reader, faults, gaps } = await pair('rf_f_')
    const seen: string[] = []
    reader.subscribeAll((sessionId, type, payload) => {
      seen.push(
        `${sessionId}:${type}:${(payload as { task?: { state: string } }).task?.state ?? ''}`,
      )
    })
    await writer.create({ sessionId: 'known', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    faults.drop()
    const fresh = await writer.create({ sessionId: 'fresh', kind: 'k', displayName: 'new' })
    await writer.update('fresh', fresh.id, { state: 'running' })
    // The catch-up stalls on its first read while a live notice arrives.
    const release = faults.holdCatchUp()
    faults.restore()
    await new Promise((r) => setTimeout(r, 50))
    await writer.update('fresh', fresh.id, { state: 'succeeded' })
    await new Promise((r) => setTimeout(r, 100))
    release()
    await vi.waitFor(() => expect(seen).toHaveLength(4), { timeout: 5000 })
    expect(seen).toEqual([
      'known:task.created:queued',
      'fresh:task.created:queued',
      'fresh:task.updated:running',
      'fresh:task.updated:succeeded',
    ])
    expect(gaps).toEqual([])
    await reader.close()
    await writer.close()
  })
})
