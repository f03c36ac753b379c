import type { SessionTaskEventType } from '../../events/emitter.js'
import type { SessionTask, TaskWake } from '../../model/schemas.js'
import type { StreamItem } from '../../stream/stream.js'
import { type Seen, T0, take } from '../contract/helpers.js'
import { eventually, type PostgresChecks } from './harness.js'

/** PostgreSQL checks of events across processes: delivery, order, fill-in, resume, deletion and storage. */
export function eventChecks({ test, expect, clients, wipe, make, t, batch }: PostgresChecks): void {
  test('a write in one process reaches the other’s listeners with the same payload and seq', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const streamA = a.stream('s')[Symbol.asyncIterator]()
    const streamB = b.stream('s')[Symbol.asyncIterator]()
    await take(streamA, 1)
    await take(streamB, 1)
    const seenA: Seen[] = []
    const seenB: Seen[] = []
    const wakesB: TaskWake[] = []
    a.subscribe('s', (type, payload) => seenA.push({ type, payload }))
    b.subscribe('s', (type, payload) => seenB.push({ type, payload }))
    b.subscribeAll((_sid, type, payload) => {
      if (type === 'task.wake') wakesB.push(payload as TaskWake)
    })
    const task = await a.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'x',
      wakePolicy: 'on_activity',
      spec: { push_configs: [{ url: 'u', secret: 'x' }] },
    })
    await a.update('s', task.id, { state: 'running' })
    await a.recordMessage('s', task.id, {
      direction: 'outbound',
      content: [{ type: 'text', text: 'hi' }],
    })
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'chunk' })
    await a.update('s', task.id, { state: 'succeeded', summary: 'done' })
    expect(seenA).toHaveLength(7)
    await eventually(() => seenB.length === seenA.length, 'B to see all events')
    expect(seenB).toEqual(seenA)
    expect(wakesB.map((w) => w.transition)).toEqual(['message', 'terminal'])
    const itemsA = await take(streamA, 7)
    const itemsB = await take(streamB, 7)
    expect(itemsB).toEqual(itemsA)
    expect(itemsA.map((i) => i.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    await streamA.return?.()
    await streamB.return?.()
  })

  test('interleaved writers keep one order per task in every process', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    const progressA: number[] = []
    const progressB: number[] = []
    const note = (into: number[]) => (type: SessionTaskEventType, payload: unknown) => {
      if (type === 'task.updated') {
        into.push((payload as { task: SessionTask }).task.progress?.current ?? -1)
      }
    }
    a.subscribe('s', note(progressA))
    b.subscribe('s', note(progressB))
    // Each process writes its own counter; their writes interleave.
    const n = Math.min(batch, 40)
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 === 0 ? a : b).update('s', task.id, {
          progress: { current: i + 1 },
        }),
      ),
    )
    await eventually(
      () => progressA.length === n && progressB.length === n,
      'every update in both processes',
    )
    expect(progressB).toEqual(progressA)
    // The stored order is the delivered order.
    const { rows } = await (await clients())[0].query<{ payload: string }>(
      `SELECT payload::text AS payload FROM ${t.events} WHERE session_id = 's' AND type = 'task.updated' ORDER BY seq`,
    )
    expect(rows.map((r) => (JSON.parse(r.payload) as SessionTask).progress?.current)).toEqual(
      progressA,
    )
  })

  test('two processes racing over several sessions: each sees every event once, in seq order', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    type Got = { type: string; data: unknown }
    const dataOf = (type: string, payload: unknown): unknown => {
      const p = payload as { task?: unknown; message?: unknown }
      if (type === 'task.created' || type === 'task.updated') return p.task
      if (type === 'task.message.sent' || type === 'task.message.received') return p.message
      return payload
    }
    const recorder =
      (into: Map<string, Got[]>) => (sid: string, type: string, payload: unknown) => {
        const list = into.get(sid) ?? []
        into.set(sid, list)
        list.push({ type, data: dataOf(type, payload) })
      }
    const seenA = new Map<string, Got[]>()
    const seenB = new Map<string, Got[]>()
    a.subscribeAll(recorder(seenA))
    b.subscribeAll(recorder(seenB))
    const sessions = ['r0', 'r1', 'r2', 'r3']
    const tasks: SessionTask[] = []
    for (const sid of sessions) {
      for (const r of [a, b]) {
        tasks.push(
          await r.create({
            sessionId: sid,
            kind: 'k',
            displayName: 'x',
            wakePolicy: 'on_activity',
          }),
        )
      }
    }
    // Both processes know every session before the race starts.
    await eventually(
      () => sessions.every((s) => seenA.get(s)?.length === 2 && seenB.get(s)?.length === 2),
      'the creates in both processes',
    )
    const n = Math.min(batch, 120)
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const r = i % 2 === 0 ? a : b
        const task = tasks[(i * 7) % tasks.length] as SessionTask
        switch (i % 4) {
          case 0:
            return r.recordMessage(task.sessionId, task.id, {
              direction: 'outbound',
              content: [{ type: 'text', text: `m${i}` }],
            })
          case 1:
            return r.publishOutput(task.sessionId, task.id, { stream: 'o', delta: `d${i}` })
          default:
            return r.update(task.sessionId, task.id, { progress: { current: i } })
        }
      }),
    )
    const [client] = await clients()
    for (const sid of sessions) {
      const { rows } = await client.query<{ type: string; payload: string }>(
        `SELECT type, payload::text AS payload FROM ${t.events} WHERE session_id = $1 ORDER BY seq`,
        [sid],
      )
      const stored = rows.map((row) => ({ type: row.type, data: JSON.parse(row.payload) }))
      await eventually(
        () => seenA.get(sid)?.length === stored.length && seenB.get(sid)?.length === stored.length,
        `every event of ${sid} in both processes`,
      )
      expect(seenA.get(sid)).toEqual(stored)
      expect(seenB.get(sid)).toEqual(stored)
    }
  })

  test('a write fills in events this process missed, in seq order, before its own', async () => {
    await wipe()
    // Neither listens: only the events table connects them.
    const a = await make(0, { start: false })
    const b = await make(1, { start: false })
    const seenB: string[] = []
    b.subscribe('s', (type, payload) =>
      seenB.push(`${type}:${(payload as { task?: SessionTask }).task?.displayName}`),
    )
    await b.create({ sessionId: 's', kind: 'k', displayName: 'b1' })
    await a.create({ sessionId: 's', kind: 'k', displayName: 'a1' })
    await a.create({ sessionId: 's', kind: 'k', displayName: 'a2' })
    expect(seenB).toEqual(['task.created:b1'])
    await b.create({ sessionId: 's', kind: 'k', displayName: 'b2' })
    expect(seenB).toEqual([
      'task.created:b1',
      'task.created:a1',
      'task.created:a2',
      'task.created:b2',
    ])
  })

  test('a stream resumes in another process with since, without a snapshot', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    await a.update('s', task.id, { state: 'running' })
    const first = a.stream('s', { since: 0 })[Symbol.asyncIterator]()
    const seen = await take(first, 2)
    await first.return?.()
    await a.update('s', task.id, { summary: 'half' })
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'x' })
    const resumed = b.stream('s', { since: seen.at(-1)?.seq ?? 0 })[Symbol.asyncIterator]()
    const replayed = await take(resumed, 2)
    expect(replayed.map((i) => [i.seq, i.type])).toEqual([
      [3, 'task.updated'],
      [4, 'task.output'],
    ])
    const live = resumed.next()
    await a.update('s', task.id, { state: 'succeeded' })
    expect(((await live).value as StreamItem).seq).toBe(5)
    await resumed.return?.()
  })

  test('deleting a session in one process drops it in the other', async () => {
    await wipe()
    const a = await make(0)
    const b = await make(1)
    const deletedInB: string[] = []
    b.onSessionDeleted((sid) => deletedInB.push(sid))
    const seenB: string[] = []
    b.subscribe('s', (type) => seenB.push(type))
    await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    await eventually(() => seenB.length === 1, 'the create to reach B')
    const stream = b.stream('s')[Symbol.asyncIterator]()
    await take(stream, 1)
    expect(await a.deleteSession('s')).toBe(1)
    await eventually(() => deletedInB.length === 1, 'the deletion to reach B')
    expect(await stream.next()).toEqual({ done: true, value: undefined })
    // The counter goes on after a gap of one (an old cursor gets a snapshot);
    // B's (removed) listeners hear nothing, new ones do.
    const fresh: number[] = []
    const items = b.stream('s')[Symbol.asyncIterator]()
    const head = (await take(items, 1))[0]
    expect(head?.type).toBe('snapshot')
    expect(head?.seq).toBe(2)
    b.subscribe('s', () => fresh.push(1))
    await a.create({ sessionId: 's', kind: 'k', displayName: 'again' })
    expect(((await items.next()).value as StreamItem).seq).toBe(3)
    await eventually(() => fresh.length === 1, 'the new event')
    expect(seenB).toEqual(['task.created'])
    await items.return?.()
  })

  test('prune removes the pruned tasks’ events: an older cursor gets a snapshot', async () => {
    await wipe()
    let time = T0
    const a = await make(0, { now: () => new Date(time) })
    const old = await a.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'old',
      state: 'succeeded',
    })
    time += 1000
    await a.create({ sessionId: 's', kind: 'k', displayName: 'new' })
    expect((await a.prune({ finishedBefore: new Date(time) })).map((x) => x.id)).toEqual([old.id])
    const fromZero = a.stream('s', { since: 0 })[Symbol.asyncIterator]()
    const [snapshot] = await take(fromZero, 1)
    expect(snapshot?.type).toBe('snapshot')
    expect(snapshot?.seq).toBe(2)
    const fromOne = a.stream('s', { since: 1 })[Symbol.asyncIterator]()
    expect((await take(fromOne, 1))[0]?.seq).toBe(2)
    await fromZero.return?.()
    await fromOne.return?.()
  })

  test('only the latest events stay stored', async () => {
    await wipe()
    const a = await make(0, { replayBuffer: 2 })
    const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    // Pretend 5118 events happened, then write two more: the second crosses
    // a multiple of 256, where a write also trims what earlier ones left.
    const [client] = await clients()
    await client.query(`UPDATE ${t.sessions} SET seq = 5118 WHERE session_id = 's'`)
    await client.query(
      `INSERT INTO ${t.events} (session_id, seq, task_id, type, payload) SELECT 's', g, $1, 'task.output', '{}'::json FROM generate_series(2, 5118) AS g`,
      [task.id],
    )
    const count = async () => {
      const { rows } = await client.query<{ n: unknown; lo: unknown; hi: unknown }>(
        `SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM ${t.events} WHERE session_id = 's'`,
      )
      return [Number(rows[0]?.n), Number(rows[0]?.lo), Number(rows[0]?.hi)]
    }
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'x' })
    // A write trims only the seqs it pushed out of retention (4119).
    expect(await count()).toEqual([5118, 1, 5119])
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'y' })
    // At least 1000 stay for other processes; replays serve only the last 2.
    expect(await count()).toEqual([1000, 4121, 5120])
    const it = a.stream('s', { since: 5117 })[Symbol.asyncIterator]()
    expect((await take(it, 1))[0]?.type).toBe('snapshot')
    await it.return?.()
    const near = a.stream('s', { since: 5118 })[Symbol.asyncIterator]()
    expect((await take(near, 1))[0]?.seq).toBe(5119)
    await near.return?.()
  })
}
