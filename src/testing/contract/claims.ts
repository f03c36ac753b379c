import { isValidationError } from '../../model/errors.js'
import type { SessionTask } from '../../model/schemas.js'
import type { ClaimOptions } from '../../model/supervisor-schemas.js'
import type { ClaimResult, SessionTaskRegistry } from '../../registry/registry.js'
import type { GroupContext } from './harness.js'
import { base, caught, T0, taskOf } from './helpers.js'

type Claim = (s: string, t: string, o: ClaimOptions) => Promise<ClaimResult | undefined>

// The control-plane methods are optional in the interface; the contract requires them.
function need(registry: SessionTaskRegistry) {
  const { claim, listQueued, listOverdue } = registry
  if (claim === undefined || listQueued === undefined || listOverdue === undefined) {
    throw new Error('the registry does not implement claim, listQueued and listOverdue')
  }
  return {
    claim: claim.bind(registry) as Claim,
    listQueued: listQueued.bind(registry),
    listOverdue: listOverdue.bind(registry),
  }
}

/** The `claims` group: fenced claims within limits, and the cross-session lists they use. */
export function claimsTests({ it, expect, setup }: GroupContext): void {
  const holding = async (registry: SessionTaskRegistry, sessionId: string, kind = 'k') => {
    const t = await registry.create(base(sessionId, { kind, state: 'running' }))
    return t
  }

  it('claims a queued task: running, startedAt and a fresh heartbeat, one task.updated', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    await h.registry.update('s1', t.id, { stateDetail: 'waiting' })
    const seen = h.record('s1')
    const now = h.tick(1000)
    const result = await claim('s1', t.id, { expectedAttempt: 1, workerId: 'w1' })
    expect(result?.claimed).toBe(true)
    const task = result?.task as SessionTask
    expect(task.state).toBe('running')
    expect(task.startedAt).toBe(now)
    expect(task.heartbeatAt).toBe(now)
    expect(task.workerId).toBe('w1')
    expect(task.stateDetail).toBe('')
    expect(task.attempt).toBe(1)
    expect(await h.registry.get('s1', t.id)).toStrictEqual(task)
    expect(seen.map((e) => e.type)).toEqual(['task.updated'])
    expect(taskOf(seen[0] as { payload: unknown }).state).toBe('running')
  })

  it('a second claim, a stale attempt or a task past queued is refused as taken, writing nothing', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    expect((await claim('s1', t.id, { expectedAttempt: 2 }))?.claimed).toBe(false)
    await claim('s1', t.id, { expectedAttempt: 1 })
    const done = await h.registry.create(base('s1', { state: 'succeeded' }))
    const seen = h.record('s1')
    const again = await claim('s1', t.id, { expectedAttempt: 1 })
    expect(again).toStrictEqual({
      claimed: false,
      reason: 'taken',
      task: await h.registry.get('s1', t.id),
    })
    expect(await claim('s1', done.id, { expectedAttempt: 1 })).toMatchObject({
      claimed: false,
      reason: 'taken',
    })
    expect(seen).toEqual([])
  })

  it('a queued task whose cancel was requested is canceled by the claim, not started', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    await h.registry.requestCancel('s1', t.id)
    const result = await claim('s1', t.id, { expectedAttempt: 1 })
    expect(result).toMatchObject({ claimed: false, reason: 'taken' })
    expect(result?.task.state).toBe('canceled')
    expect(result?.task.stateDetail).toBe('canceled before it started')
    expect(await h.registry.get('s1', t.id)).toStrictEqual(result?.task)
  })

  it('an unknown task, or another session’s, is undefined', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    expect(await claim('s1', 'task_missing', { expectedAttempt: 1 })).toBeUndefined()
    expect(await claim('s2', t.id, { expectedAttempt: 1 })).toBeUndefined()
    expect((await h.registry.get('s1', t.id))?.state).toBe('queued')
  })

  it('limits count running and awaiting_input tasks of every session, not queued or finished ones', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    await holding(h.registry, 's1', 'a')
    const waiting = await holding(h.registry, 's2', 'b')
    await h.registry.update('s2', waiting.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await h.registry.create(base('s3', { kind: 'a', state: 'succeeded' }))
    await h.registry.create(base('s3', { kind: 'a' }))
    const t = await h.registry.create(base('s1', { kind: 'a' }))
    const o = (limits: ClaimOptions['limits']) => ({ expectedAttempt: 1, limits })
    expect(await claim('s1', t.id, o({ global: 2 }))).toMatchObject({
      claimed: false,
      reason: 'global',
    })
    expect(await claim('s1', t.id, o({ perSession: 1 }))).toMatchObject({
      claimed: false,
      reason: 'perSession',
    })
    expect(await claim('s1', t.id, o({ perKind: 1 }))).toMatchObject({
      claimed: false,
      reason: 'perKind',
    })
    expect((await h.registry.get('s1', t.id))?.state).toBe('queued')
    expect((await claim('s1', t.id, o({ global: 3, perSession: 2, perKind: 2 })))?.claimed).toBe(
      true,
    )
  })

  it('concurrent claims of one task: exactly one wins', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claim('s1', t.id, { expectedAttempt: 1, workerId: `w${i}` }),
      ),
    )
    expect(results.filter((r) => r?.claimed === true)).toHaveLength(1)
  })

  it('concurrent claims of many tasks never exceed the global limit', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const tasks: SessionTask[] = []
    for (let i = 0; i < 12; i++) tasks.push(await h.registry.create(base(`s${i % 4}`)))
    const results = await Promise.all(
      tasks.map((t) => claim(t.sessionId, t.id, { expectedAttempt: 1, limits: { global: 3 } })),
    )
    expect(results.filter((r) => r?.claimed === true)).toHaveLength(3)
    expect(results.filter((r) => r?.claimed === false && r.reason === 'global')).toHaveLength(9)
  })

  it('rejects bad claim options with a ValidationError naming the field, changing nothing', async () => {
    const h = await setup()
    const { claim } = need(h.registry)
    const t = await h.registry.create(base('s1'))
    const bad: [unknown, string][] = [
      [{}, 'expectedAttempt'],
      [{ expectedAttempt: 0 }, 'expectedAttempt'],
      [{ expectedAttempt: 1, limits: { global: 0 } }, 'limits.global'],
      [{ expectedAttempt: 1, workerId: '' }, 'workerId'],
      [{ expectedAttempt: 1, extra: true }, 'extra'],
    ]
    for (const [options, field] of bad) {
      const error = await caught(() => claim('s1', t.id, options as ClaimOptions))
      expect(isValidationError(error), `${JSON.stringify(options)}: ${String(error)}`).toBe(true)
      expect(String((error as Error).message)).toContain(field)
    }
    expect((await h.registry.get('s1', t.id))?.state).toBe('queued')
  })

  it('listQueued: queued tasks of every session, oldest first, by kind and limit', async () => {
    const h = await setup()
    const { listQueued } = need(h.registry)
    h.at(3000)
    await h.registry.create(base('s2', { displayName: 'late', kind: 'a' }))
    h.at(1000)
    await h.registry.create(base('s1', { displayName: 'early', kind: 'b' }))
    await h.registry.create(base('s1', { displayName: 'running', state: 'running' }))
    h.at(2000)
    await h.registry.create(base('s3', { displayName: 'mid', kind: 'a\u0000x' }))
    const names = async (o?: Parameters<typeof listQueued>[0]) =>
      (await listQueued(o)).map((t) => t.displayName)
    expect(await names()).toEqual(['early', 'mid', 'late'])
    expect(await names({ kinds: ['a', 'a\u0000x'] })).toEqual(['mid', 'late'])
    expect(await names({ kinds: [] })).toEqual([])
    expect(await names({ limit: 2 })).toEqual(['early', 'mid'])
  })

  it('listQueued pages after a task id in the same order; a vanished cursor gives []', async () => {
    const h = await setup()
    const { listQueued } = need(h.registry)
    const made: SessionTask[] = []
    for (let i = 0; i < 5; i++) {
      h.at(i < 2 ? 1000 : 2000)
      made.push(await h.registry.create(base(`s${i % 2}`, { displayName: `q${i}` })))
    }
    const first = await listQueued({ limit: 2 })
    expect(first.map((t) => t.displayName)).toEqual(['q0', 'q1'])
    const next = await listQueued({ limit: 2, afterId: first[1]?.id })
    expect(next.map((t) => t.displayName)).toEqual(['q2', 'q3'])
    const rest = await listQueued({ afterId: next[1]?.id })
    expect(rest.map((t) => t.displayName)).toEqual(['q4'])
    await h.registry.deleteSession('s0')
    expect(await listQueued({ afterId: made[0]?.id })).toEqual([])
  })

  it('cutoffs past year 9999 still compare after every stored time', async () => {
    const h = await setup()
    const { listOverdue } = need(h.registry)
    await h.registry.create(
      base('s1', { state: 'running', deadlineAt: '9999-01-01T00:00:00.000Z' }),
    )
    const far = new Date(8.64e15)
    expect(await listOverdue({ deadlineBefore: far })).toHaveLength(1)
    const t = await h.registry.create(base('s1', { state: 'running' }))
    await h.registry.update('s1', t.id, { heartbeatAt: h.iso() })
    expect(await h.registry.listStale({ heartbeatBefore: far })).toHaveLength(1)
  })

  it('listOverdue: unfinished tasks with a deadline strictly before the cutoff, earliest first', async () => {
    const h = await setup()
    const { listOverdue } = need(h.registry)
    const due = (ms: number) => new Date(T0 + ms).toISOString()
    await h.registry.create(base('s1', { displayName: 'd2', deadlineAt: due(2000) }))
    const running = await h.registry.create(base('s2', { displayName: 'd1', state: 'running' }))
    await h.registry.update('s2', running.id, { deadlineAt: due(1000) })
    await h.registry.create(base('s1', { displayName: 'at-cutoff', deadlineAt: due(5000) }))
    await h.registry.create(base('s1', { displayName: 'none' }))
    const done = await h.registry.create(base('s1', { displayName: 'done', deadlineAt: due(10) }))
    await h.registry.update('s1', done.id, { state: 'failed' })
    const names = async (limit?: number) =>
      (
        await listOverdue({
          deadlineBefore: new Date(T0 + 5000),
          ...(limit === undefined ? {} : { limit }),
        })
      ).map((t) => t.displayName)
    expect(await names()).toEqual(['d1', 'd2'])
    expect(await names(1)).toEqual(['d1'])
  })
}
