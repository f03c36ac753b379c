import type { SessionTaskEventType } from '../../events/emitter.js'
import { isStreamOverflowError } from '../../model/errors.js'
import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { toPublicTask } from '../../rules/projection.js'
import type { StreamItem } from '../../stream/stream.js'
import type { GroupContext } from './harness.js'
import {
  base,
  createdNamed,
  inbound,
  NO_ERROR,
  outbound,
  REDACTED_SPEC,
  SECRET_SPEC,
  take,
  takeUntil,
  type Writable,
} from './helpers.js'

/** The `stream` group: snapshots, replay, live events and ending a stream. */
export function streamTests({ it, expect, setup, expectDeepFrozen }: GroupContext): void {
  /** created, updated, wake (on_terminal) in `sessionId`: three events. */
  async function threeEvents(registry: SessionTaskRegistry, sessionId = 's1') {
    const t = await registry.create(
      base(sessionId, { wakePolicy: 'on_terminal', spec: SECRET_SPEC }),
    )
    await registry.update(sessionId, t.id, { state: 'succeeded' })
    return t
  }

  it('starts with an empty snapshot at seq 0 for a session without events', async () => {
    const h = await setup()
    const it = h.stream('s1')
    expect(await it.next()).toEqual({
      done: false,
      value: { seq: 0, type: 'snapshot', payload: { tasks: [] } },
    })
  })

  it('starts with a public snapshot at the last event’s seq, then live events', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    h.tick()
    await h.registry.create(base('s1', { displayName: 'second' }))
    const it = h.stream('s1')
    const [snapshot] = await take(it, 1)
    const expectedTasks = (await h.registry.list('s1')).map(toPublicTask)
    expect(snapshot).toEqual({ seq: 4, type: 'snapshot', payload: { tasks: expectedTasks } })
    const tasks = (snapshot as unknown as { payload: { tasks: SessionTask[] } }).payload.tasks
    expect(tasks.map((t) => t.displayName)).toEqual(['Job', 'second'])
    expect(tasks[0]?.spec).toEqual(REDACTED_SPEC)
    expect(JSON.stringify(snapshot)).not.toContain('s3cr3t')
    const pending = it.next()
    const created = await h.registry.create(base('s1', { displayName: 'live' }))
    expect(await pending).toEqual({
      done: false,
      value: { seq: 5, type: 'task.created', payload: { task: toPublicTask(created) } },
    })
  })

  it('live items carry the public projection and equal the listener payloads', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const it = h.stream('s1')
    await take(it, 1)
    const t = await h.registry.create(base('s1', { spec: SECRET_SPEC, wakePolicy: 'on_activity' }))
    const updated = await h.registry.update('s1', t.id, { state: 'running' })
    await h.registry.recordMessage('s1', t.id, outbound('hello'))
    await h.registry.publishOutput('s1', t.id, { stream: 'stdout', delta: 'x' })
    const items = await take(it, seen.length)
    expect(items).toEqual(seen.map((e, i) => ({ seq: i + 1, ...e })))
    expect(items[0]?.payload).toEqual({ task: { ...t, spec: REDACTED_SPEC } })
    expect(items[1]?.payload).toEqual({ task: { ...updated, spec: REDACTED_SPEC } })
    expect(JSON.stringify(items)).not.toContain('s3cr3t')
  })

  it('seq is per session, starts at 1 and grows by 1 with every event, output included', async () => {
    const h = await setup()
    const types: SessionTaskEventType[] = []
    h.registry.subscribe('s1', (type) => types.push(type))
    const t = await h.registry.create(base('s1', { wakePolicy: 'on_activity', state: 'running' }))
    await h.registry.create(base('s2'))
    await h.registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await h.registry.create(base('s2'))
    await h.registry.recordMessage('s1', t.id, inbound('a', { inReplyTo: 'q' }))
    await h.registry.recordMessage('s1', t.id, outbound('b'))
    await h.registry.publishOutput('s1', t.id, { stream: 'stdout', delta: 'c' })
    await h.registry.requestCancel('s1', t.id)
    await h.registry.update('s1', t.id, { state: 'canceled' })
    expect(types).toHaveLength(11)
    const it = h.stream('s1', { since: 0 })
    const items = await take(it, types.length)
    expect(items.map((i) => i.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(items.map((i) => i.type)).toEqual(types)
    const it2 = h.stream('s2', { since: 0 })
    expect((await take(it2, 2)).map((i) => [i.seq, i.type])).toEqual([
      [1, 'task.created'],
      [2, 'task.created'],
    ])
  })

  it('since within the buffer replays the events after it, then live ones, without a snapshot', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    await threeEvents(h.registry)
    const it = h.stream('s1', { since: 4 })
    expect((await take(it, 2)).map((i) => [i.seq, i.type])).toEqual([
      [5, 'task.updated'],
      [6, 'task.wake'],
    ])
    const pending = it.next()
    await h.registry.create(base('s1', { displayName: 'live' }))
    const live = (await pending).value as StreamItem
    expect([live.seq, live.type]).toEqual([7, 'task.created'])
  })

  it('since equal to the latest seq gives only live events', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    const it = h.stream('s1', { since: 3 })
    const pending = it.next()
    await h.registry.create(base('s1'))
    const live = (await pending).value as StreamItem
    expect([live.seq, live.type]).toEqual([4, 'task.created'])
  })

  it('since older than the replay buffer falls back to a snapshot', async () => {
    const h = await setup({ replayBuffer: 3 })
    await threeEvents(h.registry)
    await h.registry.create(base('s1'))
    await h.registry.create(base('s1'))
    // seqs 1..5; the buffer holds 3..5
    for (const since of [0, 1]) {
      const it = h.stream('s1', { since })
      const [first] = await take(it, 1)
      expect(first?.type).toBe('snapshot')
      // Each pass adds one task (and one event) for the next.
      expect(first?.seq).toBe(5 + since)
      expect(
        (first as unknown as { payload: { tasks: SessionTask[] } }).payload.tasks,
      ).toHaveLength(3 + since)
      await h.registry.create(base('s1', { displayName: `after-${since}` }))
      const [next] = await take(it, 1)
      expect(next?.type).toBe('task.created')
      expect((next as { payload: { task: SessionTask } }).payload.task.displayName).toBe(
        `after-${since}`,
      )
    }
  })

  it('the oldest cursor the buffer can still serve replays without a snapshot', async () => {
    const h = await setup({ replayBuffer: 3 })
    await threeEvents(h.registry)
    await h.registry.create(base('s1'))
    await h.registry.create(base('s1'))
    const it = h.stream('s1', { since: 2 })
    expect((await take(it, 3)).map((i) => [i.seq, i.type])).toEqual([
      [3, 'task.wake'],
      [4, 'task.created'],
      [5, 'task.created'],
    ])
  })

  it('since ahead of the latest seq falls back to a snapshot', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    const it = h.stream('s1', { since: 99 })
    const [first] = await take(it, 1)
    expect(first).toEqual({
      seq: 3,
      type: 'snapshot',
      payload: { tasks: (await h.registry.list('s1')).map(toPublicTask) },
    })
    await h.registry.create(base('s1'))
    expect((await take(it, 1)).map((i) => i.seq)).toEqual([4])
  })

  it('delivers every event exactly once across the replay/live boundary', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    await threeEvents(h.registry)
    const it = h.stream('s1', { since: 2 })
    // Raised between stream() and the first next().
    await h.registry.create(base('s1'))
    const first = await it.next()
    // Raised while the replay is still being consumed.
    await h.registry.create(base('s1'))
    await threeEvents(h.registry)
    await h.registry.create(base('s1', { displayName: 'sentinel' }))
    const rest = await takeUntil(it, createdNamed('sentinel'))
    const seqs = [first.value?.seq, ...rest.map((i) => i.seq)]
    expect(seqs).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(rest.every((i) => i.type !== 'snapshot')).toBe(true)
  })

  it('has no gap or duplicate between a snapshot and the live events', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    const it = h.stream('s1')
    const racing = h.registry.create(base('s1', { displayName: 'racing' }))
    const [snapshot] = await take(it, 1)
    await racing
    await h.registry.create(base('s1', { displayName: 'sentinel' }))
    const rest = await takeUntil(it, createdNamed('sentinel'))
    expect(snapshot?.type).toBe('snapshot')
    const inSnapshot = (
      snapshot as unknown as { payload: { tasks: SessionTask[] } }
    ).payload.tasks.map((t) => t.displayName)
    const created = rest
      .filter((i) => i.type === 'task.created')
      .map((i) => (i.payload as { task: SessionTask }).task.displayName)
    const racingCount =
      inSnapshot.filter((n) => n === 'racing').length + created.filter((n) => n === 'racing').length
    expect(racingCount).toBe(1)
    const seqs = [snapshot?.seq, ...rest.map((i) => i.seq)]
    expect(seqs).toEqual(seqs.map((_, i) => (snapshot?.seq ?? 0) + i))
    expect(rest.at(-1)?.seq).toBe(5)
  })

  it('streams of different sessions are independent', async () => {
    const h = await setup()
    const a = h.stream('A')
    const b = h.stream('B')
    await take(a, 1)
    await take(b, 1)
    await h.registry.create(base('A'))
    await h.registry.create(base('B'))
    await h.registry.create(base('A'))
    await h.registry.create(base('B', { displayName: 'sentinel' }))
    expect((await take(a, 2)).map((i) => i.seq)).toEqual([1, 2])
    const fromB = await takeUntil(b, createdNamed('sentinel'))
    expect(fromB.map((i) => i.seq)).toEqual([1, 2])
  })

  it('snapshots and streamed payloads are deeply frozen; writes throw and change nothing', async () => {
    const h = await setup()
    const t = await h.registry.create(base('s1', { spec: { deep: { v: 1 } } }))
    const it = h.stream('s1')
    const [snapshot] = await take(it, 1)
    expectDeepFrozen(snapshot)
    const snapTask = (snapshot as unknown as { payload: { tasks: Writable<SessionTask>[] } })
      .payload.tasks[0] as Writable<SessionTask>
    expect(() => {
      snapTask.displayName = 'evil'
    }).toThrow(TypeError)
    expect(() => {
      ;(snapTask.spec as { deep: { v: number } }).deep.v = 2
    }).toThrow(TypeError)
    expect(() => snapTask.links.resourceIds.push('evil')).toThrow(TypeError)
    await h.registry.update('s1', t.id, { summary: 's' })
    const [item] = await take(it, 1)
    expectDeepFrozen(item)
    expect(() => {
      ;(item as unknown as { payload: Writable<{ task: SessionTask }> }).payload.task.state =
        'failed'
    }).toThrow(TypeError)
    const stored = await h.registry.get('s1', t.id)
    expect(stored?.displayName).toBe('Job')
    expect(stored?.spec).toEqual({ deep: { v: 1 } })
    expect(stored?.links.resourceIds).toEqual([])
    expect(stored?.state).toBe('queued')
  })

  it('return() ends the iteration at once, also while a next() is pending', async () => {
    const h = await setup()
    const it = h.stream('s1')
    await take(it, 1)
    const pending = it.next()
    expect(await it.return?.()).toEqual({ done: true, value: undefined })
    expect(await pending).toEqual({ done: true, value: undefined })
    await h.registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('return() drops queued items', async () => {
    const h = await setup()
    const it = h.stream('s1')
    await take(it, 1)
    await h.registry.create(base('s1'))
    await h.registry.create(base('s1'))
    await it.return?.()
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('break ends a for-await loop; the iterator is done afterwards', async () => {
    const h = await setup()
    const it = h.stream('s1')
    const seen: StreamItem[] = []
    for await (const item of { [Symbol.asyncIterator]: () => it }) {
      seen.push(item)
      if (item.type === 'snapshot') await h.registry.create(base('s1'))
      else break
    }
    expect(seen.map((i) => i.type)).toEqual(['snapshot', 'task.created'])
    await h.registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('an aborted signal ends the iteration, also while a next() is pending', async () => {
    const h = await setup()
    const controller = new AbortController()
    const it = h.stream('s1', { signal: controller.signal })
    await take(it, 1)
    const pending = it.next()
    controller.abort()
    expect(await pending).toEqual({ done: true, value: undefined })
    await h.registry.create(base('s1'))
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('an already aborted signal yields nothing', async () => {
    const h = await setup()
    await h.registry.create(base('s1'))
    const it = h.stream('s1', { signal: AbortSignal.abort() })
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('a consumer more than maxQueue behind ends with StreamOverflowError', async () => {
    const h = await setup()
    const it = h.stream('s1', { maxQueue: 2 })
    expect((await it.next()).value?.type).toBe('snapshot')
    for (let i = 0; i < 5; i++) await h.registry.create(base('s1', { displayName: `t${i}` }))
    const queued = await take(it, 2)
    expect(queued.map((i) => i.seq)).toEqual([1, 2])
    const error = await it.next().then(
      () => NO_ERROR,
      (e: unknown) => e,
    )
    expect(isStreamOverflowError(error), `expected StreamOverflowError, got ${String(error)}`).toBe(
      true,
    )
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  it('after deleteSession no deleted event is replayed', async () => {
    const h = await setup()
    await threeEvents(h.registry)
    await h.registry.create(base('s1'))
    await h.registry.deleteSession('s1')
    const it = h.stream('s1', { since: 0 })
    const fresh = h.registry.create(base('s1', { displayName: 'fresh' }))
    const first = await it.next()
    await fresh
    const item = first.value as StreamItem
    if (item.type === 'snapshot') {
      const names = item.payload.tasks.map((t) => t.displayName)
      expect(names.every((n) => n === 'fresh')).toBe(true)
      if (names.length === 0) await takeUntil(it, createdNamed('fresh'))
    } else {
      expect(item.type).toBe('task.created')
      expect((item.payload as { task: SessionTask }).task.displayName).toBe('fresh')
    }
  })
}
