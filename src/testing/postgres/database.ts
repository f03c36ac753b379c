import { migrate } from '../../backends/postgres/migrations.js'
import { type Seen, T0 } from '../contract/helpers.js'
import { eventually } from '../contract/processes.js'
import type { PostgresChecks } from './harness.js'

/** PostgreSQL checks on one database: migrations, round trips, fences and concurrent writes. */
export function databaseChecks({
  test,
  expect,
  clients,
  wipe,
  make,
  t,
  batch,
  prefix,
}: PostgresChecks): void {
  test('migrate is idempotent', async () => {
    const [a] = await clients()
    await migrate(a, { prefix })
    await migrate(a, { prefix })
    const { rows } = await a.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM ${t.sessions} WHERE session_id = 'never'`,
    )
    expect(Number(rows[0]?.n)).toBe(0)
  })

  test('every method round-trips through the database', async () => {
    await wipe()
    let time = T0
    const registry = await make(0, { now: () => new Date(time) })
    const seen: Seen[] = []
    registry.subscribe('s', (type, payload) => seen.push({ type, payload }))
    const deleted: string[] = []
    registry.onSessionDeleted((sid) => deleted.push(sid))
    const task = await registry.create({
      sessionId: 's',
      id: 'job-1',
      kind: 'k',
      displayName: 'Job',
      spec: { push_configs: [{ url: 'u', secret: 'x' }] },
      wakePolicy: 'on_activity',
    })
    expect(await registry.get('s', 'job-1')).toStrictEqual(task)
    time += 1000
    const running = await registry.update('s', 'job-1', {
      state: 'running',
      heartbeatAt: new Date(time).toISOString(),
      appendArtifact: { name: 'a', type: 'file' },
    })
    expect(running?.state).toBe('running')
    const outcome = await registry.updateWithOutcome('s', 'job-1', {
      expectedAttempt: 2,
      state: 'failed',
    })
    expect(outcome).toEqual({ task: running, applied: false, changed: false })
    const asking = await registry.update('s', 'job-1', {
      inputRequest: { id: 'q', prompt: 'ok?' },
    })
    expect(asking?.state).toBe('awaiting_input')
    const answer = await registry.recordMessage('s', 'job-1', {
      direction: 'inbound',
      content: [{ type: 'text', text: 'yes' }],
      inReplyTo: 'q',
    })
    expect((await registry.get('s', 'job-1'))?.state).toBe('running')
    const reply = await registry.recordMessage('s', 'job-1', {
      direction: 'outbound',
      content: [{ type: 'text', text: 'thanks' }],
    })
    expect(await registry.listMessages('s', 'job-1')).toStrictEqual([answer, reply])
    expect(await registry.listMessages('s', 'job-1', { limit: 1 })).toStrictEqual([reply])
    expect(
      await registry.listMessages('s', 'job-1', { afterId: answer.id, limit: 5 }),
    ).toStrictEqual([reply])
    expect(await registry.publishOutput('s', 'job-1', { stream: 'o', delta: 'd' })).toBe(true)
    const canceled = await registry.requestCancel('s', 'job-1')
    expect(canceled?.cancelRequestedAt).toBe(new Date(time).toISOString())
    expect(await registry.list('s', { state: 'running', kind: 'k' })).toHaveLength(1)
    expect(
      (await registry.listStale({ heartbeatBefore: new Date(time + 1) })).map((x) => x.id),
    ).toEqual(['job-1'])
    await registry.update('s', 'job-1', { state: 'succeeded' })
    expect(await registry.prune({ finishedBefore: new Date(time) })).toEqual([])
    time += 1000
    const pruned = await registry.prune({ finishedBefore: new Date(time) })
    expect(pruned.map((x) => x.id)).toEqual(['job-1'])
    // The stored spec keeps the secret; events carry the public projection.
    expect(pruned[0]?.spec).toEqual({ push_configs: [{ url: 'u', secret: 'x' }] })
    expect(JSON.stringify(seen)).not.toContain('"secret"')
    expect(seen.map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
      'task.updated',
      'task.wake',
      'task.message.sent',
      'task.updated',
      'task.message.received',
      'task.wake',
      'task.output',
      'task.updated',
      'task.updated',
      'task.wake',
    ])
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'Other' })
    expect(await registry.deleteSession('s')).toBe(1)
    expect(deleted).toEqual(['s'])
    expect(registry.stats()).toEqual({
      trackedSessions: 0,
      watchedSessions: 0,
      eventSessions: 0,
    })
    const { rows } = await (await clients())[0].query<{ n: unknown }>(
      `SELECT (SELECT count(*) FROM ${t.events} WHERE session_id = 's') AS n`,
    )
    expect(Number(rows[0]?.n)).toBe(0)
    // The counter row stays, one number on, so an old cursor gets a snapshot (SPEC 12.5).
    const head = await (await clients())[0].query<{ seq: unknown }>(
      `SELECT seq FROM ${t.sessions} WHERE session_id = 's'`,
    )
    expect(head.rows).toHaveLength(1)
  })

  test('two concurrent fenced updates: exactly one applies', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const task = await a.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'x',
      state: 'running',
    })
    for (let round = 1; round <= 5; round++) {
      const results = await Promise.all(
        [a, b, a, b].map((r, i) =>
          r.updateWithOutcome('s', task.id, {
            expectedAttempt: round,
            incrementAttempt: true,
            workerId: `w${i}`,
          }),
        ),
      )
      expect(results.filter((r) => r?.applied).length).toBe(1)
      expect((await a.get('s', task.id))?.attempt).toBe(round + 1)
    }
  })

  test(`${batch} concurrent appendArtifact calls keep every artifact`, async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        (i % 2 === 0 ? a : b).update('s', task.id, {
          appendArtifact: { name: `a${i}`, type: 'file' },
        }),
      ),
    )
    const stored = await a.get('s', task.id)
    expect(stored?.artifacts).toHaveLength(batch)
    expect(new Set(stored?.artifacts.map((x) => x.name)).size).toBe(batch)
  })

  test('concurrent creates of one caller id in two processes insert once', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const seenA: string[] = []
    a.subscribeAll((_sid, type) => seenA.push(type))
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? a : b).create({
          sessionId: 's',
          id: 'same',
          kind: 'k',
          displayName: 'x',
        }),
      ),
    )
    for (const r of results) expect(r).toStrictEqual(results[0])
    expect(await a.list('s')).toHaveLength(1)
    const { rows } = await (await clients())[0].query<{ n: unknown }>(
      `SELECT count(*) AS n FROM ${t.events} WHERE session_id = 's'`,
    )
    expect(Number(rows[0]?.n)).toBe(1)
    await eventually(() => seenA.length === 1, 'the one task.created')
  })
}
