import type { SessionTask, SessionTaskUpdate } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base } from './helpers.js'

/** The `update` group: the lifecycle rules, no-ops, merges and fences. */
export function updateTests({ it, expect, setup }: GroupContext): void {
  it('returns undefined and emits nothing for an unknown task', async () => {
    const h = await setup()
    await h.registry.create(base('s1'))
    const all = h.recordAll()
    expect(await h.registry.update('s1', 'task_missing', { state: 'running' })).toBeUndefined()
    expect(all).toEqual([])
  })

  it('returns undefined and leaves the task alone when another session updates it', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.update('s2', task.id, { state: 'running', summary: 'x' })
    expect(result).toBeUndefined()
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(all).toEqual([])
  })

  it('returns and stores the resulting record and emits one task.updated with it', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    const at = h.tick()
    const updated = await h.registry.update('s1', task.id, {
      state: 'running',
      progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
      workerId: 'w1',
      heartbeatAt: at,
    })
    expect(updated).toStrictEqual({
      ...task,
      state: 'running',
      stateChangedAt: at,
      startedAt: at,
      progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
      workerId: 'w1',
      heartbeatAt: at,
      updatedAt: at,
    })
    expect(await h.registry.get('s1', task.id)).toStrictEqual(updated)
    expect(all).toEqual([{ sessionId: 's1', type: 'task.updated', payload: { task: updated } }])
  })

  it('a fenced update is dropped whole: unchanged record returned, nothing stored or emitted', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.update('s1', task.id, {
      state: 'running',
      summary: 'late',
      expectedAttempt: 2,
    })
    expect(result).toStrictEqual(task)
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(all).toEqual([])
  })

  it('a terminal task asked for another state drops the whole update, content included', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const done = await h.registry.update('s1', task.id, { state: 'succeeded' })
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.update('s1', task.id, {
      state: 'running',
      summary: 'ignored',
      appendArtifact: { name: 'x', type: 'file' },
    })
    expect(result).toStrictEqual(done)
    expect(await h.registry.get('s1', task.id)).toStrictEqual(done)
    expect(all).toEqual([])
  })

  it('a terminal task accepts content with the same terminal state or no state', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const done = (await h.registry.update('s1', task.id, { state: 'failed' })) as SessionTask
    const all = h.recordAll()
    const at1 = h.tick()
    const enriched = await h.registry.update('s1', task.id, {
      state: 'failed',
      summary: 'why',
    })
    expect(enriched).toStrictEqual({ ...done, summary: 'why', updatedAt: at1 })
    const at2 = h.tick()
    const more = await h.registry.update('s1', task.id, { resultPath: '/r.json' })
    expect(more).toStrictEqual({
      ...done,
      summary: 'why',
      resultPath: '/r.json',
      updatedAt: at2,
    })
    expect(more?.finishedAt).toBe(done.finishedAt)
    expect(all.map((e) => e.type)).toEqual(['task.updated', 'task.updated'])
  })

  const noOps: [string, SessionTaskUpdate][] = [
    ['an empty update', {}],
    ['the current state', { state: 'running' }],
    ['the same stateDetail', { stateDetail: 'working' }],
    ['the same progress', { progress: { current: 1, steps: [{ title: 'a', status: 'done' }] } }],
    ['an already present resource id', { links: { resourceIds: ['r1'] } }],
    ['the same childSessionId', { links: { childSessionId: 'child' } }],
    ['the same workerId', { workerId: 'w1' }],
    ['the same artifacts', { artifacts: [{ name: 'a', type: 'file', path: '/a' }] }],
    ['the same heartbeat in another ISO spelling', { heartbeatAt: '2025-12-31T00:00:00Z' }],
    ['a matching fence and nothing else', { expectedAttempt: 1 }],
  ]
  for (const [title, update] of noOps) {
    it(`a no-op update (${title}) stores nothing, keeps updatedAt and emits nothing`, async () => {
      const h = await setup()
      const task = await h.registry.create(base('s1', { state: 'running' }))
      h.tick()
      const prepared = await h.registry.update('s1', task.id, {
        stateDetail: 'working',
        progress: { current: 1, steps: [{ title: 'a', status: 'done' }] },
        links: { resourceIds: ['r1'], childSessionId: 'child' },
        workerId: 'w1',
        artifacts: [{ name: 'a', type: 'file', path: '/a' }],
        heartbeatAt: '2025-12-31T00:00:00.000Z',
      })
      const all = h.recordAll()
      h.tick(60_000)
      const result = await h.registry.update('s1', task.id, update)
      expect(result).toStrictEqual(prepared)
      expect(await h.registry.get('s1', task.id)).toStrictEqual(prepared)
      expect(all).toEqual([])
    })
  }

  it('stores heartbeatAt in Date#toISOString form', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    const a = await registry.update('s1', task.id, { heartbeatAt: '2026-01-01T00:00:05Z' })
    expect(a?.heartbeatAt).toBe('2026-01-01T00:00:05.000Z')
    const b = await registry.update('s1', task.id, { heartbeatAt: '2026-01-01T00:00:06.5Z' })
    expect(b?.heartbeatAt).toBe('2026-01-01T00:00:06.500Z')
    expect((await registry.get('s1', task.id))?.heartbeatAt).toBe('2026-01-01T00:00:06.500Z')
  })

  it('an input request forces awaiting_input over the asked state and replaces an earlier one', async () => {
    const { registry, tick } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    tick()
    const first = await registry.update('s1', task.id, {
      state: 'succeeded',
      inputRequest: { id: 'q1', prompt: 'Which branch?', expected: { choices: ['a', 'b'] } },
    })
    expect(first?.state).toBe('awaiting_input')
    expect(first?.inputRequest).toEqual({
      id: 'q1',
      prompt: 'Which branch?',
      expected: { choices: ['a', 'b'] },
    })
    expect(Object.hasOwn(first ?? {}, 'finishedAt')).toBe(false)
    tick()
    const second = await registry.update('s1', task.id, {
      inputRequest: { id: 'q2', prompt: 'Sure?' },
    })
    expect(second?.inputRequest).toEqual({ id: 'q2', prompt: 'Sure?' })
    expect(second?.state).toBe('awaiting_input')
    tick()
    const resumed = await registry.update('s1', task.id, { state: 'running' })
    expect(resumed?.state).toBe('running')
    expect(Object.hasOwn(resumed ?? {}, 'inputRequest')).toBe(false)
    expect(await registry.get('s1', task.id)).toStrictEqual(resumed)
  })

  it('an input request on a terminal task is ignored', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const done = await h.registry.update('s1', task.id, { state: 'succeeded' })
    const all = h.recordAll()
    h.tick()
    const result = await h.registry.update('s1', task.id, {
      inputRequest: { id: 'q', prompt: 'p' },
    })
    expect(result).toStrictEqual(done)
    const withSummary = await h.registry.update('s1', task.id, {
      inputRequest: { id: 'q', prompt: 'p' },
      summary: 'kept',
    })
    expect(withSummary?.state).toBe('succeeded')
    expect(withSummary?.summary).toBe('kept')
    expect(Object.hasOwn(withSummary ?? {}, 'inputRequest')).toBe(false)
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
  })

  it('startedAt is stamped once when leaving queued and finishedAt once on finishing', async () => {
    const { registry, tick } = await setup()
    const task = await registry.create(base('s1'))
    expect(Object.hasOwn(task, 'startedAt')).toBe(false)
    const started = tick()
    await registry.update('s1', task.id, { state: 'running' })
    tick()
    await registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } })
    tick()
    await registry.update('s1', task.id, { state: 'running' })
    const finished = tick()
    await registry.update('s1', task.id, { state: 'succeeded' })
    tick()
    const after = await registry.update('s1', task.id, { state: 'succeeded', summary: 's' })
    expect(after?.startedAt).toBe(started)
    expect(after?.finishedAt).toBe(finished)
    const direct = await registry.create(base('s1'))
    const at = tick()
    const done = await registry.update('s1', direct.id, { state: 'canceled' })
    expect(done?.startedAt).toBe(at)
    expect(done?.finishedAt).toBe(at)
  })

  it('incrementAttempt bumps the attempt and moves the fence', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    const bumped = await registry.update('s1', task.id, {
      incrementAttempt: true,
      expectedAttempt: 1,
      workerId: 'w2',
    })
    expect(bumped?.attempt).toBe(2)
    expect(bumped?.workerId).toBe('w2')
    const stale = await registry.update('s1', task.id, { summary: 'old', expectedAttempt: 1 })
    expect(stale).toStrictEqual(bumped)
    const fresh = await registry.update('s1', task.id, { summary: 'new', expectedAttempt: 2 })
    expect(fresh?.summary).toBe('new')
    expect(fresh?.attempt).toBe(2)
  })

  it('artifacts replaces the list ([] clears) and appendArtifact appends after it', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    const a = { name: 'a', type: 'file', path: '/a' }
    const b = { name: 'b', type: 'url', url: 'https://b' }
    const c = { name: 'c', type: 'pr' }
    expect((await registry.update('s1', task.id, { appendArtifact: a }))?.artifacts).toEqual([a])
    expect((await registry.update('s1', task.id, { appendArtifact: b }))?.artifacts).toEqual([a, b])
    const replaced = await registry.update('s1', task.id, { artifacts: [c], appendArtifact: a })
    expect(replaced?.artifacts).toEqual([c, a])
    expect((await registry.update('s1', task.id, { artifacts: [] }))?.artifacts).toEqual([])
    expect((await registry.get('s1', task.id))?.artifacts).toEqual([])
  })

  it('links merge: ids overwrite only when given, resource ids append without duplicates', async () => {
    const { registry } = await setup()
    const task = await registry.create(
      base('s1', { links: { childSessionId: 'c1', resourceIds: ['r1'] } }),
    )
    const a = await registry.update('s1', task.id, { links: { remoteTaskId: 'x1' } })
    expect(a?.links).toEqual({ childSessionId: 'c1', remoteTaskId: 'x1', resourceIds: ['r1'] })
    const b = await registry.update('s1', task.id, {
      links: { childSessionId: 'c2', resourceIds: ['r2', 'r1', 'r3', 'r2'] },
    })
    expect(b?.links).toEqual({
      childSessionId: 'c2',
      remoteTaskId: 'x1',
      resourceIds: ['r1', 'r2', 'r3'],
    })
    expect((await registry.get('s1', task.id))?.links).toEqual(b?.links)
  })

  it('text fields are overwritten but never cleared by omission', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    await registry.update('s1', task.id, {
      stateDetail: 'd',
      summary: 's',
      resultPath: '/p',
      error: { kind: 'k', message: 'm' },
    })
    const other = await registry.update('s1', task.id, { progress: { current: 1 } })
    expect(other).toMatchObject({
      stateDetail: 'd',
      summary: 's',
      resultPath: '/p',
      error: { kind: 'k', message: 'm' },
    })
    const emptied = await registry.update('s1', task.id, { summary: '', stateDetail: '' })
    expect(emptied?.summary).toBe('')
    expect(emptied?.stateDetail).toBe('')
    expect((await registry.get('s1', task.id))?.summary).toBe('')
  })

  it('concurrent appendArtifact updates lose nothing', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        registry.update('s1', task.id, { appendArtifact: { name: `a${i}`, type: 'file' } }),
      ),
    )
    const names = (await registry.get('s1', task.id))?.artifacts.map((a) => a.name)
    expect(names?.slice().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`).sort())
  })

  it('concurrent resource id merges lose nothing', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1'))
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        registry.update('s1', task.id, { links: { resourceIds: [`r${i}`, 'shared'] } }),
      ),
    )
    const ids = (await registry.get('s1', task.id))?.links.resourceIds ?? []
    expect(ids.slice().sort()).toEqual(
      [...Array.from({ length: 10 }, (_, i) => `r${i}`), 'shared'].sort(),
    )
  })

  it('concurrent fenced updates: exactly one wins the fence', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const all = h.recordAll()
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        h.registry.updateWithOutcome('s1', task.id, {
          expectedAttempt: 1,
          incrementAttempt: true,
          workerId: `reaper-${i}`,
        }),
      ),
    )
    expect(results.filter((r) => r?.applied === true)).toHaveLength(1)
    const stored = await h.registry.get('s1', task.id)
    expect(stored?.attempt).toBe(2)
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
  })
}
