import type { GroupContext } from './harness.js'
import { base } from './helpers.js'

/** The `updateWithOutcome` group: whether an update applied and changed the record. */
export function updateWithOutcomeTests({ it, expect, setup }: GroupContext): void {
  it('returns undefined for an unknown task or another session’s', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    expect(await h.registry.updateWithOutcome('s1', 'task_nope', { summary: 'x' })).toBe(undefined)
    expect(await h.registry.updateWithOutcome('s2', task.id, { summary: 'x' })).toBe(undefined)
    expect(all).toEqual([])
  })

  it('a real change is applied and changed, stored and emitted', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    const at = h.tick()
    const result = await h.registry.updateWithOutcome('s1', task.id, { state: 'running' })
    expect(result).toStrictEqual({
      task: { ...task, state: 'running', stateChangedAt: at, startedAt: at, updatedAt: at },
      applied: true,
      changed: true,
    })
    expect(await h.registry.get('s1', task.id)).toStrictEqual(result?.task)
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
  })

  it('a no-op is applied but not changed, and emits nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.updateWithOutcome('s1', task.id, {
      state: 'running',
      expectedAttempt: 1,
    })
    expect(result).toStrictEqual({ task, applied: true, changed: false })
    expect(all).toEqual([])
  })

  it('a fenced or terminal-dropped update is not applied and emits nothing', async () => {
    const h = await setup()
    const live = await h.registry.create(base('s1', { state: 'running' }))
    const done = await h.registry.create(base('s1', { state: 'succeeded' }))
    const all = h.recordAll()
    h.tick()
    expect(
      await h.registry.updateWithOutcome('s1', live.id, {
        state: 'failed',
        expectedAttempt: 3,
      }),
    ).toStrictEqual({ task: live, applied: false, changed: false })
    expect(
      await h.registry.updateWithOutcome('s1', done.id, { state: 'running', summary: 'x' }),
    ).toStrictEqual({ task: done, applied: false, changed: false })
    expect(all).toEqual([])
  })

  it('expectedState is a compare-and-set: a mismatch is not applied and emits nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    h.tick()
    const miss = await h.registry.updateWithOutcome('s1', task.id, {
      expectedState: 'running',
      state: 'failed',
    })
    expect(miss).toStrictEqual({ task, applied: false, changed: false })
    expect(all).toEqual([])
    const hit = await h.registry.updateWithOutcome('s1', task.id, {
      expectedState: 'queued',
      state: 'running',
    })
    expect(hit?.applied).toBe(true)
    expect(hit?.task.state).toBe('running')
  })

  it('incrementAttempt on a finished task is not applied at all (rule 2b)', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'succeeded' }))
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.updateWithOutcome('s1', task.id, {
      incrementAttempt: true,
      summary: 'late',
      expectedAttempt: 1,
    })
    expect(result).toStrictEqual({ task, applied: false, changed: false })
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(all).toEqual([])
  })
}
