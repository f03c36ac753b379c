import { isTaskConflictError } from '../../model/errors.js'
import type { SessionTask } from '../../model/schemas.js'
import { toPublicTask } from '../../rules/projection.js'
import type { GroupContext } from './harness.js'
import { base, caught, TASK_ID } from './helpers.js'

/** The `create` group: ids, defaults, idempotent caller ids and conflicts. */
export function createTests({ it, expect, setup, expectNoEmptyKeys }: GroupContext): void {
  it('generates a task_ id of 21 nanoid characters and fills the record defaults', async () => {
    const { registry, iso } = await setup()
    const task = await registry.create(base('s1'))
    expect(task.id).toMatch(TASK_ID)
    expect(task).toStrictEqual({
      id: task.id,
      sessionId: 's1',
      kind: 'background_tool',
      displayName: 'Job',
      spec: null,
      state: 'queued',
      stateChangedAt: iso(),
      artifacts: [],
      attempt: 1,
      links: { resourceIds: [] },
      wakePolicy: 'silent',
      createdAt: iso(),
      updatedAt: iso(),
    })
    expectNoEmptyKeys(task)
    const stored = await registry.get('s1', task.id)
    expect(stored).toStrictEqual(task)
  })

  it('gives every create without an id a distinct id', async () => {
    const { registry } = await setup()
    const ids = new Set<string>()
    for (let i = 0; i < 20; i++) ids.add((await registry.create(base('s1'))).id)
    expect(ids.size).toBe(20)
    expect(await registry.list('s1')).toHaveLength(20)
  })

  it('stores every given field, removing duplicate resource ids', async () => {
    const { registry, iso } = await setup()
    const task = await registry.create({
      sessionId: 's1',
      id: 'job-1',
      kind: 'subagent',
      displayName: 'Research',
      spec: { prompt: 'go', n: [1, 2, { deep: true }] },
      state: 'running',
      links: { childSessionId: 'child', remoteTaskId: 'r-1', resourceIds: ['a', 'b', 'a'] },
      wakePolicy: 'on_activity',
      rootSessionId: 'root',
    })
    expect(task).toStrictEqual({
      id: 'job-1',
      sessionId: 's1',
      rootSessionId: 'root',
      kind: 'subagent',
      displayName: 'Research',
      spec: { prompt: 'go', n: [1, 2, { deep: true }] },
      state: 'running',
      stateChangedAt: iso(),
      artifacts: [],
      attempt: 1,
      links: { childSessionId: 'child', remoteTaskId: 'r-1', resourceIds: ['a', 'b'] },
      wakePolicy: 'on_activity',
      createdAt: iso(),
      startedAt: iso(),
      updatedAt: iso(),
    })
    expect(await registry.get('s1', 'job-1')).toStrictEqual(task)
  })

  it('stamps startedAt for a non-queued initial state and finishedAt for a terminal one', async () => {
    const { registry, iso } = await setup()
    const running = await registry.create(base('s1', { state: 'running' }))
    expect(running.startedAt).toBe(iso())
    expect(Object.hasOwn(running, 'finishedAt')).toBe(false)
    const waiting = await registry.create(base('s1', { state: 'awaiting_input' }))
    expect(waiting.startedAt).toBe(iso())
    for (const state of ['succeeded', 'failed', 'canceled'] as const) {
      const done = await registry.create(base('s1', { state }))
      expect(done.state).toBe(state)
      expect(done.startedAt).toBe(iso())
      expect(done.finishedAt).toBe(iso())
    }
  })

  it('emits exactly one task.created carrying the public record', async () => {
    const h = await setup()
    const all = h.recordAll()
    const task = await h.registry.create(base('s1', { spec: { a: [1, 2] } }))
    expect(all).toEqual([
      { sessionId: 's1', type: 'task.created', payload: { task: toPublicTask(task) } },
    ])
    expect(Object.keys(all[0]?.payload ?? {})).toEqual(['task'])
  })

  it('a caller id already in the session returns the stored record unchanged and emits nothing', async () => {
    const h = await setup()
    const first = await h.registry.create(base('s1', { id: 'job-1', spec: { v: 1 } }))
    expect(first.id).toBe('job-1')
    const all = h.recordAll()
    h.tick(5000)
    const second = await h.registry.create({
      sessionId: 's1',
      id: 'job-1',
      kind: 'other_kind',
      displayName: 'Different',
      spec: { v: 2 },
      state: 'running',
      wakePolicy: 'on_activity',
    })
    expect(second).toStrictEqual(first)
    expect(await h.registry.get('s1', 'job-1')).toStrictEqual(first)
    expect(await h.registry.list('s1')).toHaveLength(1)
    expect(all).toEqual([])
  })

  it('a caller id of another session throws TaskConflictError and stores or emits nothing', async () => {
    const h = await setup()
    const original = await h.registry.create(base('s1', { id: 'shared' }))
    const all = h.recordAll()
    h.tick()
    const error = await caught(() =>
      h.registry.create(base('s2', { id: 'shared', displayName: 'Other' })),
    )
    expect(isTaskConflictError(error), `expected TaskConflictError, got ${String(error)}`).toBe(
      true,
    )
    expect(await h.registry.get('s2', 'shared')).toBeUndefined()
    expect(await h.registry.list('s2')).toEqual([])
    expect(await h.registry.get('s1', 'shared')).toStrictEqual(original)
    expect(all).toEqual([])
  })

  it('concurrent creates with one caller id in one session insert once and emit once', async () => {
    const h = await setup()
    const all = h.recordAll()
    const results = await Promise.all(
      Array.from({ length: 5 }, () => h.registry.create(base('s1', { id: 'same' }))),
    )
    for (const r of results) expect(r).toStrictEqual(results[0])
    expect(await h.registry.list('s1')).toHaveLength(1)
    expect(all.map((e) => e.type)).toEqual(['task.created'])
  })

  it('concurrent creates with one caller id in two sessions: one wins, the other conflicts', async () => {
    const h = await setup()
    const outcomes = await Promise.allSettled([
      h.registry.create(base('s1', { id: 'contested' })),
      h.registry.create(base('s2', { id: 'contested' })),
    ])
    const won = outcomes.filter((o) => o.status === 'fulfilled')
    const lost = outcomes.filter((o) => o.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect(isTaskConflictError((lost[0] as PromiseRejectedResult).reason)).toBe(true)
    const winner = (won[0] as PromiseFulfilledResult<SessionTask>).value
    const loser = winner.sessionId === 's1' ? 's2' : 's1'
    expect(await h.registry.get(winner.sessionId, 'contested')).toStrictEqual(winner)
    expect(await h.registry.get(loser, 'contested')).toBeUndefined()
  })
}
