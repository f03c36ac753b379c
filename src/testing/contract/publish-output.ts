import type { GroupContext } from './harness.js'
import { base } from './helpers.js'

/** The `publishOutput` group: unstored output events. */
export function publishOutputTests({ it, expect, setup }: GroupContext): void {
  it('emits task.output, returns true and stores nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const seen = h.record('s1')
    h.tick()
    const ok = await h.registry.publishOutput('s1', task.id, {
      stream: 'stdout',
      delta: 'line 1\n',
    })
    expect(ok).toBe(true)
    expect(seen).toEqual([
      {
        type: 'task.output',
        payload: { taskId: task.id, stream: 'stdout', delta: 'line 1\n' },
      },
    ])
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(await h.registry.listMessages('s1', task.id)).toEqual([])
  })

  it('returns false and emits nothing for an unknown task, another session or a stale attempt', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    await h.registry.update('s1', task.id, { incrementAttempt: true })
    const all = h.recordAll()
    const out = { stream: 'stdout', delta: 'x' }
    expect(await h.registry.publishOutput('s1', 'task_nope', out)).toBe(false)
    expect(await h.registry.publishOutput('s2', task.id, out)).toBe(false)
    expect(await h.registry.publishOutput('s1', task.id, { ...out, expectedAttempt: 1 })).toBe(
      false,
    )
    expect(all).toEqual([])
    expect(await h.registry.publishOutput('s1', task.id, { ...out, expectedAttempt: 2 })).toBe(true)
    expect(all.map((e) => e.type)).toEqual(['task.output'])
  })
}
