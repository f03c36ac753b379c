import { describe, expect, test } from 'vitest'
import {
  type CreateSessionTask,
  isTerminalState,
  newSessionTask,
  SESSION_TASK_STATES,
  SessionTaskSchema,
} from '../src/index.js'

const NOW = new Date('2026-01-01T00:00:00.000Z')
const NOW_ISO = '2026-01-01T00:00:00.000Z'

const BASE: CreateSessionTask = { sessionId: 'sess_1', kind: 'subagent', displayName: 'Research' }

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

describe('newSessionTask ids', () => {
  test('a generated id is task_ followed by 21 nanoid characters', () => {
    const task = newSessionTask(BASE, NOW)
    expect(task.id).toMatch(/^task_[A-Za-z0-9_-]{21}$/)
  })

  test('two tasks created without an id get different ids', () => {
    const a = newSessionTask(BASE, NOW)
    const b = newSessionTask(BASE, NOW)
    expect(a.id).not.toBe(b.id)
  })

  test('a caller id is kept as given', () => {
    const task = newSessionTask({ ...BASE, id: 'my-task_01' }, NOW)
    expect(task.id).toBe('my-task_01')
  })
})

describe('newSessionTask defaults', () => {
  test('a minimal input gives a queued record with exactly the required keys', () => {
    const task = newSessionTask(BASE, NOW)
    expect(Object.keys(task).sort()).toStrictEqual(
      [
        'artifacts',
        'attempt',
        'createdAt',
        'displayName',
        'id',
        'kind',
        'links',
        'sessionId',
        'spec',
        'state',
        'stateChangedAt',
        'updatedAt',
        'wakePolicy',
      ].sort(),
    )
    expect(task).toStrictEqual({
      id: task.id,
      sessionId: 'sess_1',
      kind: 'subagent',
      displayName: 'Research',
      spec: null,
      state: 'queued',
      stateChangedAt: NOW_ISO,
      artifacts: [],
      attempt: 1,
      links: { resourceIds: [] },
      wakePolicy: 'silent',
      createdAt: NOW_ISO,
      updatedAt: NOW_ISO,
    })
  })

  test('absent optional fields are absent keys, never null or undefined', () => {
    const task = newSessionTask(BASE, NOW)
    for (const key of [
      'rootSessionId',
      'result',
      'metadata',
      'expiresAt',
      'stateDetail',
      'progress',
      'inputRequest',
      'cancelRequestedAt',
      'summary',
      'resultPath',
      'error',
      'workerId',
      'heartbeatAt',
      'startedAt',
      'finishedAt',
    ]) {
      expect(key in task, key).toBe(false)
    }
    expect(Object.keys(task.links)).toStrictEqual(['resourceIds'])
  })

  test('attempt starts at 1 and artifacts at []', () => {
    const task = newSessionTask({ ...BASE, state: 'running' }, NOW)
    expect(task.attempt).toBe(1)
    expect(task.artifacts).toStrictEqual([])
  })

  test('the default wake policy is silent, and a given one is kept', () => {
    expect(newSessionTask(BASE, NOW).wakePolicy).toBe('silent')
    expect(newSessionTask({ ...BASE, wakePolicy: 'on_terminal' }, NOW).wakePolicy).toBe(
      'on_terminal',
    )
    expect(newSessionTask({ ...BASE, wakePolicy: 'on_activity' }, NOW).wakePolicy).toBe(
      'on_activity',
    )
  })

  test('spec defaults to null, and a given spec is kept deep-equal', () => {
    expect(newSessionTask(BASE, NOW).spec).toBeNull()
    const spec = { prompt: 'go', limits: { tokens: 100 }, tags: ['a', 'b'], flag: false }
    expect(newSessionTask({ ...BASE, spec }, NOW).spec).toStrictEqual({
      prompt: 'go',
      limits: { tokens: 100 },
      tags: ['a', 'b'],
      flag: false,
    })
  })

  test('falsy specs (false, 0, "") are kept, not replaced by null', () => {
    expect(newSessionTask({ ...BASE, spec: false }, NOW).spec).toBe(false)
    expect(newSessionTask({ ...BASE, spec: 0 }, NOW).spec).toBe(0)
    expect(newSessionTask({ ...BASE, spec: '' }, NOW).spec).toBe('')
  })

  test('rootSessionId is kept when given', () => {
    const task = newSessionTask({ ...BASE, rootSessionId: 'root_1' }, NOW)
    expect(task.rootSessionId).toBe('root_1')
  })

  test('kind, displayName and sessionId are copied', () => {
    const task = newSessionTask(
      { sessionId: 'sess_9', kind: 'monitor', displayName: 'Watch CI' },
      NOW,
    )
    expect([task.sessionId, task.kind, task.displayName]).toStrictEqual([
      'sess_9',
      'monitor',
      'Watch CI',
    ])
  })
})

