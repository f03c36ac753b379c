import type { SessionTaskEventType } from '../../events/emitter.js'
import type { SessionTask, TaskWake } from '../../model/schemas.js'
import type { SessionTaskRegistryCore } from '../../registry/core.js'
import type { StreamItem } from '../../stream/stream.js'
import { type Seen, T0, take } from './helpers.js'
import type { ContractExpect, ContractTest } from './runner.js'

/** Options of {@link ProcessesHarness.make}. */
export type ProcessRegistryOptions = { now?: () => Date; replayBuffer?: number; start?: boolean }

/** A registry one of the checks opened: any backend built on the registry core. */
export type ProcessRegistry = SessionTaskRegistryCore

/**
 * What {@link crossProcessChecks} needs: two registries on one database that
 * stand for two processes (two connections), and a look at the stored events.
 */
export type ProcessesHarness = {
  test: ContractTest
  expect: ContractExpect
  /** How many concurrent writes the batch tests make. */
  batch: number
  /** Empties the database. */
  wipe(): Promise<void>
  /** A registry on connection `which` (0 or 1), started unless `start` is false; listener errors throw. */
  make(which: 0 | 1, options?: ProcessRegistryOptions): Promise<ProcessRegistry>
  /** The session's stored events in seq order: their type and public payload as JSON text. */
  storedEvents(sessionId: string): Promise<{ type: string; payload: string }[]>
}

/** Resolves once `check` returns true, polling every few ms; rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * Checks of events across processes that every shared durable backend must
 * pass: delivery with the same payloads and seqs, one order per task,
 * every event once under racing writers, fill-in before a write's own
 * events, resume in another process, session deletion and prune.
 */
export function crossProcessChecks({
  test,
  expect,
  wipe,
  make,
  storedEvents,
  batch,
}: ProcessesHarness): void {
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
    const rows = (await storedEvents('s')).filter((row) => row.type === 'task.updated')
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
    for (const sid of sessions) {
      const rows = await storedEvents(sid)
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
}
