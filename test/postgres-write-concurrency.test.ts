// Many concurrent writes of one task, fences and messages, on a real server
// (also under repeatable-read and serializable server defaults).
import { afterEach, describe, expect, test } from 'vitest'
import type { SessionTask } from '../src/model/schemas.js'
import {
  endPools,
  eventually,
  freshPrefix,
  noServer,
  pool,
  registry,
  tableNames,
} from './fixtures/postgres-writes.js'

// Each test's pools end with it: files run side by side on one server.
afterEach(endPools, 30000)

async function seqs(p: import('pg').Pool, prefix: string, sessionId: string) {
  const t = tableNames(prefix)
  const { rows } = await p.query(
    `SELECT seq::int AS seq, type, payload::text AS payload FROM ${t.events} WHERE session_id = $1 ORDER BY seq`,
    [sessionId],
  )
  return rows as { seq: number; type: string; payload: string }[]
}

describe.skipIf(noServer)('concurrent writes of one task', () => {
  for (const iso of [
    '',
    '-c default_transaction_isolation=serializable',
    '-c default_transaction_isolation=repeatable\\ read',
  ]) {
    test(`50 appendArtifact from two registries ${iso}`, async () => {
      const prefix = freshPrefix()
      const pa = pool(10, iso),
        pb = pool(10, iso)
      const errors: unknown[] = []
      const a = await registry(pa, prefix, { errors })
      const b = await registry(pb, prefix, { errors })
      const s = 'sess-1'
      const seenA: string[] = [],
        seenB: string[] = []
      const lensA: number[] = [],
        lensB: number[] = []
      a.subscribe(s, (type, payload) => {
        seenA.push(type)
        if (type === 'task.updated')
          lensA.push((payload as { task: SessionTask }).task.artifacts.length)
      })
      b.subscribe(s, (type, payload) => {
        seenB.push(type)
        if (type === 'task.updated')
          lensB.push((payload as { task: SessionTask }).task.artifacts.length)
      })
      const task = await a.create({ sessionId: s, kind: 'k', displayName: 'd' })
      const N = 50
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          (i % 2 ? a : b).updateWithOutcome(s, task.id, {
            appendArtifact: { name: `a${i}`, type: 't' },
          }),
        ),
      )
      expect(results.every((r) => r?.applied && r.changed)).toBe(true)
      const final = await a.get(s, task.id)
      expect(final?.artifacts.map((x) => x.name).sort()).toEqual(
        Array.from({ length: N }, (_, i) => `a${i}`).sort(),
      )
      const rows = await seqs(pa, prefix, s)
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1))
      expect(rows.filter((r) => r.type === 'task.updated').length).toBe(N)
      // versions
      const { rows: v } = await pa.query(
        `SELECT version::int AS v FROM ${tableNames(prefix).tasks} WHERE id = $1`,
        [task.id],
      )
      expect(v[0].v).toBe(N)
      expect(await eventually(() => seenA.length === N + 1 && seenB.length === N + 1)).toBe(true)
      expect(lensA).toEqual(Array.from({ length: N }, (_, i) => i + 1))
      expect(lensB).toEqual(Array.from({ length: N }, (_, i) => i + 1))
      expect(errors).toEqual([])
      await a.close()
      await b.close()
    }, 60000)
  }

  test('fence: 30 concurrent incrementAttempt with expectedState queued -> exactly one applies', async () => {
    const prefix = freshPrefix()
    const pa = pool(10),
      pb = pool(10)
    const a = await registry(pa, prefix)
    const b = await registry(pb, prefix)
    const s = 'sess-f'
    for (let round = 0; round < 5; round++) {
      const task = await a.create({ sessionId: s, kind: 'k', displayName: 'd' })
      const out = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? a : b).updateWithOutcome(s, task.id, {
            state: 'running',
            expectedState: 'queued',
            incrementAttempt: true,
            workerId: `w${i}`,
          }),
        ),
      )
      expect(out.filter((r) => r?.applied && r.changed).length).toBe(1)
      const final = await a.get(s, task.id)
      expect(final?.attempt).toBe((task.attempt ?? 0) + 1)
      const winner = out.find((r) => r?.applied && r.changed)!
      expect(final?.workerId).toBe(winner.task.workerId)
      // expectedAttempt race: terminal updates from attempt N and stale attempt
      const att = final!.attempt
      const out2 = await Promise.all([
        ...Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? a : b).updateWithOutcome(s, task.id, {
            state: 'succeeded',
            expectedAttempt: att,
            summary: `s${i}`,
          }),
        ),
        ...Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? a : b).updateWithOutcome(s, task.id, {
            state: 'failed',
            expectedAttempt: att,
            error: { kind: 'x', message: `f${i}` },
          }),
        ),
      ])
      const changed = out2.filter((r) => r?.changed)
      const f2 = await a.get(s, task.id)
      expect(['succeeded', 'failed']).toContain(f2?.state)
      // only one terminal transition
      const rows = await seqs(pa, prefix, s)
      const terminal = rows.filter(
        (r) =>
          r.type === 'task.updated' &&
          JSON.parse(r.payload).id === task.id &&
          ['succeeded', 'failed'].includes(JSON.parse(r.payload).state),
      )
      expect(new Set(terminal.map((r) => JSON.parse(r.payload).state)).size).toBe(1)
      expect(changed.every((r) => r!.task.state === f2!.state)).toBe(true)
    }
    await a.close()
    await b.close()
  }, 60000)

  test('recordMessage answering an input request racing updates; messages all-or-nothing', async () => {
    const prefix = freshPrefix()
    const pa = pool(10),
      pb = pool(10)
    const a = await registry(pa, prefix)
    const b = await registry(pb, prefix)
    const s = 'sess-m'
    const t = tableNames(prefix)
    for (let round = 0; round < 5; round++) {
      const task = await a.create({ sessionId: s, kind: 'k', displayName: 'd', state: 'running' })
      await a.update(s, task.id, {
        state: 'awaiting_input',
        inputRequest: { id: `q${round}`, prompt: 'p?' },
      })
      const ops: Promise<unknown>[] = []
      for (let i = 0; i < 10; i++) {
        ops.push(
          (i % 2 ? a : b)
            .recordMessage(s, task.id, {
              direction: 'inbound',
              content: [{ type: 'text', text: `ans${i}` }],
              inReplyTo: `q${round}`,
            })
            .catch((e) => e),
        )
        ops.push(
          (i % 2 ? b : a)
            .update(s, task.id, { progress: { current: i, total: 10 } })
            .catch((e) => e),
        )
        ops.push((i % 2 ? b : a).publishOutput(s, task.id, { stream: 'stdout', delta: `o${i}` }))
      }
      ops.push(a.update(s, task.id, { state: 'canceled' }).catch((e) => e))
      await Promise.all(ops)
      const { rows: msgs } = await pa.query(
        `SELECT count(*)::int AS n FROM ${t.messages} WHERE task_id = $1`,
        [task.id],
      )
      const { rows: evs } = await pa.query(
        `SELECT count(*)::int AS n FROM ${t.events} WHERE task_id = $1 AND type = 'task.message.sent'`,
        [task.id],
      )
      expect(msgs[0].n).toBe(evs[0].n)
      const ups = await pa.query(
        `SELECT payload::text AS p FROM ${t.events} WHERE task_id = $1 AND type = 'task.updated' ORDER BY seq`,
        [task.id],
      )
      const states = ups.rows.map((r) => JSON.parse(r.p).state)
      // at most one resume to running after awaiting_input
      const resumes = states.filter(
        (st, i) => st === 'running' && states[i - 1] === 'awaiting_input',
      ).length
      expect(resumes).toBeLessThanOrEqual(1)
      const rows = await seqs(pa, prefix, s)
      expect(rows.map((r) => r.seq)).toEqual(
        Array.from({ length: rows.length }, (_, i) => rows[0]!.seq + i),
      )
    }
    await a.close()
    await b.close()
  }, 60000)
})