describe('newSessionTask timestamps', () => {
  test('createdAt and updatedAt are both now as an ISO-8601 UTC string', () => {
    const task = newSessionTask(BASE, new Date('2026-03-04T05:06:07.089Z'))
    expect(task.createdAt).toBe('2026-03-04T05:06:07.089Z')
    expect(task.updatedAt).toBe('2026-03-04T05:06:07.089Z')
  })

  test.each(SESSION_TASK_STATES)(
    'initial state %s: startedAt unless queued, finishedAt when terminal',
    (state) => {
      const task = newSessionTask({ ...BASE, state }, NOW)
      expect(task.state).toBe(state)
      if (state === 'queued') expect('startedAt' in task).toBe(false)
      else expect(task.startedAt).toBe(NOW_ISO)
      if (isTerminalState(state)) expect(task.finishedAt).toBe(NOW_ISO)
      else expect('finishedAt' in task).toBe(false)
    },
  )

  test('an awaiting_input initial state has no inputRequest', () => {
    const task = newSessionTask({ ...BASE, state: 'awaiting_input' }, NOW)
    expect('inputRequest' in task).toBe(false)
  })
})

describe('newSessionTask links', () => {
  test('input links are merged over resourceIds: []', () => {
    const task = newSessionTask(
      { ...BASE, links: { childSessionId: 'child_1', remoteTaskId: 'remote_1' } },
      NOW,
    )
    expect(task.links).toStrictEqual({
      childSessionId: 'child_1',
      remoteTaskId: 'remote_1',
      resourceIds: [],
    })
  })

  test('duplicate resourceIds are removed, first occurrence order kept', () => {
    const task = newSessionTask({ ...BASE, links: { resourceIds: ['b', 'a', 'b', 'c', 'a'] } }, NOW)
    expect(task.links).toStrictEqual({ resourceIds: ['b', 'a', 'c'] })
  })

  test('links without resourceIds still give resourceIds: []', () => {
    const task = newSessionTask({ ...BASE, links: {} }, NOW)
    expect(task.links).toStrictEqual({ resourceIds: [] })
  })
})

describe('newSessionTask purity', () => {
  test('the input is not mutated and the record is a valid SessionTask', () => {
    const input: CreateSessionTask = {
      ...BASE,
      id: 'task-1',
      state: 'succeeded',
      spec: { a: [1, 2] },
      links: { resourceIds: ['x', 'x'] },
      wakePolicy: 'on_activity',
      rootSessionId: 'root',
    }
    const before = structuredClone(input)
    deepFreeze(input)
    const task = newSessionTask(input, NOW)
    expect(input).toStrictEqual(before)
    expect(SessionTaskSchema.safeParse(task).success).toBe(true)
    expect(task.links.resourceIds).not.toBe(input.links?.resourceIds)
  })

  test.each(SESSION_TASK_STATES)('a record created in %s passes SessionTaskSchema', (state) => {
    const task = newSessionTask({ ...BASE, state }, NOW)
    const parsed = SessionTaskSchema.safeParse(task)
    expect(parsed.error).toBeUndefined()
    expect(parsed.data).toStrictEqual(task)
  })
})
