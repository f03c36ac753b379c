import { isValidationError, type ValidationError } from '../../model/errors.js'
import type { NewTaskMessage } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import type { GroupContext } from './harness.js'
import { base, caught, NO_ERROR, outbound, SECRET_SPEC, T0, text } from './helpers.js'

/** The `validation` group: bad input is a ValidationError that changes nothing (SPEC 4.1). */
export function validationTests({ it, expect, setup }: GroupContext): void {
  type Case = { title: string; field: string; call: (r: SessionTaskRegistry) => unknown }
  const S = 'sv-1'
  const T = 'job-1'
  const M: NewTaskMessage = { direction: 'inbound', content: text('x') }
  const never = <T>(value: unknown) => value as T

  const LONE = 'lone\uD800'
  const cases: Case[] = [
    // SPEC 4.1: every input string is well-formed UTF-16, on every backend.
    {
      title: 'a lone surrogate in a session id',
      field: 'sessionId',
      call: (r) => r.create(base('victim\uD800')),
    },
    {
      title: 'a lone surrogate in a lookup session id',
      field: 'sessionId',
      call: (r) => r.get('sv-1\uDBFF', T),
    },
    {
      title: 'a lone surrogate in a task id',
      field: 'taskId',
      call: (r) => r.update(S, 'job-1\uDC00', { summary: 'x' }),
    },
    {
      title: 'a lone surrogate in a kind',
      field: 'kind',
      call: (r) => r.create(base(S, { kind: LONE })),
    },
    {
      title: 'a lone surrogate in a displayName',
      field: 'displayName',
      call: (r) => r.create(base(S, { displayName: LONE })),
    },
    {
      title: 'a lone surrogate in a nested spec string',
      field: 'spec.a[0].b',
      call: (r) => r.create(base(S, { spec: { a: [{ b: LONE }] } })),
    },
    {
      title: 'a lone surrogate in a spec key',
      field: 'spec',
      call: (r) => r.create(base(S, { spec: { [LONE]: 1 } })),
    },
    {
      title: 'a lone surrogate in a summary',
      field: 'summary',
      call: (r) => r.update(S, T, { summary: LONE }),
    },
    {
      title: 'a lone surrogate in a text part',
      field: 'content[0].text',
      call: (r) =>
        r.recordMessage(S, T, {
          direction: 'outbound',
          content: [{ type: 'text', text: LONE }],
        }),
    },
    {
      title: 'a lone surrogate in an output delta',
      field: 'delta',
      call: (r) => r.publishOutput(S, T, { stream: 'stdout', delta: LONE }),
    },
    // SPEC 12.3: at most 100,000 nodes, each appearance of a shared reference counted.
    {
      title: 'a spec of shared references past the node limit',
      field: 'spec',
      call: (r) => r.create(base(S, { spec: sharedReferences(20) as never })),
    },
    {
      title: 'create with an unknown key',
      field: 'title',
      call: (r) => r.create(never({ ...base(S), title: 'x' })),
    },
    {
      title: 'create with a caller id that is not a path segment',
      field: 'id',
      call: (r) => r.create(base(S, { id: 'a/b' })),
    },
    {
      title: 'create with an empty session id',
      field: 'sessionId',
      call: (r) => r.create(base('')),
    },
    {
      title: 'create with a function in spec',
      field: 'spec',
      call: (r) => r.create(base(S, { spec: never({ a: [1, () => 1] }) })),
    },
    {
      title: 'create with an unknown state',
      field: 'state',
      call: (r) => r.create(base(S, { state: never('done') })),
    },
    {
      title: 'update with a negative progress.current',
      field: 'progress.current',
      call: (r) => r.update(S, T, { progress: { current: -1 } }),
    },
    {
      title: 'update with null for an optional field',
      field: 'summary',
      call: (r) => r.update(S, T, never({ summary: null })),
    },
    {
      title: 'update with a heartbeatAt carrying an offset',
      field: 'heartbeatAt',
      call: (r) => r.update(S, T, { heartbeatAt: '2026-01-01T00:00:00+02:00' }),
    },
    {
      title: 'update with an unknown key',
      field: 'status',
      call: (r) => r.update(S, T, never({ status: 'running' })),
    },
    {
      title: 'updateWithOutcome with expectedAttempt 0',
      field: 'expectedAttempt',
      call: (r) => r.updateWithOutcome(S, T, { expectedAttempt: 0 }),
    },
    {
      title: 'recordMessage with empty content',
      field: 'content',
      call: (r) => r.recordMessage(S, T, { ...M, content: [] }),
    },
    {
      title: 'recordMessage with an unknown direction',
      field: 'direction',
      call: (r) => r.recordMessage(S, T, { ...M, direction: never('sideways') }),
    },
    {
      title: 'listMessages with limit 0',
      field: 'limit',
      call: (r) => r.listMessages(S, T, { limit: 0 }),
    },
    {
      title: 'list with an unknown state filter',
      field: 'state',
      call: (r) => r.list(S, { state: never('done') }),
    },
    {
      title: 'get with a control character in the session id',
      field: 'sessionId',
      call: (r) => r.get('s\u0000', T),
    },
    {
      title: 'requestCancel with an empty task id',
      field: 'taskId',
      call: (r) => r.requestCancel(S, ''),
    },
    {
      title: 'publishOutput with an empty stream name',
      field: 'stream',
      call: (r) => r.publishOutput(S, T, { stream: '', delta: 'x' }),
    },
    {
      title: 'listStale with a string cutoff',
      field: 'heartbeatBefore',
      call: (r) => r.listStale({ heartbeatBefore: never('2030-01-01T00:00:00.000Z') }),
    },
    {
      title: 'prune with limit 0',
      field: 'limit',
      call: (r) => r.prune({ finishedBefore: new Date(T0 + 10_000_000), limit: 0 }),
    },
    {
      title: 'deleteSession with an empty session id',
      field: 'sessionId',
      call: (r) => r.deleteSession(''),
    },
  ]

  async function fixture() {
    const h = await setup()
    await h.registry.create(
      base(S, { id: T, state: 'running', spec: SECRET_SPEC, wakePolicy: 'on_activity' }),
    )
    await h.registry.update(S, T, { heartbeatAt: '2025-01-01T00:00:00.000Z' })
    await h.registry.recordMessage(S, T, outbound('working'))
    await h.registry.create(base(S, { id: 'job-2', state: 'succeeded' }))
    const all = h.recordAll()
    h.tick()
    return { ...h, all }
  }

  async function state(r: SessionTaskRegistry) {
    return {
      list: await r.list(S),
      messages: await r.listMessages(S, T),
      stale: await r.listStale({ heartbeatBefore: new Date(T0 + 10_000_000) }),
    }
  }

  function expectValidationError(error: unknown, field: string): void {
    expect(error, 'the call should have failed').not.toBe(NO_ERROR)
    expect(isValidationError(error), `expected a ValidationError, got ${String(error)}`).toBe(true)
    const e = error as ValidationError
    expect(e.code).toBe('validation')
    expect(e.message).toContain(field)
    expect(e.issues.length).toBeGreaterThan(0)
  }

  for (const c of cases) {
    it(`rejects ${c.title}: ValidationError naming the field, nothing changed or emitted`, async () => {
      const h = await fixture()
      const before = await state(h.registry)
      const error = await caught(() => c.call(h.registry))
      expectValidationError(error, c.field)
      expect(await state(h.registry)).toStrictEqual(before)
      expect(h.all).toEqual([])
    })
  }

  it('input is validated first: bad input for an unknown task is a ValidationError', async () => {
    const { registry } = await setup()
    expectValidationError(
      await caught(() => registry.update(S, 'task_nope', { state: never('bogus') })),
      'state',
    )
    expectValidationError(
      await caught(() => registry.recordMessage(S, 'task_nope', { ...M, content: [] })),
      'content',
    )
    expectValidationError(
      await caught(() => registry.listMessages(S, 'task_nope', { limit: -1 })),
      'limit',
    )
  })

  it('bad input is a rejected promise, never a synchronous throw', async () => {
    const { registry } = await setup()
    const calls: (() => unknown)[] = [
      () => registry.create(never(null)),
      () => registry.update('', T, {}),
      () => registry.get('', T),
      () => registry.list(''),
      () => registry.requestCancel('', T),
      () => registry.recordMessage('', T, M),
      () => registry.listMessages('', T),
      () => registry.listStale(never(null)),
      () => registry.prune(never(null)),
      () => registry.deleteSession(''),
    ]
    for (const call of calls) {
      let result: unknown
      expect(() => {
        result = call()
      }).not.toThrow()
      expect(result).toBeInstanceOf(Promise)
      expectValidationError(await caught(() => result), '')
    }
  })

  it('a rejected create stores and emits nothing, and the id stays free', async () => {
    const h = await setup()
    const all = h.recordAll()
    const error = await caught(() =>
      h.registry.create(base(S, { id: 'free', spec: never({ bad: Symbol('x') }) })),
    )
    expectValidationError(error, 'spec')
    expect(await h.registry.list(S)).toEqual([])
    expect(all).toEqual([])
    const ok = await h.registry.create(base(S, { id: 'free' }))
    expect(ok.id).toBe('free')
  })
}

/** `v = [v, v]` nested `depth` times: a few objects, 2^depth nodes when walked. */
function sharedReferences(depth: number): unknown {
  let v: unknown = [1]
  for (let i = 0; i < depth; i++) v = [v, v]
  return v
}
