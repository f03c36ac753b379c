import type { SessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, outbound, T0 } from './helpers.js'

/** The `deleteSession` group: removing a session and its listeners. */
export function deleteSessionTests({ it, expect, setup }: GroupContext): void {
  it('returns the number of tasks removed and leaves no task or message behind', async () => {
    const { registry } = await setup()
    const a = await registry.create(base('s1', { id: 'job-a' }))
    const b = await registry.create(base('s1', { state: 'succeeded' }))
    await registry.recordMessage('s1', a.id, outbound('hi'))
    await registry.update('s1', a.id, { state: 'running', heartbeatAt: '2020-01-01T00:00:00Z' })
    expect(await registry.deleteSession('s1')).toBe(2)
    expect(await registry.list('s1')).toEqual([])
    expect(await registry.get('s1', a.id)).toBeUndefined()
    expect(await registry.get('s1', b.id)).toBeUndefined()
    expect(await registry.listMessages('s1', a.id)).toEqual([])
    expect(await registry.listStale({ heartbeatBefore: new Date(T0) })).toEqual([])
    expect(await registry.prune({ finishedBefore: new Date(T0 + 1000) })).toEqual([])
    await registry.create(base('s1', { id: 'job-a' }))
    expect(await registry.listMessages('s1', 'job-a')).toEqual([])
    expect(await registry.deleteSession('unknown')).toBe(0)
  })

  it('frees the session’s caller ids for other sessions', async () => {
    const { registry } = await setup()
    await registry.create(base('s1', { id: 'job-x' }))
    await registry.deleteSession('s1')
    const moved = await registry.create(base('s2', { id: 'job-x' }))
    expect(moved.sessionId).toBe('s2')
  })

  it('emits nothing and leaves other sessions untouched', async () => {
    const h = await setup()
    await h.registry.create(base('s1'))
    const keep = await h.registry.create(base('s2'))
    const msg = await h.registry.recordMessage('s2', keep.id, outbound('kept'))
    const s2Seen: string[] = []
    h.registry.events('s2').on('*', (type) => s2Seen.push(type))
    const all = h.recordAll()
    expect(await h.registry.deleteSession('s1')).toBe(1)
    expect(all).toEqual([])
    expect(await h.registry.list('s2')).toStrictEqual([keep])
    expect(await h.registry.listMessages('s2', keep.id)).toStrictEqual([msg])
    await h.registry.update('s2', keep.id, { state: 'running' })
    expect(s2Seen).toEqual(['task.updated'])
  })

  it('removes the session’s listeners; subscribeAll listeners stay', async () => {
    const { registry } = await setup()
    const seen: string[] = []
    registry.events('s1').on('task.created', () => seen.push('typed'))
    registry.events('s1').on('*', () => seen.push('wildcard'))
    registry.subscribe('s1', () => seen.push('subscribe'))
    registry.subscribeAll((sid) => seen.push(`all:${sid}`))
    await registry.create(base('s1'))
    expect(seen.slice().sort()).toEqual(['all:s1', 'subscribe', 'typed', 'wildcard'])
    seen.length = 0
    await registry.deleteSession('s1')
    const fresh: string[] = []
    registry.events('s1').on('task.created', (p) => fresh.push(p.task.displayName))
    await registry.create(base('s1', { displayName: 'after' }))
    expect(seen).toEqual(['all:s1'])
    expect(fresh).toEqual(['after'])
  })

  it('a since from before deleteSession gets a snapshot of the new session, never its middle', async () => {
    const h = await setup()
    const old = await h.registry.create(base('s1', { displayName: 'old' }))
    await h.registry.update('s1', old.id, { state: 'running' })
    await h.registry.update('s1', old.id, { summary: 'old work' })
    await h.registry.deleteSession('s1')
    const fresh = await h.registry.create(base('s1', { displayName: 'fresh' }))
    await h.registry.update('s1', fresh.id, { state: 'running' })
    await h.registry.update('s1', fresh.id, { summary: 'new work' })
    for (const since of [1, 2, 3]) {
      const it = h.stream('s1', { since })
      const first = (await it.next()).value
      expect(first?.type, `since ${since}`).toBe('snapshot')
      const tasks = (first as { payload: { tasks: SessionTask[] } }).payload.tasks
      expect(tasks.map((t) => t.displayName)).toEqual(['fresh'])
      // And it goes on live from there, without a gap.
      await h.registry.update('s1', fresh.id, { stateDetail: `after ${since}` })
      const next = (await it.next()).value
      expect(next?.type).toBe('task.updated')
      expect(next?.seq).toBe((first?.seq ?? 0) + 1)
      await it.return?.()
    }
  })
}
