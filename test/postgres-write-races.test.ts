import { afterEach, describe, expect, test } from 'vitest'
import type { SessionTask } from '../src/model/schemas.js'
import {
  endPools,
  freshPrefix,
  type Hook,
  noServer,
  pool,
  registry,
  sleep,
  tableNames,
} from './fixtures/postgres-writes.js'

// Each test's pools end with it: files run side by side on one server.
afterEach(endPools, 30000)

function gateAfterVersionedRead(hook: { fn: Hook | undefined }, taskId: string) {
  let reached!: () => void
  let release!: () => void
  const atGate = new Promise<void>((r) => (reached = r))
  const gate = new Promise<void>((r) => (release = r))
  hook.fn = async (text, params, phase) => {
    if (phase === 'after' && text.includes('version::text AS version') && params?.[0] === taskId) {
      hook.fn = undefined
      reached()
      await gate
    }
  }
  return { atGate, release }
}

describe.skipIf(noServer)('optimistic guard ABA', () => {
  test('a stale update finds no task when its id was re-created in another session', async () => {
    const prefix = freshPrefix()
    const pa = pool(4),
      pb = pool(4)
    const hook: { fn: Hook | undefined } = { fn: undefined }
    const a = await registry(pa, prefix, { hook })
    const b = await registry(pb, prefix)
    await b.create({ sessionId: 's1', id: 'job-42', kind: 'k', displayName: 'old' })
    const g = gateAfterVersionedRead(hook, 'job-42')
    const stale = a.update('s1', 'job-42', { summary: 'stale write for s1' })
    await g.atGate
    expect(await b.deleteSession('s1')).toBe(1)
    await b.create({ sessionId: 's2', id: 'job-42', kind: 'k', displayName: 'new in s2' })
    g.release()
    const result = await stale
    const t = tableNames(prefix)
    const { rows } = await pa.query(
      `SELECT session_id, record::text AS r, version FROM ${t.tasks} WHERE id = 'job-42'`,
    )
    const rec = JSON.parse(rows[0].r)
    const viaS2 = await b.get('s2', 'job-42')
    const s1list = await b.list('s1')
    const { rows: ev } = await pa.query(
      `SELECT session_id, type FROM ${t.events} WHERE seq > 0 ORDER BY session_id, seq`,
    )
    // The stale write must not reach the row, the deleted session or the event log.
    expect(rows).toHaveLength(1)
    expect(rows[0].session_id).toBe('s2')
    expect(rec.summary).toBeUndefined()
    expect(s1list).toEqual([])
    expect(ev).toEqual([{ session_id: 's2', type: 'task.created' }])
    expect(viaS2?.displayName).toBe('new in s2')
    expect(viaS2?.sessionId).toBe('s2')
    expect(result).toBeUndefined()
  }, 30000)

  test('a stale update leaves a task re-created with the same id in the same session untouched', async () => {
    const prefix = freshPrefix()
    const pa = pool(4),
      pb = pool(4)
    const hook: { fn: Hook | undefined } = { fn: undefined }
    const a = await registry(pa, prefix, { hook })
    const b = await registry(pb, prefix)
    await b.create({ sessionId: 's1', id: 'job-7', kind: 'k', displayName: 'old', spec: { v: 1 } })
    const g = gateAfterVersionedRead(hook, 'job-7')
    const stale = a.update('s1', 'job-7', { state: 'running' })
    await g.atGate
    await b.deleteSession('s1')
    await b.create({ sessionId: 's1', id: 'job-7', kind: 'k', displayName: 'new', spec: { v: 2 } })
    g.release()
    await stale
    const now = await b.get('s1', 'job-7')
    expect(now?.displayName).toBe('new')
    expect(now?.spec).toEqual({ v: 2 })
  }, 30000)
})

describe.skipIf(noServer)('mixed deployment', () => {
  test('a writer that does not bump version (0.1 / pre-v3 code) loses its update to an optimistic writer', async () => {
    const prefix = freshPrefix()
    const pa = pool(4),
      pb = pool(4)
    const hook: { fn: Hook | undefined } = { fn: undefined }
    const a = await registry(pa, prefix, { hook })
    // Created by another registry, so a reads the record (it remembers only its own writes).
    const creator = await registry(pool(2), prefix)
    const task = await creator.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      state: 'running',
    })
    const g = gateAfterVersionedRead(hook, task.id)
    const p = a.update('s', task.id, { appendArtifact: { name: 'from-0.2', type: 't' } })
    await g.atGate
    // What a 0.1 process does for update(appendArtifact): lock, read, write record (no version column).
    const t = tableNames(prefix)
    const c = await pb.connect()
    await c.query('BEGIN')
    const { rows } = await c.query(
      `SELECT record::text AS record FROM ${t.tasks} WHERE id = $1 AND session_id = $2 FOR UPDATE`,
      [task.id, 's'],
    )
    const rec = JSON.parse(rows[0].record)
    rec.artifacts = [...rec.artifacts, { name: 'from-0.1', type: 't' }]
    await c.query(`UPDATE ${t.tasks} SET record = $2::json WHERE id = $1`, [
      task.id,
      JSON.stringify(rec),
    ])
    await c.query('COMMIT')
    c.release()
    g.release()
    await p
    const final = await a.get('s', task.id)
    expect(final?.artifacts.map((x) => x.name).sort()).toEqual(['from-0.1', 'from-0.2'])
  }, 30000)
})

