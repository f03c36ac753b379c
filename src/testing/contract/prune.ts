import type { SessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, outbound, T0 } from './helpers.js'

/** The `prune` group: deleting old terminal tasks. */
export function pruneTests({ it, expect, setup }: GroupContext): void {
  it('deletes terminal tasks of every session finished strictly before the cutoff, oldest first', async () => {
    const h = await setup()
    const finish = async (sessionId: string, name: string, ms: number) => {
      h.at(ms - 500)
      const t = await h.registry.create(base(sessionId, { displayName: name }))
      h.at(ms)
      return (await h.registry.update(sessionId, t.id, { state: 'succeeded' })) as SessionTask
    }
    const late = await finish('s1', 'late', 3000)
    const early = await finish('s2', 'early', 1000)
    const mid = await finish('s1', 'mid', 2000)
    const atCutoff = await finish('s1', 'at-cutoff', 5000)
    const all = h.recordAll()
    const pruned = await h.registry.prune({ finishedBefore: new Date(T0 + 5000) })
    expect(pruned).toStrictEqual([early, mid, late])
    expect(await h.registry.get('s1', late.id)).toBeUndefined()
    expect(await h.registry.get('s2', early.id)).toBeUndefined()
    expect(await h.registry.list('s1')).toStrictEqual([atCutoff])
    expect(await h.registry.list('s2')).toEqual([])
    expect(all).toEqual([])
  })

  it('never touches live tasks however old', async () => {
    const { registry, at } = await setup()
    at(-1_000_000)
    const queued = await registry.create(base('s1'))
    const running = await registry.create(base('s1', { state: 'running' }))
    const awaiting = await registry.create(base('s1', { state: 'running' }))
    const waiting = await registry.update('s1', awaiting.id, {
      inputRequest: { id: 'q', prompt: 'p' },
    })
    at(0)
    expect(await registry.prune({ finishedBefore: new Date(T0 + 10_000_000) })).toEqual([])
    expect(await registry.list('s1')).toStrictEqual([queued, running, waiting])
  })

  it('honours limit by pruning the oldest finishedAt first, then the oldest createdAt', async () => {
    const { registry, at } = await setup()
    for (const [name, created, finished] of [
      ['f3000', 0, 3000],
      ['f1000-late', 500, 1000],
      ['f1000-early', 100, 1000],
      ['f2000', 0, 2000],
    ] as const) {
      at(created)
      const t = await registry.create(base('s1', { displayName: name }))
      at(finished)
      await registry.update('s1', t.id, { state: 'failed' })
    }
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 10_000), limit: 3 })
    expect(pruned.map((t) => t.displayName)).toEqual(['f1000-early', 'f1000-late', 'f2000'])
    expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(['f3000'])
  })

  it('removes a pruned task’s messages and frees its caller id', async () => {
    const { registry, tick } = await setup()
    const t = await registry.create(base('s1', { id: 'job-1' }))
    await registry.recordMessage('s1', t.id, outbound('hello'))
    await registry.update('s1', t.id, { state: 'succeeded' })
    tick()
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 500) })
    expect(pruned.map((x) => x.id)).toEqual(['job-1'])
    const again = await registry.create(base('s2', { id: 'job-1', displayName: 'again' }))
    expect(again.displayName).toBe('again')
    expect(await registry.listMessages('s2', 'job-1')).toEqual([])
  })

  it('prunes at most 100 tasks by default', async () => {
    const { registry } = await setup()
    for (let i = 0; i < 105; i++) {
      await registry.create(base(`s${i % 2}`, { state: 'canceled' }))
    }
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
    expect(pruned).toHaveLength(100)
    const left = (await registry.list('s0')).length + (await registry.list('s1')).length
    expect(left).toBe(5)
  })
}
