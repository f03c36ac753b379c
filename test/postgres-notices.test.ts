import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test, vi } from 'vitest'
import {
  fromPGlite,
  migrate,
  PostgresSessionTaskRegistry,
  type SqlClient,
} from '../src/backends/postgres/index.js'
import type { EventGap } from '../src/index.js'

// Notices are sent after the commit (SPEC 12.6 holds without NOTIFY in the
// write): a lost notice is found by the poll, and notices that arrive out of
// commit order still deliver every event once, in seq order, to a session
// followed by name and to subscribeAll. Registries on one PGlite database
// stand for processes.

const db = new PGlite()
const base = fromPGlite(db)
afterAll(() => db.close())

const isNotice = (text: string) => text.includes('pg_notify')

/** A client whose NOTIFY statements can be dropped, or held until released. */
function noticeControl() {
  let drop = false
  let gate: Promise<void> | undefined
  const client: SqlClient = {
    async query(text, params) {
      if (isNotice(text)) {
        if (drop) return { rows: [] }
        if (gate !== undefined) await gate
      }
      return base.query(text, params)
    },
    transaction: (fn) => base.transaction(fn),
    listen: (channel, onPayload, options) => base.listen(channel, onPayload, options),
  }
  return {
    client,
    dropAll() {
      drop = true
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
  }
}

async function processes(prefix: string, writers: number) {
  await db.waitReady
  await migrate(base, { prefix })
  const gaps: EventGap[] = []
  const controls = Array.from({ length: writers }, () => noticeControl())
  const ws = controls.map((c) => new PostgresSessionTaskRegistry({ client: c.client, prefix }))
  const reader = new PostgresSessionTaskRegistry({
    client: base,
    prefix,
    onEventGap: (gap) => gaps.push(gap),
  })
  for (const r of [...ws, reader]) await r.start()
  const close = async () => {
    for (const r of [...ws, reader]) await r.close()
  }
  return { controls, writers: ws, reader, gaps, close }
}

type Seen = { type: string; seq: number | undefined; summary: string | undefined }
const seenBy = (list: Seen[]) => (type: string, payload: unknown) => {
  const p = payload as { seq?: number; task?: { summary?: string } }
  list.push({ type, seq: p.seq, summary: p.task?.summary })
}

describe('notices after the commit', () => {
  test('a write whose notice never went out reaches the other process through the poll', async () => {
    const { controls, writers, reader, gaps, close } = await processes('nt_a_', 1)
    const [w] = writers
    const seen: Seen[] = []
    reader.subscribe('s', seenBy(seen))
    // The writer dies between its commits and its notices, as it were.
    controls[0]?.dropAll()
    const task = await w!.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    await w!.update('s', task.id, { summary: 'one' })
    await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 6000, interval: 50 })
    expect(seen.map((e) => [e.type, e.summary])).toEqual([
      ['task.created', undefined],
      ['task.updated', 'one'],
    ])
    expect(gaps).toEqual([])
    await close()
  })

  test('a late notice of an earlier write: the followed session still gets every event once, in order', async () => {
    const { controls, writers, reader, gaps, close } = await processes('nt_b_', 2)
    const [a, b] = writers
    const seen: Seen[] = []
    reader.subscribe('s', seenBy(seen))
    const task = await a!.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    const release = controls[0]!.hold()
    // A commits first, but its notice is held back; B's arrives first.
    const first = a!.update('s', task.id, { summary: 'a' })
    await vi.waitFor(async () => expect((await b!.get('s', task.id))?.summary).toBe('a'))
    await b!.update('s', task.id, { summary: 'b' })
    await vi.waitFor(() => expect(seen).toHaveLength(3))
    release()
    await first
    await a!.update('s', task.id, { summary: 'c' })
    await vi.waitFor(() => expect(seen).toHaveLength(4))
    expect(seen.map((e) => e.summary)).toEqual([undefined, 'a', 'b', 'c'])
    expect(gaps).toEqual([])
    await close()
  })

  test('subscribeAll: a new session whose first notice comes late loses none of its events', async () => {
    const { controls, writers, reader, gaps, close } = await processes('nt_c_', 2)
    const [a, b] = writers
    const seen: { sessionId: string; type: string }[] = []
    reader.subscribeAll((sessionId, type) => seen.push({ sessionId, type }))
    const release = controls[0]!.hold()
    const created = a!.create({ sessionId: 'n', kind: 'k', displayName: 'd', id: 'task-n' })
    await vi.waitFor(async () => expect(await b!.get('n', 'task-n')).toBeDefined())
    await b!.update('n', 'task-n', { summary: 'b' })
    await vi.waitFor(() => expect(seen).toHaveLength(2))
    release()
    await created
    // The held notice, arriving now, brings nothing twice.
    await b!.update('n', 'task-n', { summary: 'c' })
    await vi.waitFor(() => expect(seen).toHaveLength(3))
    expect(seen).toEqual([
      { sessionId: 'n', type: 'task.created' },
      { sessionId: 'n', type: 'task.updated' },
      { sessionId: 'n', type: 'task.updated' },
    ])
    expect(gaps).toEqual([])
    await close()
  })
})