describe.skipIf(noServer)('local delivery order without start()', () => {
  test('two concurrent creates in a new watched session: both task.created reach the listener', async () => {
    const prefix = freshPrefix()
    const pa = pool(4)
    const hook: { fn: Hook | undefined } = { fn: undefined }
    const a = await registry(pa, prefix, { hook, start: false })
    const seen: string[] = []
    a.subscribe('s', (type, payload) =>
      seen.push(`${type}:${(payload as { task: SessionTask }).task?.displayName}`),
    )
    hook.fn = async (text, params, phase) => {
      if (
        phase === 'after' &&
        text.startsWith('WITH i AS') &&
        JSON.stringify(params).includes('first')
      )
        await sleep(200)
    }
    const p1 = a.create({ sessionId: 's', kind: 'k', displayName: 'first' })
    await sleep(50)
    const p2 = a.create({ sessionId: 's', kind: 'k', displayName: 'second' })
    await Promise.all([p1, p2])
    expect(seen).toEqual(['task.created:first', 'task.created:second'])
  }, 30000)

  test('ten concurrent creates per fresh session: every task.created reaches the listener', async () => {
    const prefix = freshPrefix()
    const pa = pool(10)
    const a = await registry(pa, prefix, { start: false })
    let missing = 0
    for (let round = 0; round < 30; round++) {
      const s = `s${round}`
      let n = 0
      const off = a.subscribe(s, () => n++)
      await Promise.all(
        Array.from({ length: 10 }, () => a.create({ sessionId: s, kind: 'k', displayName: 'x' })),
      )
      missing += 10 - n
      off()
    }
    expect(missing).toBe(0)
  }, 60000)
})

describe.skipIf(noServer)('remembered records', () => {
  test('a process that remembers its last write of a task never overwrites another process’s newer one', async () => {
    const prefix = freshPrefix()
    const a = await registry(pool(4), prefix)
    const b = await registry(pool(4), prefix)
    const task = await a.create({ sessionId: 'r', kind: 'k', displayName: 'd', state: 'running' })
    const names: string[] = []
    for (let i = 0; i < 12; i++) {
      // a writes twice in a row (its second write can skip the read), then b once.
      const writer = i % 3 === 2 ? b : a
      const name = `${i % 3 === 2 ? 'b' : 'a'}${i}`
      names.push(name)
      await writer.update('r', task.id, { appendArtifact: { name, type: 'file' } })
    }
    const final = await b.get('r', task.id)
    expect(final?.artifacts.map((x) => x.name)).toEqual(names)
    // Deleted and created again under its id: the remembered record is another row's.
    await a.deleteSession('r')
    const again = await b.create({ sessionId: 'r', id: task.id, kind: 'k', displayName: 'again' })
    await a.update('r', task.id, { summary: 'after re-create' })
    const fresh = await b.get('r', task.id)
    expect(fresh?.displayName).toBe('again')
    expect(fresh?.artifacts).toEqual([])
    expect(fresh?.summary).toBe('after re-create')
    expect(again.createdAt).toBe(fresh?.createdAt)
  })
})

describe.skipIf(noServer)('a refusal read off a remembered record', () => {
  test('a fenced message that the remembered record would refuse is decided again on a fresh read', async () => {
    const prefix = freshPrefix()
    const a = await registry(pool(4), prefix)
    const b = await registry(pool(4), prefix)
    await a.create({ sessionId: 's', id: 'm1', kind: 'k', displayName: 'd' })
    // a remembers attempt 1; b moves the task to attempt 2 behind its back.
    await a.update('s', 'm1', { state: 'running' })
    await b.update('s', 'm1', { incrementAttempt: true })
    for (let i = 0; i < 3; i++) {
      const m = await a.recordMessage('s', 'm1', {
        direction: 'outbound',
        content: [{ type: 'text', text: `hi ${i}` }],
        expectedAttempt: 2,
      })
      expect(m.taskId).toBe('m1')
    }
    expect(await b.listMessages('s', 'm1')).toHaveLength(3)
  }, 30000)
})
