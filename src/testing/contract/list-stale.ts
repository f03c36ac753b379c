import type { GroupContext } from './harness.js'
import { base, T0 } from './helpers.js'

/** The `listStale` group: live tasks with an old heartbeat, across sessions. */
export function listStaleTests({ it, expect, setup }: GroupContext): void {
  const hb = (ms: number) => new Date(T0 + ms).toISOString()

  it('returns queued and running tasks of every session with a heartbeat strictly before the cutoff', async () => {
    const { registry } = await setup()
    const mk = async (sessionId: string, name: string, heartbeat: number | undefined) => {
      const t = await registry.create(base(sessionId, { displayName: name, state: 'running' }))
      if (heartbeat !== undefined)
        await registry.update(sessionId, t.id, { heartbeatAt: hb(heartbeat) })
      return t
    }
    const queued = await registry.create(base('s1', { displayName: 'queued' }))
    await registry.update('s1', queued.id, { heartbeatAt: hb(-3000) })
    await mk('s1', 'running-old', -2000)
    await mk('s2', 'other-session', -1000)
    await mk('s1', 'at-cutoff', 0)
    await mk('s1', 'fresh', 1000)
    await mk('s1', 'no-heartbeat', undefined)
    const awaiting = await mk('s1', 'awaiting', -5000)
    await registry.update('s1', awaiting.id, { inputRequest: { id: 'q', prompt: 'p' } })
    for (const state of ['succeeded', 'failed', 'canceled'] as const) {
      const t = await mk('s1', state, -5000)
      await registry.update('s1', t.id, { state })
    }
    const stale = await registry.listStale({ heartbeatBefore: new Date(T0) })
    expect(stale.map((t) => t.displayName)).toEqual(['queued', 'running-old', 'other-session'])
    expect(stale[0]).toStrictEqual(await registry.get('s1', queued.id))
  })

  it('orders by heartbeatAt, then createdAt, and honours limit', async () => {
    const { registry, at } = await setup()
    const mk = async (sessionId: string, name: string, created: number, heartbeat: number) => {
      at(created)
      const t = await registry.create(base(sessionId, { displayName: name, state: 'running' }))
      await registry.update(sessionId, t.id, { heartbeatAt: hb(heartbeat) })
    }
    await mk('s1', 'hb2-late', 9000, 2000)
    await mk('s2', 'hb2-early', 1000, 2000)
    await mk('s1', 'hb1', 5000, 1000)
    await mk('s3', 'hb3', 500, 3000)
    const cutoff = new Date(T0 + 100_000)
    const names = (await registry.listStale({ heartbeatBefore: cutoff })).map((t) => t.displayName)
    expect(names).toEqual(['hb1', 'hb2-early', 'hb2-late', 'hb3'])
    const two = await registry.listStale({ heartbeatBefore: cutoff, limit: 2 })
    expect(two.map((t) => t.displayName)).toEqual(['hb1', 'hb2-early'])
  })

  it('returns at most 100 tasks by default, the oldest heartbeats', async () => {
    const { registry } = await setup()
    for (let i = 0; i < 105; i++) {
      const sid = `s${i % 3}`
      const t = await registry.create(base(sid, { displayName: `t${i}`, state: 'running' }))
      await registry.update(sid, t.id, { heartbeatAt: hb(-200_000 + i * 10) })
    }
    const stale = await registry.listStale({ heartbeatBefore: new Date(T0) })
    expect(stale).toHaveLength(100)
    expect(stale[0]?.displayName).toBe('t0')
    expect(stale[99]?.displayName).toBe('t99')
  })

  it('changes nothing and emits nothing', async () => {
    const h = await setup()
    const t = await h.registry.create(base('s1', { state: 'running' }))
    const beat = await h.registry.update('s1', t.id, { heartbeatAt: hb(-1000) })
    const all = h.recordAll()
    await h.registry.listStale({ heartbeatBefore: new Date(T0) })
    expect(all).toEqual([])
    expect(await h.registry.get('s1', t.id)).toStrictEqual(beat)
  })
}
