import { describe, expect, test } from 'vitest'
import { type JsonValue, newSessionTask, type SessionTask, toPublicTask } from '../src/index.js'
import type { Writable } from './fixtures/writable.js'

const NOW = new Date('2026-01-01T00:00:00.000Z')

function taskWithSpec(spec: JsonValue): SessionTask {
  const task = newSessionTask(
    {
      sessionId: 'sess_1',
      id: 'task_pub',
      kind: 'external_agent',
      displayName: 'Remote agent',
      state: 'running',
      spec,
      links: { childSessionId: 'child_1', resourceIds: ['r1'] },
    },
    NOW,
  ) as Writable<SessionTask>
  task.artifacts = [{ name: 'log', type: 'file', path: '/log.txt' }]
  task.progress = { current: 1, total: 2, steps: [{ title: 'fetch', status: 'done' }] }
  task.inputRequest = { id: 'req_1', prompt: 'Which?', expected: { choices: ['a', 'b'] } }
  task.error = { kind: 'k', message: 'm' }
  return task
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

/** Calls toPublicTask on a deep-frozen task and checks the task came out untouched. */
function project(task: SessionTask): SessionTask {
  const before = structuredClone(task)
  deepFreeze(task)
  const out = toPublicTask(task)
  expect(task).toStrictEqual(before)
  return out
}

describe('toPublicTask redaction', () => {
  test('each push config with a secret loses it and gains has_secret: true', () => {
    const task = taskWithSpec({
      url: 'https://agent.example',
      push_configs: [
        { url: 'https://hook/1', secret: 's3cr3t', token_type: 'bearer' },
        { url: 'https://hook/2', secret: 'other' },
      ],
    })
    const out = project(task)
    expect(out.spec).toStrictEqual({
      url: 'https://agent.example',
      push_configs: [
        { url: 'https://hook/1', token_type: 'bearer', has_secret: true },
        { url: 'https://hook/2', has_secret: true },
      ],
    })
    expect(JSON.stringify(out)).not.toContain('s3cr3t')
    expect(JSON.stringify(out)).not.toContain('other')
  })

  test.each([
    ['null', null],
    ['an empty string', ''],
    ['zero', 0],
    ['false', false],
    ['an object', { value: 'x' }],
    ['an array', ['x']],
  ])('a secret whose value is %s is still removed and flagged', (_, secret) => {
    const out = project(taskWithSpec({ push_configs: [{ url: 'u', secret }] }))
    expect(out.spec).toStrictEqual({ push_configs: [{ url: 'u', has_secret: true }] })
    const config = (out.spec as { push_configs: Record<string, JsonValue>[] }).push_configs[0]
    expect(config !== undefined && Object.hasOwn(config, 'secret')).toBe(false)
  })

  test('an existing has_secret: false is replaced by has_secret: true when a secret is removed', () => {
    const out = project(taskWithSpec({ push_configs: [{ secret: 'x', has_secret: false }] }))
    expect(out.spec).toStrictEqual({ push_configs: [{ has_secret: true }] })
  })

  test('elements without a secret are kept unchanged, without has_secret', () => {
    const out = project(
      taskWithSpec({
        push_configs: [{ url: 'https://a' }, { url: 'https://b', secret: 'x' }, {}],
      }),
    )
    expect(out.spec).toStrictEqual({
      push_configs: [{ url: 'https://a' }, { url: 'https://b', has_secret: true }, {}],
    })
  })

  test('non-object elements are kept as they are', () => {
    const out = project(
      taskWithSpec({
        push_configs: [
          'secret',
          42,
          null,
          true,
          ['secret'],
          [{ secret: 'in array' }],
          { secret: 1 },
        ],
      }),
    )
    expect(out.spec).toStrictEqual({
      push_configs: [
        'secret',
        42,
        null,
        true,
        ['secret'],
        [{ secret: 'in array' }],
        { has_secret: true },
      ],
    })
  })

  test('a secret nested inside an element (not an own key of it) is untouched', () => {
    const out = project(taskWithSpec({ push_configs: [{ auth: { secret: 'deep' } }] }))
    expect(out.spec).toStrictEqual({ push_configs: [{ auth: { secret: 'deep' } }] })
  })

  test('an own __proto__ key holding a secret is not mistaken for an own secret', () => {
    const spec = JSON.parse('{"push_configs":[{"__proto__":{"secret":"x"}}]}') as JsonValue
    const out = project(taskWithSpec(spec))
    const configs = (out.spec as { push_configs: object[] }).push_configs
    const first = configs[0] as object
    expect(Object.hasOwn(first, 'has_secret')).toBe(false)
    expect(Object.hasOwn(first, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(first)).toBe(Object.prototype)
    expect(JSON.stringify(out.spec)).toBe('{"push_configs":[{"__proto__":{"secret":"x"}}]}')
  })

  test.each([
    ['an object', { secret: 'x', url: 'u' }],
    ['a string', 'secret'],
    ['null', null],
    ['a number', 3],
  ])('push_configs that is %s (not an array) is left untouched', (_, pushConfigs) => {
    const out = project(taskWithSpec({ push_configs: pushConfigs, other: 1 }))
    expect(out.spec).toStrictEqual({ push_configs: pushConfigs, other: 1 })
  })

  test('push_configs below the top level of spec is left untouched', () => {
    const spec = {
      agent: { push_configs: [{ url: 'u', secret: 'nested' }] },
      list: [{ push_configs: [{ secret: 'in list' }] }],
    }
    const out = project(taskWithSpec(structuredClone(spec)))
    expect(out.spec).toStrictEqual(spec)
  })

  test.each([
    ['null', null],
    ['a string', 'push_configs'],
    ['a number', 1],
    ['an array', [{ push_configs: [{ secret: 'x' }] }]],
    ['an object without push_configs', { secret: 'top-level secret is not redacted' }],
  ])('a spec that is %s is kept as is', (_, spec) => {
    const out = project(taskWithSpec(structuredClone(spec)))
    expect(out.spec).toStrictEqual(spec)
  })

  test('every field other than spec is kept deep-equal', () => {
    const task = taskWithSpec({ push_configs: [{ secret: 'x' }] })
    const out = project(task)
    const { spec: _a, ...restIn } = structuredClone(task)
    const { spec: _b, ...restOut } = out
    expect(restOut).toStrictEqual(restIn)
  })
})

describe('toPublicTask purity', () => {
  test('the stored task keeps its secrets', () => {
    const task = taskWithSpec({ push_configs: [{ url: 'u', secret: 's' }] })
    project(task)
    expect(task.spec).toStrictEqual({ push_configs: [{ url: 'u', secret: 's' }] })
  })

  test('the returned copy is deeply frozen and detached: the input is neither frozen nor changed', () => {
    const task = taskWithSpec({
      push_configs: [{ url: 'u', secret: 's' }, { url: 'plain' }],
      nested: { list: [1, 2] },
    })
    const before = structuredClone(task)
    const out = toPublicTask(task)
    expect(out).not.toBe(task)
    const walk = (value: unknown): void => {
      if (typeof value !== 'object' || value === null) return
      expect(Object.isFrozen(value)).toBe(true)
      for (const item of Object.values(value)) walk(item)
    }
    walk(out)
    const spec = out.spec as { nested: { list: number[] } }
    expect(() => spec.nested.list.push(3)).toThrow(TypeError)
    expect(() => {
      ;(out as { state: string }).state = 'failed'
    }).toThrow(TypeError)
    expect(Object.isFrozen(task)).toBe(false)
    expect(Object.isFrozen(task.spec)).toBe(false)
    expect(task).toStrictEqual(before)
  })

  test('a frozen record without a secret is its own projection; with one, the projection is built once', () => {
    const plain = deepFreezeValue(taskWithSpec({ push_configs: [{ url: 'plain' }] }))
    expect(toPublicTask(plain)).toBe(plain)
    const secret = deepFreezeValue(taskWithSpec({ push_configs: [{ url: 'u', secret: 's' }] }))
    const first = toPublicTask(secret)
    expect(first).not.toBe(secret)
    expect(toPublicTask(secret)).toBe(first)
  })

  test('two projections of the same task are independent copies', () => {
    const task = taskWithSpec({ push_configs: [{ url: 'plain' }] })
    const a = toPublicTask(task)
    const b = toPublicTask(task)
    expect(a).toStrictEqual(b)
    expect(a.spec).not.toBe(b.spec)
    expect(a.spec).not.toBe(task.spec)
  })
})

function deepFreezeValue<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreezeValue(item)
    Object.freeze(value)
  }
  return value
}
