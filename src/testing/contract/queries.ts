import type { SessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, failure, inbound, T0 } from './helpers.js'

/** SPEC 12.3: `find`, `query` with stable cursors across sessions, and `delete` with `task.deleted`. */
export function queriesTests({ it, expect, setup }: GroupContext): void {
  it('find reads a task by id in any session, or undefined', async () => {
    const h = await setup()
    const a = await h.registry.create(base('s1'))
    const b = await h.registry.create(base('s2', { id: 'known-id' }))
    expect(await h.registry.find(a.id)).toStrictEqual(a)
    expect(await h.registry.find('known-id')).toStrictEqual(b)
    expect(await h.registry.find('task_nope')).toBeUndefined()
    expect(await failure(() => h.registry.find(''))).toMatch(/taskId: must not be empty/)
  })

  it('query lists every session oldest first, and filters by sessions, kind, state and updatedAfter', async () => {
    const h = await setup()
    const made: SessionTask[] = []
    for (const [i, sessionId] of ['s1', 's2', 's3', 's1'].entries()) {
      h.at(i * 1000)
      made.push(await h.registry.create(base(sessionId, { kind: i % 2 === 0 ? 'even' : 'odd' })))
    }
    h.at(10_000)
    const running = await h.registry.update('s1', made[0]?.id as string, { state: 'running' })
    const all = (await h.registry.query()).tasks
    expect(all.map((t) => t.id)).toEqual(made.map((t) => t.id))
    expect(all[0]).toStrictEqual(running)
    const ids = (tasks: readonly SessionTask[]) => tasks.map((t) => t.id)
    expect(ids((await h.registry.query({ sessionIds: ['s1', 's3'] })).tasks)).toEqual(
      ids([made[0], made[2], made[3]] as SessionTask[]),
    )
    expect(ids((await h.registry.query({ kind: 'odd' })).tasks)).toEqual(
      ids([made[1], made[3]] as SessionTask[]),
    )
    expect(ids((await h.registry.query({ state: 'running' })).tasks)).toEqual([made[0]?.id])
    const after = new Date(T0 + 1500)
    expect(ids((await h.registry.query({ updatedAfter: after })).tasks)).toEqual(
      ids([made[0], made[2], made[3]] as SessionTask[]),
    )
    expect(
      ids((await h.registry.query({ updatedAfter: after.toISOString(), kind: 'even' })).tasks),
    ).toEqual(ids([made[0], made[2]] as SessionTask[]))
    expect((await h.registry.query({ sessionIds: [] })).tasks).toEqual([])
  })

  it('query pages with a cursor that survives deleting the task it ended on, and ends without one', async () => {
    const h = await setup()
    const made: SessionTask[] = []
    // Equal creation times: insertion order decides.
    for (let i = 0; i < 7; i++) made.push(await h.registry.create(base(`s${i % 3}`)))
    const first = await h.registry.query({ limit: 3 })
    expect(first.tasks.map((t) => t.id)).toEqual(made.slice(0, 3).map((t) => t.id))
    expect(typeof first.nextCursor).toBe('string')
    const ended = first.tasks[2] as SessionTask
    expect(await h.registry.delete(ended.sessionId, ended.id)).toBe(true)
    const second = await h.registry.query({ limit: 3, cursor: first.nextCursor as string })
    expect(second.tasks.map((t) => t.id)).toEqual(made.slice(3, 6).map((t) => t.id))
    const last = await h.registry.query({ limit: 3, cursor: second.nextCursor as string })
    expect(last.tasks.map((t) => t.id)).toEqual([made[6]?.id])
    expect(last.nextCursor).toBeUndefined()
    const exact = await h.registry.query({ limit: 7 })
    expect(exact.tasks).toHaveLength(6)
    expect(exact.nextCursor).toBeUndefined()
  })

  it('query rejects a cursor it did not make and bad options, naming the field', async () => {
    const h = await setup()
    expect(await failure(() => h.registry.query({ cursor: 'page-2' }))).toMatch(
      /cursor: is not a cursor this registry returned/,
    )
    expect(await failure(() => h.registry.query({ limit: 0 }))).toMatch(/limit/)
    expect(await failure(() => h.registry.query({ limit: 1001 }))).toMatch(
      /limit: must be at most 1000/,
    )
    expect(await failure(() => h.registry.query({ state: 'done' as never }))).toMatch(/state/)
    expect(await failure(() => h.registry.query({ updatedAfter: 'yesterday' }))).toMatch(
      /updatedAfter/,
    )
    expect(await failure(() => h.registry.query({ extra: 1 } as never))).toMatch(/extra/)
  })

  it('delete removes one task with its messages and emits task.deleted', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const other = await h.registry.create(base('s1'))
    await h.registry.recordMessage('s1', task.id, inbound('hi', { id: 'm-keep' }))
    const all = h.recordAll()
    expect(await h.registry.delete('s2', task.id)).toBe(false)
    expect(await h.registry.delete('s1', task.id)).toBe(true)
    expect(all).toEqual([{ sessionId: 's1', type: 'task.deleted', payload: { taskId: task.id } }])
    expect(await h.registry.get('s1', task.id)).toBeUndefined()
    expect(await h.registry.find(task.id)).toBeUndefined()
    expect(await h.registry.listMessages('s1', task.id)).toEqual([])
    expect(await h.registry.list('s1')).toStrictEqual([other])
    expect(await h.registry.delete('s1', task.id)).toBe(false)
    expect(all).toHaveLength(1)
    // Its caller-chosen message id is free again.
    const next = await h.registry.recordMessage('s1', other.id, inbound('x', { id: 'm-keep' }))
    expect(next.taskId).toBe(other.id)
  })

  it('a stream sees task.deleted, and a replay from before the deleted task falls back to a snapshot', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const stays = await h.registry.create(base('s1'))
    const stream = h.registry.stream('s1')[Symbol.asyncIterator]()
    const snapshot = await stream.next()
    expect(snapshot.value).toMatchObject({ type: 'snapshot' })
    const seq = (snapshot.value as { seq: number }).seq
    await h.registry.delete('s1', task.id)
    const deleted = await stream.next()
    expect(deleted.value).toMatchObject({ type: 'task.deleted', payload: { taskId: task.id } })
    await stream.return?.()
    const replay = h.registry.stream('s1', { since: 0 })[Symbol.asyncIterator]()
    const first = await replay.next()
    expect(first.value).toMatchObject({ type: 'snapshot', payload: { tasks: [stays] } })
    await replay.return?.()
    const fromSnapshot = h.registry.stream('s1', { since: seq })[Symbol.asyncIterator]()
    expect((await fromSnapshot.next()).value).toMatchObject({ type: 'task.deleted' })
    await fromSnapshot.return?.()
  })

  it('query takes a repeated session id once, and an updatedAfter past year 9999 matches nothing', async () => {
    const h = await setup()
    const t = await h.registry.create(base('s1'))
    expect((await h.registry.query({ sessionIds: ['s1', 's1'] })).tasks).toStrictEqual([t])
    expect((await h.registry.query({ updatedAfter: new Date(8.64e15) })).tasks).toEqual([])
    const huge = `${'9'.repeat(20)}~2030-01-01T00:00:00.000Z`
    expect(await failure(() => h.registry.query({ cursor: huge }))).toMatch(/cursor/)
  })

  it('deleting the last task of a session keeps its numbering: the next event follows in order', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const t = await h.registry.create(base('s1'))
    await h.registry.delete('s1', t.id)
    const next = await h.registry.create(base('s1'))
    expect(seen.map((e) => e.type)).toEqual(['task.created', 'task.deleted', 'task.created'])
    const replay = h.registry.stream('s1', { since: 2 })[Symbol.asyncIterator]()
    expect((await replay.next()).value).toMatchObject({
      seq: 3,
      type: 'task.created',
      payload: { task: next },
    })
    await replay.return?.()
  })

  it('query returns 100 tasks a page when no limit is given', async () => {
    const h = await setup()
    for (let i = 0; i < 101; i++) await h.registry.create(base(`s${i % 4}`))
    const first = await h.registry.query()
    expect(first.tasks).toHaveLength(100)
    const rest = await h.registry.query({ cursor: first.nextCursor as string })
    expect(rest.tasks).toHaveLength(1)
    expect(rest.nextCursor).toBeUndefined()
  })
}
