import { describe, expect, test } from 'vitest'
import {
  CreateSessionTaskSchema,
  InMemorySessionTaskRegistry,
  isValidationError,
  type JsonValue,
  JsonValueSchema,
  MAX_JSON_DEPTH,
  MAX_JSON_NODES,
  TaskInputRequestSchema,
  TaskMessagePartSchema,
} from '../src/index.js'
import { JsonValueIssue, toJsonValue } from '../src/model/json.js'

function accepts(value: unknown): JsonValue {
  const result = JsonValueSchema.safeParse(value)
  expect(result.error).toBeUndefined()
  expect(result.success).toBe(true)
  return result.data as JsonValue
}

function rejects(value: unknown): void {
  const result = JsonValueSchema.safeParse(value)
  expect(result.success).toBe(false)
}

/** `levels` arrays nested inside each other, the innermost holding `leaf`. */
function nestedArrays(levels: number, leaf: JsonValue = 1): unknown {
  let value: unknown = leaf
  for (let i = 0; i < levels; i++) value = [value]
  return value
}

/** `levels` objects nested inside each other under key `a`. */
function nestedObjects(levels: number, leaf: JsonValue = 1): unknown {
  let value: unknown = leaf
  for (let i = 0; i < levels; i++) value = { a: value }
  return value
}

describe('JSON values that are accepted', () => {
  test.each([
    ['null', null],
    ['true', true],
    ['false', false],
    ['an empty string', ''],
    ['a string', 'héllo \u0000 "quoted"'],
    ['zero', 0],
    ['a negative float', -12.5],
    ['the largest double', Number.MAX_VALUE],
    ['an empty array', []],
    ['an array of mixed values', [1, 'a', null, true, [], {}]],
    ['an empty object', {}],
    ['a nested object', { a: { b: [1, { c: null }] }, d: 'x' }],
  ])('%s is accepted and copied deep-equal', (_, value) => {
    expect(accepts(value)).toStrictEqual(value)
  })

  test('an Object.create(null) object is accepted with its own keys', () => {
    const bare = Object.create(null) as Record<string, unknown>
    bare.a = 1
    bare.b = { c: 'x' }
    const out = accepts(bare)
    expect(out).toEqual({ a: 1, b: { c: 'x' } })
    expect(Object.keys(out as object)).toStrictEqual(['a', 'b'])
  })

  test('MAX_JSON_DEPTH is 64', () => {
    expect(MAX_JSON_DEPTH).toBe(64)
  })

  test('64 nested arrays are accepted, 65 are rejected', () => {
    expect(accepts(nestedArrays(64))).toStrictEqual(nestedArrays(64))
    rejects(nestedArrays(65))
  })

  test('64 nested objects are accepted, 65 are rejected', () => {
    expect(accepts(nestedObjects(64))).toStrictEqual(nestedObjects(64))
    rejects(nestedObjects(65))
  })

  test('the depth limit counts containers, not the primitive leaf', () => {
    accepts(nestedArrays(64, 'leaf'))
    accepts(nestedObjects(63, []))
    rejects(nestedObjects(64, []))
    rejects(nestedArrays(64, {}))
  })

  test('a repeated (non-cyclic) reference is accepted and copied twice', () => {
    const shared = { x: 1 }
    const out = accepts({ a: shared, b: shared, list: [shared, shared] }) as Record<
      string,
      JsonValue
    >
    expect(out).toStrictEqual({ a: { x: 1 }, b: { x: 1 }, list: [{ x: 1 }, { x: 1 }] })
    expect(out.a).not.toBe(shared)
  })
})

describe('undefined properties', () => {
  test('object properties whose value is undefined are dropped, as JSON.stringify does', () => {
    const out = accepts({ a: 1, b: undefined, nested: { c: undefined, d: 2 } }) as Record<
      string,
      JsonValue
    >
    expect(out).toStrictEqual({ a: 1, nested: { d: 2 } })
    expect('b' in out).toBe(false)
    expect(Object.keys(out.nested as object)).toStrictEqual(['d'])
  })

  test('an object whose only property is undefined becomes {}', () => {
    const out = accepts({ only: undefined })
    expect(Object.keys(out as object)).toStrictEqual([])
  })

  test('a bare undefined is not a JSON value', () => {
    rejects(undefined)
  })
})

describe('values that are not JSON', () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const sparse: unknown[] = [1]
  sparse[2] = 3
  const cyclicObject: Record<string, unknown> = { a: 1 }
  cyclicObject.self = cyclicObject
  const cyclicArray: unknown[] = [1]
  cyclicArray.push(cyclicArray)
  const deepCycle: Record<string, unknown> = { level: { list: [] as unknown[] } }
  ;(deepCycle.level as { list: unknown[] }).list.push(deepCycle)
  const throwingGetter = {
    ok: 1,
    get boom(): number {
      throw new Error('getter exploded')
    },
  }

  test.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 10n],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a class instance', new Point(1, 2)],
    ['a RegExp', /x/],
    ['a boxed number', Object(1)],
    ['a sparse array', sparse],
    ['an object cycle', cyclicObject],
    ['an array cycle', cyclicArray],
    ['a cycle through an array deep down', deepCycle],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a getter that throws', throwingGetter],
  ])('%s is rejected', (_, value) => {
    rejects(value)
  })

  test.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a class instance', new Point(0, 0)],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('%s nested inside an object or array is rejected', (_, value) => {
    rejects({ a: { b: value } })
    rejects([1, [2, value]])
  })

  test('the issue points at the offending path', () => {
    const result = JsonValueSchema.safeParse({ a: [1, { b: () => 1 }] })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.path).toStrictEqual(['a', 1, 'b'])
  })

  test('a throwing getter is reported as an issue, never thrown', () => {
    expect(() => JsonValueSchema.safeParse(throwingGetter)).not.toThrow()
  })
})

