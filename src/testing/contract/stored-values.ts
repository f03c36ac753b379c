import { isValidationError } from '../../model/errors.js'
import type { CreateSessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, NO_ERROR, outbound, textOf } from './helpers.js'

/** The `stored values` group: JSON and strings stored exactly. */
export function storedValuesTests({ it, expect, setup }: GroupContext): void {
  it('JSON values round-trip: nesting, numbers, unicode, __proto__ as own data, undefined dropped', async () => {
    const { registry } = await setup()
    const spec = JSON.parse(
      '{"__proto__":{"polluted":true},"a":[1,-2.5,0.1,1e300,9007199254740991,"x",null,true,false,{}],"b":{"c":[[],[{}]]},"u":"héllo ✓ 😀 \\"quoted\\" \\\\ \\n\\t","":"empty key","n":null}',
    ) as Record<string, unknown>
    const withUndefined = { ...spec, gone: undefined, list: [1, { keep: 1, drop: undefined }] }
    const task = await registry.create(
      base('s1', { spec: withUndefined as unknown as CreateSessionTask['spec'] }),
    )
    const stored = (await registry.get('s1', task.id))?.spec as Record<string, unknown>
    for (const value of [task.spec as Record<string, unknown>, stored]) {
      expect(Object.hasOwn(value, '__proto__')).toBe(true)
      expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({
        polluted: true,
      })
      expect(value.a).toEqual(spec.a)
      expect(value.b).toEqual(spec.b)
      expect(value.u).toBe(spec.u)
      expect(value['']).toBe('empty key')
      expect(value.n).toBeNull()
      expect(Object.hasOwn(value, 'gone')).toBe(false)
      expect(value.list).toEqual([1, { keep: 1 }])
      expect(Object.hasOwn((value.list as object[])[1] as object, 'drop')).toBe(false)
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('JSON nested 64 deep round-trips in spec, input requests and data parts', async () => {
    const { registry } = await setup()
    let deep: unknown = 'bottom'
    for (let i = 0; i < 63; i++) deep = [deep]
    const task = await registry.create(
      base('s1', { state: 'running', spec: deep as CreateSessionTask['spec'] }),
    )
    expect((await registry.get('s1', task.id))?.spec).toEqual(deep)
    await registry.update('s1', task.id, {
      inputRequest: { id: 'q', prompt: 'p', expected: deep as CreateSessionTask['spec'] },
    })
    expect((await registry.get('s1', task.id))?.inputRequest?.expected).toEqual(deep)
    await registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: deep as NonNullable<CreateSessionTask['spec']> }],
    })
    const [m] = await registry.listMessages('s1', task.id)
    expect(m?.content).toEqual([{ type: 'data', data: deep }])
  })

  it('strings keep every character, NUL and line breaks included', async () => {
    const { registry } = await setup()
    const odd = 'a\u0000b\r\n\u2028c\u007f😀'
    const task = await registry.create(
      base('s1', {
        displayName: odd,
        kind: odd,
        spec: { [odd]: odd },
        state: 'running',
      }),
    )
    await registry.update('s1', task.id, {
      summary: odd,
      stateDetail: odd,
      error: { kind: odd, message: odd },
      appendArtifact: { name: odd, type: odd, path: odd },
    })
    const stored = await registry.get('s1', task.id)
    expect(stored?.displayName).toBe(odd)
    expect(stored?.kind).toBe(odd)
    expect(stored?.spec).toEqual({ [odd]: odd })
    expect(stored?.summary).toBe(odd)
    expect(stored?.error).toEqual({ kind: odd, message: odd })
    expect(stored?.artifacts).toEqual([{ name: odd, type: odd, path: odd }])
    const msg = await registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: odd },
        { type: 'data', data: { [odd]: [odd] } },
      ],
    })
    expect(await registry.listMessages('s1', task.id)).toStrictEqual([msg])
    expect(textOf(msg)).toBe(odd)
  })

  it('strings are stored exactly: surrogate pairs and astral characters kept', async () => {
    const { registry } = await setup()
    const odd = 'x\ud83d\ude00y\u{10FFFF}z\uFFFE'
    const task = await registry.create(base('s1', { displayName: odd, spec: { [odd]: odd } }))
    const stored = await registry.get('s1', task.id)
    expect(stored?.displayName).toBe(odd)
    expect(stored?.spec).toEqual({ [odd]: odd })
    const msg = await registry.recordMessage('s1', task.id, outbound(odd))
    expect((await registry.listMessages('s1', task.id))[0]).toStrictEqual(msg)
    expect(textOf(msg)).toBe(odd)
  })

  it('session ids that differ only in a lone surrogate are refused, never merged', async () => {
    const { registry } = await setup()
    await registry.create(base('victim', { id: 'secret-task', spec: { secret: 1 } }))
    for (const sid of ['victim\uD800', 'victim\uDBFF', 'victim\uDFFF']) {
      const error = await registry.get(sid, 'secret-task').then(
        () => NO_ERROR,
        (e: unknown) => e,
      )
      expect(isValidationError(error), `get with ${JSON.stringify(sid)}`).toBe(true)
    }
    expect(await registry.list('victim')).toHaveLength(1)
  })

  it('deadlineAt is stored as given at create and by an update, normalised to toISOString()', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { deadlineAt: '2031-02-03T04:05:06Z' }))
    expect(task.deadlineAt).toBe('2031-02-03T04:05:06.000Z')
    expect((await registry.get('s1', task.id))?.deadlineAt).toBe('2031-02-03T04:05:06.000Z')
    await registry.update('s1', task.id, { deadlineAt: '2032-01-01T00:00:00.500Z' })
    expect((await registry.get('s1', task.id))?.deadlineAt).toBe('2032-01-01T00:00:00.500Z')
    const plain = await registry.create(base('s1'))
    expect(Object.hasOwn(plain, 'deadlineAt')).toBe(false)
  })
}
