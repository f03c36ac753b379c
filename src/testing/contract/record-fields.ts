import type { SessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, failure, inbound, outbound, T0 } from './helpers.js'

const ISO = (ms: number) => new Date(T0 + ms).toISOString()

/** The record fields of SPEC 12.2: stateChangedAt, metadata, result, expiresAt, artifact ids, message ids. */
export function recordFieldsTests({ it, expect, setup }: GroupContext): void {
  it('stateChangedAt is stamped at create and at every real transition, not by content updates', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    expect(task.stateChangedAt).toBe(h.iso())
    const started = h.tick()
    const running = await h.registry.update('s1', task.id, { state: 'running' })
    expect(running?.stateChangedAt).toBe(started)
    h.tick()
    const content = await h.registry.update('s1', task.id, { summary: 'half', state: 'running' })
    expect(content?.stateChangedAt).toBe(started)
    const asked = h.tick()
    const waiting = await h.registry.update('s1', task.id, {
      inputRequest: { id: 'q', prompt: 'ok?' },
    })
    expect(waiting?.stateChangedAt).toBe(asked)
    const answered = h.tick()
    await h.registry.recordMessage('s1', task.id, inbound('yes', { inReplyTo: 'q' }))
    expect((await h.registry.get('s1', task.id))?.stateChangedAt).toBe(answered)
  })

  it('stateChangedAt may be set explicitly at create and by an update, normalised to UTC', async () => {
    const h = await setup()
    const task = await h.registry.create(
      base('s1', { state: 'running', stateChangedAt: '2025-06-01T10:00:00Z' }),
    )
    expect(task.stateChangedAt).toBe('2025-06-01T10:00:00.000Z')
    h.tick()
    const done = await h.registry.update('s1', task.id, {
      state: 'succeeded',
      stateChangedAt: '2025-06-01T11:00:00.000Z',
    })
    expect(done?.stateChangedAt).toBe('2025-06-01T11:00:00.000Z')
    expect(done?.finishedAt).toBe(h.iso())
  })

  it('metadata is set at create and replaced whole by an update; result is overwritten, also on a finished task', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { metadata: { a: 1, b: { c: [1] } } }))
    expect(task.metadata).toStrictEqual({ a: 1, b: { c: [1] } })
    const replaced = await h.registry.update('s1', task.id, { metadata: { z: true } })
    expect(replaced?.metadata).toStrictEqual({ z: true })
    const all = h.recordAll()
    const done = await h.registry.update('s1', task.id, {
      state: 'succeeded',
      result: { answer: 42 },
    })
    expect(done?.state).toBe('succeeded')
    expect(done?.result).toStrictEqual({ answer: 42 })
    expect(all.map((e) => e.type)).toEqual(['task.updated'])
    // Same-terminal enrichment: the state stays, the result is overwritten.
    const again = await h.registry.update('s1', task.id, { state: 'succeeded', result: [1, 2] })
    expect(again?.result).toStrictEqual([1, 2])
    // Another terminal state drops the whole update, result included.
    const other = await h.registry.update('s1', task.id, { state: 'failed', result: 'no' })
    expect(other?.result).toStrictEqual([1, 2])
    expect(await h.registry.get('s1', task.id)).toStrictEqual(again)
  })

  it('metadata must be a JSON object, naming the field, and nothing is written', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    expect(
      await failure(() => h.registry.update('s1', task.id, { metadata: [1] as never })),
    ).toMatch(/metadata: must be a JSON object/)
    expect(await failure(() => h.registry.create(base('s1', { metadata: null as never })))).toMatch(
      /metadata: must be a JSON object/,
    )
    expect(await h.registry.list('s1')).toStrictEqual([task])
    expect(all).toEqual([])
  })

  it('an expired task is absent to every read and write until prune deletes it', async () => {
    const h = await setup()
    const keep = await h.registry.create(base('s1'))
    const task = await h.registry.create(base('s1', { id: 'ttl-1', expiresAt: ISO(5000) }))
    await h.registry.recordMessage('s1', task.id, inbound('hi'))
    expect(await h.registry.get('s1', task.id)).toStrictEqual(
      (await h.registry.list('s1')).find((t) => t.id === task.id),
    )
    h.at(5000)
    const all = h.recordAll()
    expect(await h.registry.get('s1', task.id)).toBeUndefined()
    expect(await h.registry.find(task.id)).toBeUndefined()
    expect(await h.registry.list('s1')).toStrictEqual([keep])
    expect((await h.registry.query()).tasks).toStrictEqual([keep])
    expect(await h.registry.listMessages('s1', task.id)).toEqual([])
    expect(await h.registry.update('s1', task.id, { state: 'running' })).toBeUndefined()
    expect(await h.registry.updateWithOutcome('s1', task.id, { summary: 'x' })).toBeUndefined()
    expect(await h.registry.requestCancel('s1', task.id)).toBeUndefined()
    expect(await h.registry.publishOutput('s1', task.id, { stream: 'o', delta: 'x' })).toBe(false)
    expect(await failure(() => h.registry.recordMessage('s1', task.id, inbound('late')))).toMatch(
      /not found/,
    )
    expect(await h.registry.delete('s1', task.id)).toBe(false)
    // Its id stays taken until prune removes it.
    expect(await failure(() => h.registry.create(base('s1', { id: 'ttl-1' })))).toMatch(/expired/)
    expect(all).toEqual([])
    // prune deletes it whatever its state (it is still queued).
    const pruned = await h.registry.prune({ finishedBefore: new Date(T0) })
    expect(pruned.map((t) => t.id)).toEqual([task.id])
    const again = await h.registry.create(base('s1', { id: 'ttl-1' }))
    expect(again.expiresAt).toBeUndefined()
  })

  it('expiresAt can be set and moved by an update; a later one revives nothing once expired', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const set = await h.registry.update('s1', task.id, { expiresAt: ISO(2000) })
    expect(set?.expiresAt).toBe(ISO(2000))
    const moved = await h.registry.update('s1', task.id, { expiresAt: ISO(9000) })
    expect(moved?.expiresAt).toBe(ISO(9000))
    h.at(3000)
    expect(await h.registry.get('s1', task.id)).toStrictEqual(moved)
    h.at(9000)
    expect(await h.registry.update('s1', task.id, { expiresAt: ISO(99_000) })).toBeUndefined()
    expect(await h.registry.get('s1', task.id)).toBeUndefined()
  })

  it('appendArtifact replaces the artifact with the same id in place, and appends otherwise', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const a = { id: 'a', name: 'notes', type: 'text', text: 'one', mediaType: 'text/plain' }
    const b = { id: 'b', name: 'data', type: 'json', data: { n: [1] }, metadata: { k: 'v' } }
    await h.registry.update('s1', task.id, { appendArtifact: a })
    await h.registry.update('s1', task.id, { appendArtifact: b })
    await h.registry.update('s1', task.id, { appendArtifact: { name: 'log', type: 'file' } })
    const replaced = { id: 'a', name: 'notes', type: 'text', text: 'one two', description: 'd' }
    const after = (await h.registry.update('s1', task.id, {
      appendArtifact: replaced,
    })) as SessionTask
    expect(after.artifacts).toStrictEqual([replaced, b, { name: 'log', type: 'file' }])
    expect(await h.registry.get('s1', task.id)).toStrictEqual(after)
  })

  it('a caller-chosen message id is idempotent per task: the stored message comes back, nothing is emitted', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const first = await h.registry.recordMessage('s1', task.id, inbound('hi', { id: 'm-1' }))
    expect(first.id).toBe('m-1')
    const all = h.recordAll()
    h.tick()
    const again = await h.registry.recordMessage('s1', task.id, inbound('other', { id: 'm-1' }))
    expect(again).toStrictEqual(first)
    expect(await h.registry.listMessages('s1', task.id)).toStrictEqual([first])
    expect(all).toEqual([])
  })

  it('a message id used by another task is a conflict, and nothing is written', async () => {
    const h = await setup()
    const one = await h.registry.create(base('s1'))
    const two = await h.registry.create(base('s1'))
    await h.registry.recordMessage('s1', one.id, inbound('hi', { id: 'shared' }))
    const all = h.recordAll()
    expect(
      await failure(() => h.registry.recordMessage('s1', two.id, inbound('hi', { id: 'shared' }))),
    ).toMatch(/already used by another task/)
    expect(await h.registry.listMessages('s1', two.id)).toEqual([])
    expect(all).toEqual([])
  })

  it('concurrent messages with one caller-chosen id store it once', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        h.registry.recordMessage('s1', task.id, inbound(`try ${i}`, { id: 'once' })),
      ),
    )
    const stored = await h.registry.listMessages('s1', task.id)
    expect(stored).toHaveLength(1)
    for (const result of results) expect(result).toStrictEqual(stored[0])
  })

  it("a caller-chosen message id may not take the generated ids' prefix", async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    expect(
      await failure(() =>
        h.registry.recordMessage('s1', task.id, inbound('x', { id: 'tmsg_mine' })),
      ),
    ).toMatch(/id: must not start with 'tmsg_'/)
  })

  it('scans skip expired tasks before their limit, so live ones behind them are found', async () => {
    const h = await setup()
    for (let i = 0; i < 3; i++) {
      const t = await h.registry.create(
        base('s1', {
          state: i === 0 ? 'queued' : 'running',
          expiresAt: ISO(1000),
          deadlineAt: ISO(10),
        }),
      )
      await h.registry.update('s1', t.id, { heartbeatAt: ISO(0) })
    }
    await h.registry.create(base('s1', { expiresAt: ISO(1000) }))
    h.tick(1)
    const queued = await h.registry.create(base('s1'))
    const running = await h.registry.create(base('s1', { state: 'running', deadlineAt: ISO(20) }))
    await h.registry.update('s1', running.id, { heartbeatAt: ISO(1) })
    h.at(5000)
    const ids = (tasks: readonly SessionTask[]) => tasks.map((t) => t.id)
    expect(ids((await h.registry.listQueued?.({ limit: 1 })) ?? [])).toEqual([queued.id])
    const stale = await h.registry.listStale({ heartbeatBefore: new Date(T0 + 100), limit: 1 })
    expect(ids(stale)).toEqual([running.id])
    const overdue = await h.registry.listOverdue?.({ deadlineBefore: new Date(T0 + 100), limit: 1 })
    expect(ids(overdue ?? [])).toEqual([running.id])
  })

  it('an expired task holds no concurrency slot in a claim', async () => {
    const h = await setup()
    await h.registry.create(base('s1', { state: 'running', expiresAt: ISO(1000) }))
    const next = await h.registry.create(base('s1'))
    expect(
      (await h.registry.claim?.('s1', next.id, { expectedAttempt: 1, limits: { global: 1 } }))
        ?.claimed,
    ).toBe(false)
    h.at(1000)
    const claimed = await h.registry.claim?.('s1', next.id, {
      expectedAttempt: 1,
      limits: { global: 1, perSession: 1, perKind: 1 },
    })
    expect(claimed?.claimed).toBe(true)
  })

  it('a message retried with its id after the attempt moved on returns the stored message', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const m = outbound('hi', { id: 'ext-1', expectedAttempt: 1 })
    const first = await h.registry.recordMessage('s1', task.id, m)
    await h.registry.update('s1', task.id, { incrementAttempt: true })
    expect(await h.registry.recordMessage('s1', task.id, m)).toStrictEqual(first)
    const fresh = outbound('new', { id: 'ext-2', expectedAttempt: 1 })
    expect(await failure(() => h.registry.recordMessage('s1', task.id, fresh))).toMatch(/attempt/)
  })
}
