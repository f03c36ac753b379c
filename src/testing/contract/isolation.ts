import { isTaskConflictError, isTaskNotFoundError } from '../../model/errors.js'
import type { GroupContext } from './harness.js'
import { base, caught, inbound, outbound } from './helpers.js'

/** The `isolation` group: sessions never see each other. */
export function isolationTests({ it, expect, setup }: GroupContext): void {
  it('a session can never read, change or be notified about another session’s task', async () => {
    const h = await setup()
    const a = await h.registry.create(base('A', { id: 'a-task', state: 'running' }))
    const m = await h.registry.recordMessage('A', a.id, outbound('secret talk'))
    const seenByB: string[] = []
    h.registry.events('B').on('*', (type) => seenByB.push(type))
    h.registry.subscribe('B', (type) => seenByB.push(type))
    const all = h.recordAll()
    h.tick()

    expect(await h.registry.get('B', a.id)).toBeUndefined()
    expect(await h.registry.list('B')).toEqual([])
    expect(await h.registry.list('B', { kind: a.kind })).toEqual([])
    expect(await h.registry.update('B', a.id, { state: 'failed' })).toBeUndefined()
    expect(await h.registry.updateWithOutcome('B', a.id, { state: 'failed' })).toBeUndefined()
    expect(await h.registry.requestCancel('B', a.id)).toBeUndefined()
    expect(await h.registry.publishOutput('B', a.id, { stream: 'o', delta: 'd' })).toBe(false)
    expect(
      isTaskNotFoundError(await caught(() => h.registry.recordMessage('B', a.id, inbound('x')))),
    ).toBe(true)
    expect(await h.registry.listMessages('B', a.id)).toEqual([])
    expect(await h.registry.listMessages('B', a.id, { afterId: m.id })).toEqual([])
    expect(
      isTaskConflictError(await caught(() => h.registry.create(base('B', { id: a.id })))),
    ).toBe(true)
    expect(await h.registry.deleteSession('B')).toBe(0)

    expect(all).toEqual([])
    expect(await h.registry.get('A', a.id)).toStrictEqual(a)
    expect(await h.registry.listMessages('A', a.id)).toStrictEqual([m])

    h.registry.events('B').on('*', (type) => seenByB.push(type))
    await h.registry.update('A', a.id, { summary: 'progress' })
    await h.registry.recordMessage('A', a.id, outbound('more'))
    await h.registry.requestCancel('A', a.id)
    expect(seenByB).toEqual([])
  })
}
