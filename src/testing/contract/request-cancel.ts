import type { GroupContext } from './harness.js'
import { base } from './helpers.js'

/** The `requestCancel` group: the one-time cancel stamp. */
export function requestCancelTests({ it, expect, setup }: GroupContext): void {
  it('the first call stamps cancelRequestedAt and updatedAt, keeps the state, emits task.updated', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const all = h.recordAll()
    const at = h.tick()
    const result = await h.registry.requestCancel('s1', task.id)
    expect(result).toStrictEqual({ ...task, cancelRequestedAt: at, updatedAt: at })
    expect(await h.registry.get('s1', task.id)).toStrictEqual(result)
    expect(all).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: result } }])
  })

  it('later calls return the record unchanged and emit nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    h.tick()
    const first = await h.registry.requestCancel('s1', task.id)
    const all = h.recordAll()
    h.tick()
    expect(await h.registry.requestCancel('s1', task.id)).toStrictEqual(first)
    h.tick()
    expect(await h.registry.requestCancel('s1', task.id)).toStrictEqual(first)
    expect(await h.registry.get('s1', task.id)).toStrictEqual(first)
    expect(all).toEqual([])
  })

  it('works on a terminal task and keeps its state and finishedAt', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const done = await h.registry.update('s1', task.id, { state: 'failed' })
    const all = h.recordAll()
    const at = h.tick()
    const result = await h.registry.requestCancel('s1', task.id)
    expect(result).toStrictEqual({ ...done, cancelRequestedAt: at, updatedAt: at })
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
  })

  it('does not go through the fence or the lifecycle rules', async () => {
    const { registry, tick } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    await registry.update('s1', task.id, { incrementAttempt: true })
    await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
    const at = tick()
    const result = await registry.requestCancel('s1', task.id)
    expect(result?.cancelRequestedAt).toBe(at)
    expect(result?.state).toBe('awaiting_input')
    expect(result?.inputRequest).toEqual({ id: 'q', prompt: 'p' })
    expect(result?.attempt).toBe(2)
  })

  it('returns undefined for an unknown task or another session’s and stamps nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    h.tick()
    expect(await h.registry.requestCancel('s1', 'task_missing')).toBeUndefined()
    expect(await h.registry.requestCancel('s2', task.id)).toBeUndefined()
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(all).toEqual([])
  })

  it('concurrent calls stamp once and emit once', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const all = h.recordAll()
    const at = h.tick()
    const results = await Promise.all(
      Array.from({ length: 5 }, () => h.registry.requestCancel('s1', task.id)),
    )
    for (const r of results) expect(r?.cancelRequestedAt).toBe(at)
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
  })
}
