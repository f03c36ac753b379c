import type { GroupContext } from './harness.js'
import { base, REDACTED_SPEC, SECRET_SPEC, type Seen, type SeenAll, T0, taskOf } from './helpers.js'

/** The `secrets` group: push secrets kept in records and redacted in events. */
export function secretsTests({ it, expect, setup }: GroupContext): void {
  it('event payloads carry the redacted projection; return values carry the full record', async () => {
    const h = await setup()
    const all = h.recordAll()
    const created = await h.registry.create(base('s1', { spec: SECRET_SPEC }))
    expect(created.spec).toEqual(SECRET_SPEC)
    const updated = await h.registry.update('s1', created.id, { state: 'running' })
    expect(updated?.spec).toEqual(SECRET_SPEC)
    expect((await h.registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
    expect((await h.registry.list('s1'))[0]?.spec).toEqual(SECRET_SPEC)
    const canceled = await h.registry.requestCancel('s1', created.id)
    expect(canceled?.spec).toEqual(SECRET_SPEC)
    const outcome = await h.registry.updateWithOutcome('s1', created.id, { summary: 's' })
    expect(outcome?.task.spec).toEqual(SECRET_SPEC)
    expect(all.map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
      'task.updated',
      'task.updated',
    ])
    for (const e of all) expect(taskOf(e).spec).toEqual(REDACTED_SPEC)
    expect(taskOf(all[0] as SeenAll)).toEqual({ ...created, spec: REDACTED_SPEC })
    expect(JSON.stringify(all)).not.toContain('s3cr3t')
    await h.registry.update('s1', created.id, { heartbeatAt: '2020-01-01T00:00:00.000Z' })
    const stale = await h.registry.listStale({ heartbeatBefore: new Date(T0) })
    expect(stale[0]?.spec).toEqual(SECRET_SPEC)
    await h.registry.update('s1', created.id, { state: 'succeeded' })
    h.tick()
    const pruned = await h.registry.prune({ finishedBefore: new Date(h.iso()) })
    expect(pruned[0]?.spec).toEqual(SECRET_SPEC)
  })

  it('redacts A2A push-config tokens and authentication credentials too', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const spec = {
      push_configs: [
        { url: 'https://a', token: 'tok-1' },
        { url: 'https://b', authentication: { schemes: ['Bearer'], credentials: 'cred-1' } },
        { url: 'https://c', authentication: { schemes: ['Basic'] } },
      ],
    }
    const task = await h.registry.create(base('s1', { spec }))
    expect(task.spec).toStrictEqual(spec)
    expect(taskOf(seen[0] as Seen).spec).toStrictEqual({
      push_configs: [
        { url: 'https://a', has_token: true },
        { url: 'https://b', authentication: { schemes: ['Bearer'], has_credentials: true } },
        { url: 'https://c', authentication: { schemes: ['Basic'] } },
      ],
    })
    expect(JSON.stringify(seen)).not.toMatch(/tok-1|cred-1/)
  })

  it('redacts only top-level push_configs object elements with an own secret key', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const spec = {
      push_configs: [
        { url: 'a', secret: null },
        { url: 'b', secret: '' },
        { url: 'c' },
        'plain',
        ['secret'],
        null,
      ],
      nested: { push_configs: [{ secret: 'deep' }] },
      secret: 'top',
    }
    const created = await h.registry.create(base('s1', { spec }))
    expect(created.spec).toEqual(spec)
    expect(taskOf(seen[0] as Seen).spec).toEqual({
      push_configs: [
        { url: 'a', has_secret: true },
        { url: 'b', has_secret: true },
        { url: 'c' },
        'plain',
        ['secret'],
        null,
      ],
      nested: { push_configs: [{ secret: 'deep' }] },
      secret: 'top',
    })
    const notArray = await h.registry.create(
      base('s1', { spec: { push_configs: { secret: 'x' } } }),
    )
    expect(taskOf(seen[1] as Seen).spec).toEqual(notArray.spec)
  })

  it('mutating a redacted event payload never reaches the stored secret', async () => {
    const { registry } = await setup()
    registry.events('s1').on('task.created', ({ task }) => {
      const spec = task.spec as { prompt: string; push_configs: Record<string, unknown>[] }
      spec.prompt = 'evil'
      for (const config of spec.push_configs) {
        config.url = 'https://evil'
        config.secret = 'replaced'
      }
    })
    const created = await registry.create(base('s1', { spec: SECRET_SPEC }))
    expect(created.spec).toEqual(SECRET_SPEC)
    expect((await registry.get('s1', created.id))?.spec).toEqual(SECRET_SPEC)
  })
}
