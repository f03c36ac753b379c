import type { GroupContext } from './harness.js'
import { base } from './helpers.js'

/** The `get and list` group: lookups, order and filters. */
export function getAndListTests({ it, expect, setup }: GroupContext): void {
  it('get returns undefined for an unknown task or another session’s', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1'))
    expect(await registry.get('s1', 'task_nope')).toBeUndefined()
    expect(await registry.get('s2', task.id)).toBeUndefined()
    expect(await registry.get('s1', task.id)).toStrictEqual(task)
  })

  it('list returns only the session’s own tasks', async () => {
    const { registry } = await setup()
    const a = await registry.create(base('s1', { displayName: 'A' }))
    const b = await registry.create(base('s2', { displayName: 'B' }))
    expect(await registry.list('s1')).toStrictEqual([a])
    expect(await registry.list('s2')).toStrictEqual([b])
    expect(await registry.list('s3')).toEqual([])
  })

  it('list is oldest first by createdAt, then insertion order, even when the clock goes back', async () => {
    const { registry, at } = await setup()
    const names: [string, number][] = [
      ['a', 10_000],
      ['b', 5_000],
      ['c', 10_000],
      ['d', 5_000],
      ['e', 1_000],
    ]
    for (const [displayName, ms] of names) {
      at(ms)
      await registry.create(base('s1', { displayName }))
    }
    expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(['e', 'b', 'd', 'a', 'c'])
  })

  it('list keeps insertion order for tasks created at the same instant', async () => {
    const { registry } = await setup()
    const names = ['z', 'a', 'm', 'b', 'y', 'c']
    for (const displayName of names) await registry.create(base('s1', { displayName }))
    expect((await registry.list('s1')).map((t) => t.displayName)).toEqual(names)
  })

  it('list filters by kind and by state, combined with AND', async () => {
    const { registry } = await setup()
    const a = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
    const b = await registry.create(base('s1', { kind: 'subagent', state: 'queued' }))
    const c = await registry.create(base('s1', { kind: 'monitor', state: 'running' }))
    const d = await registry.create(base('s1', { kind: 'subagent', state: 'running' }))
    await registry.create(base('s2', { kind: 'subagent', state: 'running' }))
    expect(await registry.list('s1', { kind: 'subagent' })).toStrictEqual([a, b, d])
    expect(await registry.list('s1', { state: 'running' })).toStrictEqual([a, c, d])
    expect(await registry.list('s1', { kind: 'subagent', state: 'running' })).toStrictEqual([a, d])
    expect(await registry.list('s1', { kind: 'monitor', state: 'queued' })).toEqual([])
    expect(await registry.list('s1', {})).toStrictEqual([a, b, c, d])
  })

  it('list reflects updates (state filter follows the current state)', async () => {
    const { registry } = await setup()
    const a = await registry.create(base('s1'))
    const b = await registry.create(base('s1'))
    const running = await registry.update('s1', b.id, { state: 'running' })
    expect(await registry.list('s1', { state: 'running' })).toStrictEqual([running])
    expect(await registry.list('s1', { state: 'queued' })).toStrictEqual([a])
  })
}