describe('__proto__ keys', () => {
  test('a __proto__ key is kept as own data and never changes the prototype', () => {
    const input = JSON.parse('{"__proto__":{"polluted":1}}') as unknown
    const out = accepts(input) as Record<string, JsonValue>
    expect(Object.hasOwn(out, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toStrictEqual({ polluted: 1 })
    expect((out as { polluted?: unknown }).polluted).toBeUndefined()
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":1}}')
  })

  test('a nested __proto__ key is kept as own data too', () => {
    const input = JSON.parse('{"a":[{"__proto__":{"polluted":1},"b":2}]}') as unknown
    const out = accepts(input) as { a: Record<string, JsonValue>[] }
    const inner = out.a[0] as Record<string, JsonValue>
    expect(Object.hasOwn(inner, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype)
    expect((inner as { polluted?: unknown }).polluted).toBeUndefined()
    expect(inner.b).toBe(2)
    expect(JSON.stringify(out)).toBe('{"a":[{"__proto__":{"polluted":1},"b":2}]}')
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  test('other prototype-ish keys (constructor, prototype) are plain own data', () => {
    const input = JSON.parse('{"constructor":{"prototype":{"polluted":1}}}') as unknown
    const out = accepts(input) as Record<string, JsonValue>
    expect(Object.hasOwn(out, 'constructor')).toBe(true)
    expect(JSON.stringify(out)).toBe('{"constructor":{"prototype":{"polluted":1}}}')
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })
})

describe('detached copy', () => {
  test('the output is a deep copy: mutating the input afterwards does not reach it', () => {
    const input = { a: { b: [1, 2] }, c: [{ d: 'x' }] }
    const out = accepts(input) as { a: { b: number[] }; c: { d: string }[] }
    expect(out).not.toBe(input)
    expect(out.a).not.toBe(input.a)
    expect(out.a.b).not.toBe(input.a.b)
    expect(out.c[0]).not.toBe(input.c[0])
    input.a.b.push(3)
    const first = input.c[0]
    if (first !== undefined) first.d = 'changed'
    expect(out).toStrictEqual({ a: { b: [1, 2] }, c: [{ d: 'x' }] })
  })

  test('mutating the output does not reach the input', () => {
    const input = { list: [1, 2], obj: { k: 'v' } }
    const out = accepts(input) as { list: number[]; obj: { k: string } }
    out.list.push(3)
    out.obj.k = 'changed'
    expect(input).toStrictEqual({ list: [1, 2], obj: { k: 'v' } })
  })
})

describe('JSON fields of other schemas use the same rules', () => {
  test('spec on create, expected on an input request and data parts reject non-JSON', () => {
    const base = { sessionId: 's', kind: 'k', displayName: 'd' }
    expect(CreateSessionTaskSchema.safeParse({ ...base, spec: { n: Number.NaN } }).success).toBe(
      false,
    )
    expect(CreateSessionTaskSchema.safeParse({ ...base, spec: nestedArrays(65) }).success).toBe(
      false,
    )
    expect(
      TaskInputRequestSchema.safeParse({ id: 'r', prompt: 'p', expected: new Map() }).success,
    ).toBe(false)
    expect(TaskMessagePartSchema.safeParse({ type: 'data', data: [1, 2n] }).success).toBe(false)
  })

  test('spec on create drops undefined properties and keeps __proto__ as own data', () => {
    const spec = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>
    spec.gone = undefined
    const parsed = CreateSessionTaskSchema.parse({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      spec,
    })
    expect(JSON.stringify(parsed.spec)).toBe('{"__proto__":{"x":1}}')
    expect(Object.getPrototypeOf(parsed.spec)).toBe(Object.prototype)
  })
})

describe('node limit (SPEC 12.3)', () => {
  test('a value of shared references is refused after 100,000 nodes, without expanding it', () => {
    let v: unknown = [1]
    for (let i = 0; i < 20; i++) v = [v, v]
    // 2^21 nodes if expanded; the walk stops at the limit instead.
    expect(() => toJsonValue(v)).toThrow(/more than 100000 nodes/)
  })

  test('exactly MAX_JSON_NODES nodes are accepted; one more is refused', () => {
    expect(MAX_JSON_NODES).toBe(100_000)
    const ok = new Array(MAX_JSON_NODES - 1).fill(0)
    expect((toJsonValue(ok) as unknown[]).length).toBe(MAX_JSON_NODES - 1)
    expect(() => toJsonValue([...ok, 0])).toThrow(JsonValueIssue)
  })

  test('the registry refuses such a spec with a ValidationError naming spec', async () => {
    const registry = new InMemorySessionTaskRegistry()
    let v: unknown = 'x'
    for (let i = 0; i < 20; i++) v = { a: v, b: v }
    const error = await registry
      .create({ sessionId: 's', kind: 'k', displayName: 'd', spec: v as never })
      .catch((e: unknown) => e)
    expect(isValidationError(error)).toBe(true)
    expect(String((error as Error).message)).toContain('spec')
    expect(await registry.list('s')).toEqual([])
  })
})
