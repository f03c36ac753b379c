import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  applyTaskUpdate,
  isTerminalState,
  SESSION_TASK_STATES,
  type SessionTask,
  SessionTaskSchema,
  type SessionTaskState,
  type SessionTaskUpdate,
  type TaskArtifact,
} from '../src/index.js'
import { applyTaskUpdateResult } from '../src/rules/lifecycle.js'
import type { Writable } from './fixtures/writable.js'

// Fixed clocks: T0 is when fixtures were created, NOW when the update is applied.
const T0 = '2025-12-31T00:00:00.000Z'
const NOW = new Date('2026-01-01T00:00:00.000Z')
const NOW_ISO = '2026-01-01T00:00:00.000Z'
const LATER = new Date('2026-01-02T00:00:00.000Z')
const LATER_ISO = '2026-01-02T00:00:00.000Z'
const LATEST = new Date('2026-01-03T00:00:00.000Z')
const LATEST_ISO = '2026-01-03T00:00:00.000Z'
const HEARTBEAT = '2025-12-31T12:00:00.000Z'

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

/** Applies the update to a deep-frozen record and checks the input came out untouched. */
function apply(task: SessionTask, update: SessionTaskUpdate, now: Date = NOW): SessionTask {
  const before = structuredClone(task)
  const updateBefore = structuredClone(update)
  deepFreeze(task)
  deepFreeze(update)
  const after = applyTaskUpdate(task, update, now)
  expect(task).toStrictEqual(before)
  expect(update).toStrictEqual(updateBefore)
  return after
}

/** A realistic record in `state`, created and last updated at T0. */
function taskIn(state: SessionTaskState, extra: Partial<SessionTask> = {}): SessionTask {
  const task: Writable<SessionTask> = {
    id: 'task_fixture',
    sessionId: 'sess_1',
    kind: 'background_tool',
    displayName: 'Fixture',
    spec: { cmd: 'ls' },
    state,
    stateChangedAt: T0,
    stateDetail: 'old detail',
    summary: 'old summary',
    artifacts: [{ name: 'log', type: 'file', path: '/logs/a.txt' }],
    attempt: 2,
    links: { childSessionId: 'child_1', resourceIds: ['r1'] },
    wakePolicy: 'silent',
    createdAt: T0,
    updatedAt: T0,
  }
  if (state !== 'queued') task.startedAt = T0
  if (isTerminalState(state)) task.finishedAt = T0
  if (state === 'awaiting_input') task.inputRequest = { id: 'req_1', prompt: 'Which branch?' }
  return { ...task, ...extra }
}

/** The record with only `updatedAt` moved to NOW. */
function touched(task: SessionTask): Writable<SessionTask> {
  return { ...(structuredClone(task) as Writable<SessionTask>), updatedAt: NOW_ISO }
}

/** What SPEC 3 says a plain state change `to` does to a fixture record. */
function expectedStateChange(before: SessionTask, to: SessionTaskState): SessionTask {
  if (isTerminalState(before.state)) {
    return before.state === to ? touched(before) : structuredClone(before)
  }
  if (before.state === to) return touched(before)
  const after = touched(before)
  after.state = to
  after.stateChangedAt = NOW_ISO
  if (before.state === 'queued') after.startedAt = NOW_ISO
  if (isTerminalState(to)) after.finishedAt = NOW_ISO
  if (to !== 'awaiting_input') delete after.inputRequest
  return after
}

type UpdateKind = {
  name: (from: SessionTaskState) => string
  update: SessionTaskUpdate
  expected: (before: SessionTask) => SessionTask
}

const REPORT: TaskArtifact = { name: 'report', type: 'url', url: 'https://example.com/r' }
const PR: TaskArtifact = { name: 'pr', type: 'pr', url: 'https://example.com/pr/1' }

const UPDATE_KINDS: UpdateKind[] = [
  ...SESSION_TASK_STATES.map(
    (to): UpdateKind => ({
      name: (from) => {
        if (isTerminalState(from) && from !== to) return `state -> ${to} is ignored (terminal)`
        if (from === to) return `state -> ${to} (same state) only touches updatedAt`
        return `state -> ${to} transitions and stamps times`
      },
      update: { state: to },
      expected: (before) => expectedStateChange(before, to),
    }),
  ),
  {
    name: () => 'content-only update overwrites every content field',
    update: {
      stateDetail: 'new detail',
      summary: 'new summary',
      resultPath: '/.tasks/task_fixture/result.json',
      progress: { current: 1, total: 3, unit: 'files' },
      error: { kind: 'boom', message: 'it broke' },
      workerId: 'worker_7',
      heartbeatAt: HEARTBEAT,
    },
    expected: (before) => ({
      ...touched(before),
      stateDetail: 'new detail',
      summary: 'new summary',
      resultPath: '/.tasks/task_fixture/result.json',
      progress: { current: 1, total: 3, unit: 'files' },
      error: { kind: 'boom', message: 'it broke' },
      workerId: 'worker_7',
      heartbeatAt: HEARTBEAT,
    }),
  },
  {
    name: (from) =>
      isTerminalState(from)
        ? 'inputRequest is ignored on a terminal task'
        : 'inputRequest is stored and forces awaiting_input',
    update: { inputRequest: { id: 'req_2', prompt: 'Continue?', expected: { choices: [1, 2] } } },
    expected: (before) => {
      if (isTerminalState(before.state)) return touched(before)
      const after = touched(before)
      after.state = 'awaiting_input'
      if (before.state !== 'awaiting_input') after.stateChangedAt = NOW_ISO
      after.inputRequest = { id: 'req_2', prompt: 'Continue?', expected: { choices: [1, 2] } }
      if (before.state === 'queued') after.startedAt = NOW_ISO
      return after
    },
  },
  {
    name: () => 'artifacts replaces the whole list',
    update: { artifacts: [REPORT] },
    expected: (before) => ({ ...touched(before), artifacts: [REPORT] }),
  },
  {
    name: () => 'appendArtifact appends one artifact',
    update: { appendArtifact: PR },
    expected: (before) => ({ ...touched(before), artifacts: [...before.artifacts, PR] }),
  },
  {
    name: () => 'links are merged',
    update: { links: { remoteTaskId: 'remote_9', resourceIds: ['r1', 'r2'] } },
    expected: (before) => ({
      ...touched(before),
      links: { childSessionId: 'child_1', remoteTaskId: 'remote_9', resourceIds: ['r1', 'r2'] },
    }),
  },
  {
    name: (from) =>
      isTerminalState(from)
        ? 'incrementAttempt on a finished task drops the whole update (rule 2b)'
        : 'incrementAttempt bumps the attempt by one',
    update: { incrementAttempt: true },
    expected: (before) =>
      isTerminalState(before.state)
        ? structuredClone(before)
        : { ...touched(before), attempt: before.attempt + 1 },
  },
  {
    name: () => 'a fenced update on the current attempt is applied',
    update: { expectedAttempt: 2, summary: 'fenced ok' },
    expected: (before) => ({ ...touched(before), summary: 'fenced ok' }),
  },
  {
    name: () => 'a fenced update on a stale attempt changes nothing',
    update: {
      expectedAttempt: 1,
      state: 'failed',
      summary: 'stale',
      incrementAttempt: true,
      appendArtifact: PR,
    },
    expected: (before) => structuredClone(before),
  },
]

describe('applyTaskUpdate: every state x every kind of update', () => {
  describe.each(SESSION_TASK_STATES)('from %s', (from) => {
    for (const kind of UPDATE_KINDS) {
      test(kind.name(from), () => {
        const before = taskIn(from)
        const expected = kind.expected(structuredClone(before))
        const after = apply(before, kind.update)
        expect(after).toStrictEqual(expected)
      })
    }
  })
})

describe('rule 1: fence', () => {
  test.each([
    ['lower', 1],
    ['higher', 3],
  ])(
    'an expectedAttempt %s than attempt drops the whole update, not even updatedAt changes',
    (_, expectedAttempt) => {
      const task = taskIn('running')
      const snapshot = structuredClone(task)
      const after = apply(task, {
        expectedAttempt,
        state: 'succeeded',
        summary: 'late',
        progress: { current: 9 },
        inputRequest: { id: 'req_9', prompt: 'x' },
        artifacts: [],
        appendArtifact: PR,
        links: { remoteTaskId: 'r', resourceIds: ['z'] },
        incrementAttempt: true,
        workerId: 'w',
        heartbeatAt: HEARTBEAT,
        error: { kind: 'k', message: 'm' },
      })
      expect(after).toStrictEqual(snapshot)
      expect(after.updatedAt).toBe(T0)
      expect(after.state).toBe('running')
    },
  )

  test('a fence is checked before terminal finality (stale write to a finished task is dropped)', () => {
    const task = taskIn('succeeded')
    const after = apply(task, { expectedAttempt: 1, summary: 'stale enrichment' })
    expect(after).toStrictEqual(taskIn('succeeded'))
  })

  test('after incrementAttempt, writes fenced on the old attempt are dropped and the new attempt is accepted', () => {
    const task = taskIn('running', { attempt: 1 })
    const bumped = apply(task, { expectedAttempt: 1, incrementAttempt: true, workerId: 'reaper' })
    expect(bumped.attempt).toBe(2)
    expect(bumped.workerId).toBe('reaper')
    const stale = apply(bumped, { expectedAttempt: 1, state: 'succeeded' }, LATER)
    expect(stale).toStrictEqual(bumped)
    const fresh = apply(bumped, { expectedAttempt: 2, state: 'succeeded' }, LATER)
    expect(fresh.state).toBe('succeeded')
    expect(fresh.finishedAt).toBe(LATER_ISO)
    expect(fresh.updatedAt).toBe(LATER_ISO)
  })
})

describe('rule 2: terminal finality', () => {
  test.each(
    SESSION_TASK_STATES.filter(isTerminalState).flatMap((from) =>
      SESSION_TASK_STATES.filter((to) => to !== from).map((to) => [from, to] as const),
    ),
  )('a %s task ignores state -> %s and drops the content with it', (from, to) => {
    const task = taskIn(from)
    const after = apply(task, {
      state: to,
      summary: 'new summary',
      stateDetail: 'new detail',
      appendArtifact: PR,
      links: { resourceIds: ['r9'] },
      incrementAttempt: true,
      error: { kind: 'x', message: 'y' },
    })
    expect(after).toStrictEqual(taskIn(from))
    expect(after.updatedAt).toBe(T0)
  })

  test('the same terminal state enriches content but never re-stamps finishedAt', () => {
    const task = taskIn('succeeded')
    const after = apply(task, {
      state: 'succeeded',
      summary: 'final summary',
      resultPath: '/.tasks/task_fixture/result.json',
      appendArtifact: REPORT,
    })
    expect(after.state).toBe('succeeded')
    expect(after.summary).toBe('final summary')
    expect(after.resultPath).toBe('/.tasks/task_fixture/result.json')
    expect(after.artifacts).toStrictEqual([
      { name: 'log', type: 'file', path: '/logs/a.txt' },
      REPORT,
    ])
    expect(after.finishedAt).toBe(T0)
    expect(after.startedAt).toBe(T0)
    expect(after.updatedAt).toBe(NOW_ISO)
  })

  test('an update without state enriches a terminal task', () => {
    const task = taskIn('failed')
    const after = apply(task, {
      error: { kind: 'timeout', message: 'took too long' },
      summary: 'gave up',
      links: { remoteTaskId: 'remote_1', resourceIds: ['r2'] },
      artifacts: [REPORT],
    })
    expect(after).toStrictEqual({
      ...taskIn('failed'),
      error: { kind: 'timeout', message: 'took too long' },
      summary: 'gave up',
      links: { childSessionId: 'child_1', remoteTaskId: 'remote_1', resourceIds: ['r1', 'r2'] },
      artifacts: [REPORT],
      updatedAt: NOW_ISO,
    })
  })

  test('rule 2b: incrementAttempt without state never touches a terminal task', () => {
    const before = taskIn('canceled')
    const after = apply(before, { incrementAttempt: true, summary: 'late' })
    expect(after).toStrictEqual(before)
  })
})

describe('rule 4: input requests', () => {
  test('an inputRequest overrides update.state and forces awaiting_input', () => {
    for (const asked of SESSION_TASK_STATES) {
      const after = apply(taskIn('running'), {
        state: asked,
        inputRequest: { id: 'req_2', prompt: 'Pick one' },
      })
      expect(after.state).toBe('awaiting_input')
      expect(after.inputRequest).toStrictEqual({ id: 'req_2', prompt: 'Pick one' })
      expect('finishedAt' in after).toBe(false)
    }
  })

  test('an inputRequest on a queued task leaves queued and stamps startedAt', () => {
    const after = apply(taskIn('queued'), { inputRequest: { id: 'req_2', prompt: 'Ready?' } })
    expect(after.state).toBe('awaiting_input')
    expect(after.startedAt).toBe(NOW_ISO)
  })

  test.each(SESSION_TASK_STATES.filter(isTerminalState))(
    'an inputRequest on a %s task is ignored, with or without the same state',
    (state) => {
      const alone = apply(taskIn(state), { inputRequest: { id: 'req_2', prompt: 'Late?' } })
      expect(alone.state).toBe(state)
      expect('inputRequest' in alone).toBe(false)
      expect(alone.updatedAt).toBe(NOW_ISO)

      const withState = apply(taskIn(state), {
        state,
        inputRequest: { id: 'req_2', prompt: 'Late?' },
        summary: 'kept',
      })
      expect(withState.state).toBe(state)
      expect('inputRequest' in withState).toBe(false)
      expect(withState.summary).toBe('kept')
    },
  )

  test('a second inputRequest replaces the first and the task stays awaiting_input', () => {
    const first = apply(taskIn('running'), { inputRequest: { id: 'req_a', prompt: 'First?' } })
    const second = apply(
      first,
      { inputRequest: { id: 'req_b', prompt: 'Second?', expected: ['yes', 'no'] } },
      LATER,
    )
    expect(second.state).toBe('awaiting_input')
    expect(second.inputRequest).toStrictEqual({
      id: 'req_b',
      prompt: 'Second?',
      expected: ['yes', 'no'],
    })
    expect(second.updatedAt).toBe(LATER_ISO)
  })

  test('an inputRequest wins over state running on a task already awaiting input', () => {
    const after = apply(taskIn('awaiting_input'), {
      state: 'running',
      inputRequest: { id: 'req_b', prompt: 'Again?' },
    })
    expect(after.state).toBe('awaiting_input')
    expect(after.inputRequest).toStrictEqual({ id: 'req_b', prompt: 'Again?' })
  })

  test.each(SESSION_TASK_STATES.filter((s) => s !== 'awaiting_input'))(
    'leaving awaiting_input for %s clears the inputRequest',
    (to) => {
      const after = apply(taskIn('awaiting_input'), { state: to })
      expect(after.state).toBe(to)
      expect('inputRequest' in after).toBe(false)
    },
  )

  test('state awaiting_input without a request keeps the pending request', () => {
    const after = apply(taskIn('awaiting_input'), { state: 'awaiting_input', summary: 's' })
    expect(after.inputRequest).toStrictEqual({ id: 'req_1', prompt: 'Which branch?' })
  })
})

describe('rule 5: transition time stamps', () => {
  test('startedAt is stamped once on leaving queued and never re-stamped', () => {
    const queued = taskIn('queued')
    expect('startedAt' in queued).toBe(false)
    const running = apply(queued, { state: 'running' }, NOW)
    expect(running.startedAt).toBe(NOW_ISO)
    const requeued = apply(running, { state: 'queued' }, LATER)
    expect(requeued.state).toBe('queued')
    expect(requeued.startedAt).toBe(NOW_ISO)
    const again = apply(requeued, { state: 'running' }, LATEST)
    expect(again.startedAt).toBe(NOW_ISO)
    expect(again.updatedAt).toBe(LATEST_ISO)
  })

  test('staying in queued does not stamp startedAt', () => {
    const after = apply(taskIn('queued'), { summary: 'waiting', state: 'queued' })
    expect('startedAt' in after).toBe(false)
  })

  test('queued straight to a terminal state stamps startedAt and finishedAt at the same instant', () => {
    const after = apply(taskIn('queued'), { state: 'canceled' })
    expect(after.startedAt).toBe(NOW_ISO)
    expect(after.finishedAt).toBe(NOW_ISO)
  })

  test('finishedAt is stamped once on entering a terminal state and kept afterwards', () => {
    const done = apply(taskIn('running'), { state: 'succeeded' }, NOW)
    expect(done.finishedAt).toBe(NOW_ISO)
    expect(done.startedAt).toBe(T0)
    const enriched = apply(done, { state: 'succeeded', summary: 'more' }, LATER)
    expect(enriched.finishedAt).toBe(NOW_ISO)
    const dropped = apply(enriched, { state: 'failed' }, LATEST)
    expect(dropped.finishedAt).toBe(NOW_ISO)
    expect(dropped.state).toBe('succeeded')
  })

  test('a startedAt already present on a queued record is never re-stamped on leaving queued', () => {
    const task = taskIn('queued', { startedAt: T0 })
    const after = apply(task, { state: 'running' })
    expect(after.startedAt).toBe(T0)
  })

  test('a finishedAt already present on a live record is never re-stamped on entering a terminal state', () => {
    const task = taskIn('running', { finishedAt: T0 })
    const after = apply(task, { state: 'failed' })
    expect(after.state).toBe('failed')
    expect(after.finishedAt).toBe(T0)
  })

  test('non-terminal transitions never set finishedAt', () => {
    const a = apply(taskIn('queued'), { state: 'running' })
    const b = apply(a, { state: 'awaiting_input' }, LATER)
    const c = apply(b, { state: 'running' }, LATEST)
    for (const t of [a, b, c]) expect('finishedAt' in t).toBe(false)
  })
})

describe('rule 6: overwrites', () => {
  test('progress is replaced as a whole object, not merged', () => {
    const task = taskIn('running', {
      progress: {
        current: 1,
        total: 10,
        label: 'copying',
        steps: [{ title: 'a', status: 'done' }],
      },
    })
    const after = apply(task, { progress: { current: 2 } })
    expect(after.progress).toStrictEqual({ current: 2 })
  })

  test('text fields cannot be cleared: absent or undefined leaves them unchanged', () => {
    const task = taskIn('running', {
      resultPath: '/r.json',
      workerId: 'w1',
      heartbeatAt: HEARTBEAT,
      error: { kind: 'k', message: 'm' },
      progress: { current: 1 },
    })
    const absent = apply(task, {})
    const explicitUndefined = apply(
      taskIn('running', {
        resultPath: '/r.json',
        workerId: 'w1',
        heartbeatAt: HEARTBEAT,
        error: { kind: 'k', message: 'm' },
        progress: { current: 1 },
      }),
      {
        stateDetail: undefined,
        summary: undefined,
        resultPath: undefined,
        workerId: undefined,
        heartbeatAt: undefined,
        error: undefined,
        progress: undefined,
      } as unknown as SessionTaskUpdate,
    )
    for (const after of [absent, explicitUndefined]) {
      expect(after.stateDetail).toBe('old detail')
      expect(after.summary).toBe('old summary')
      expect(after.resultPath).toBe('/r.json')
      expect(after.workerId).toBe('w1')
      expect(after.heartbeatAt).toBe(HEARTBEAT)
      expect(after.error).toStrictEqual({ kind: 'k', message: 'm' })
      expect(after.progress).toStrictEqual({ current: 1 })
    }
  })

  test('empty strings are values: summary, stateDetail and resultPath can be set to ""', () => {
    const after = apply(taskIn('running', { resultPath: '/r.json' }), {
      summary: '',
      stateDetail: '',
      resultPath: '',
    })
    expect(after.summary).toBe('')
    expect(after.stateDetail).toBe('')
    expect(after.resultPath).toBe('')
  })
})

describe('rule 7: artifacts', () => {
  test('artifacts replaces the list, then appendArtifact is pushed', () => {
    const after = apply(taskIn('running'), { artifacts: [REPORT], appendArtifact: PR })
    expect(after.artifacts).toStrictEqual([REPORT, PR])
  })

  test('artifacts: [] clears the list', () => {
    const after = apply(taskIn('running'), { artifacts: [] })
    expect(after.artifacts).toStrictEqual([])
  })

  test('artifacts: [] with appendArtifact leaves only the appended one', () => {
    const after = apply(taskIn('running'), { artifacts: [], appendArtifact: PR })
    expect(after.artifacts).toStrictEqual([PR])
  })

  test('successive appendArtifact calls accumulate in order', () => {
    const a = apply(taskIn('running', { artifacts: [] }), { appendArtifact: REPORT })
    const b = apply(a, { appendArtifact: PR })
    const c = apply(b, { appendArtifact: REPORT })
    expect(c.artifacts).toStrictEqual([REPORT, PR, REPORT])
  })
})

describe('rule 8: links', () => {
  test('resourceIds are appended with de-duplication, also inside one update, order kept', () => {
    const task = taskIn('running', { links: { resourceIds: ['r1', 'r2'] } })
    const after = apply(task, { links: { resourceIds: ['r3', 'r2', 'r3', 'r4', 'r1', 'r4'] } })
    expect(after.links).toStrictEqual({ resourceIds: ['r1', 'r2', 'r3', 'r4'] })
  })

  test('childSessionId and remoteTaskId overwrite only when given', () => {
    const task = taskIn('running', {
      links: { childSessionId: 'child_1', remoteTaskId: 'remote_1', resourceIds: ['r1'] },
    })
    const onlyIds = apply(task, { links: { resourceIds: ['r2'] } })
    expect(onlyIds.links).toStrictEqual({
      childSessionId: 'child_1',
      remoteTaskId: 'remote_1',
      resourceIds: ['r1', 'r2'],
    })
    const child = apply(onlyIds, { links: { childSessionId: 'child_2' } })
    expect(child.links).toStrictEqual({
      childSessionId: 'child_2',
      remoteTaskId: 'remote_1',
      resourceIds: ['r1', 'r2'],
    })
    const remote = apply(child, { links: { remoteTaskId: 'remote_2' } })
    expect(remote.links).toStrictEqual({
      childSessionId: 'child_2',
      remoteTaskId: 'remote_2',
      resourceIds: ['r1', 'r2'],
    })
  })

  test('links that add nothing keep the record links unchanged', () => {
    const after = apply(taskIn('running'), { links: { resourceIds: [] } })
    expect(after.links).toStrictEqual({ childSessionId: 'child_1', resourceIds: ['r1'] })
    expect('remoteTaskId' in after.links).toBe(false)
  })
})

describe('rule 9: updatedAt', () => {
  test.each(SESSION_TASK_STATES)(
    'an empty update on a %s task still sets updatedAt = now',
    (state) => {
      const after = apply(taskIn(state), {}, LATER)
      expect(after).toStrictEqual({ ...taskIn(state), updatedAt: LATER_ISO })
    },
  )

  test('a content-neutral update (values equal to the stored ones) still sets updatedAt = now', () => {
    const task = taskIn('running')
    const after = apply(task, {
      state: 'running',
      summary: 'old summary',
      stateDetail: 'old detail',
      links: { childSessionId: 'child_1', resourceIds: ['r1'] },
    })
    expect(after).toStrictEqual({ ...taskIn('running'), updatedAt: NOW_ISO })
  })

  test('applyTaskUpdate returns a new record, never the mutated input', () => {
    const task = taskIn('running')
    const after = apply(task, { summary: 'x' })
    expect(after).not.toBe(task)
    expect(task.summary).toBe('old summary')
  })
})

// ---------------------------------------------------------------------------
// Property tests

const isoArb = fc
  .date({
    min: new Date('2020-01-01T00:00:00.000Z'),
    max: new Date('2030-01-01T00:00:00.000Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString())
const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/)
const textArb = fc.string({ maxLength: 6 })
const nonEmptyArb = fc.string({ minLength: 1, maxLength: 6 })
const stateArb = fc.constantFrom(...SESSION_TASK_STATES)
const resourceIdArb = fc.constantFrom('r1', 'r2', 'r3', 'r4')
const opts = { noNullPrototype: true } as const

const artifactArb = fc.record(
  { name: nonEmptyArb, type: fc.constantFrom('file', 'url', 'pr'), path: textArb, url: textArb },
  { ...opts, requiredKeys: ['name', 'type'] },
)
const progressArb = fc.record(
  {
    current: fc.nat(100),
    total: fc.nat(100),
    unit: textArb,
    label: textArb,
    steps: fc.array(
      fc.record(
        {
          title: nonEmptyArb,
          status: fc.constantFrom('pending', 'in_progress', 'done', 'skipped'),
        },
        opts,
      ),
      { maxLength: 3 },
    ),
  },
  { ...opts, requiredKeys: [] },
)
const inputRequestArb = fc.record(
  {
    id: idArb,
    prompt: nonEmptyArb,
    expected: fc.constantFrom(null, 'yes', 1, [1, 2], { choice: 'a' }),
  },
  { ...opts, requiredKeys: ['id', 'prompt'] },
)
const errorArb = fc.record({ kind: nonEmptyArb, message: textArb }, opts)

const taskArb: fc.Arbitrary<SessionTask> = fc.record(
  {
    id: idArb,
    sessionId: idArb,
    rootSessionId: idArb,
    kind: nonEmptyArb,
    displayName: nonEmptyArb,
    spec: fc.constantFrom(null, { a: 1 }, [1, 'x']),
    state: stateArb,
    stateChangedAt: isoArb,
    stateDetail: textArb,
    progress: progressArb,
    inputRequest: inputRequestArb,
    cancelRequestedAt: isoArb,
    summary: textArb,
    resultPath: textArb,
    artifacts: fc.array(artifactArb, { maxLength: 3 }),
    error: errorArb,
    attempt: fc.integer({ min: 1, max: 6 }),
    workerId: nonEmptyArb,
    heartbeatAt: isoArb,
    links: fc.record(
      {
        childSessionId: idArb,
        remoteTaskId: nonEmptyArb,
        resourceIds: fc.uniqueArray(resourceIdArb, { maxLength: 4 }),
      },
      { ...opts, requiredKeys: ['resourceIds'] },
    ),
    wakePolicy: fc.constantFrom('silent', 'on_terminal', 'on_activity'),
    createdAt: isoArb,
    startedAt: isoArb,
    finishedAt: isoArb,
    updatedAt: isoArb,
  },
  {
    ...opts,
    requiredKeys: [
      'id',
      'sessionId',
      'kind',
      'displayName',
      'spec',
      'state',
      'stateChangedAt',
      'artifacts',
      'attempt',
      'links',
      'wakePolicy',
      'createdAt',
      'updatedAt',
    ],
  },
)

const baseUpdateArb = fc.record(
  {
    state: stateArb,
    stateDetail: textArb,
    progress: progressArb,
    summary: textArb,
    resultPath: textArb,
    artifacts: fc.array(artifactArb, { maxLength: 3 }),
    appendArtifact: artifactArb,
    error: errorArb,
    links: fc.record(
      {
        childSessionId: idArb,
        remoteTaskId: nonEmptyArb,
        resourceIds: fc.array(resourceIdArb, { maxLength: 5 }),
      },
      { ...opts, requiredKeys: [] },
    ),
    workerId: nonEmptyArb,
    heartbeatAt: isoArb,
    incrementAttempt: fc.boolean(),
  },
  { ...opts, requiredKeys: [] },
)

/** `arb` one time in `1 + absentWeight`, otherwise absent. */
function sometimes<T>(arb: fc.Arbitrary<T>, absentWeight: number): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: absentWeight },
    { arbitrary: arb, weight: 1 },
  )
}

// Input requests and fences are rarer than plain content, so that transitions
// and enrichments are exercised often enough.
const updateArb: fc.Arbitrary<SessionTaskUpdate> = fc
  .tuple(baseUpdateArb, sometimes(inputRequestArb, 3), sometimes(fc.integer({ min: 1, max: 6 }), 1))
  .map(([base, inputRequest, expectedAttempt]) => {
    const update: Writable<SessionTaskUpdate> = { ...base }
    if (inputRequest !== undefined) update.inputRequest = inputRequest
    if (expectedAttempt !== undefined) update.expectedAttempt = expectedAttempt
    return update
  })

const nowArb = fc.date({
  min: new Date('2030-01-02T00:00:00.000Z'),
  max: new Date('2031-01-01T00:00:00.000Z'),
  noInvalidDate: true,
})

const RUNS = { numRuns: 250 }

function isDropped(task: SessionTask, update: SessionTaskUpdate): boolean {
  if (update.expectedAttempt !== undefined && update.expectedAttempt !== task.attempt) return true
  if (update.expectedState !== undefined && update.expectedState !== task.state) return true
  if (!isTerminalState(task.state)) return false
  // Rules 2 and 2b.
  return (
    (update.state !== undefined && update.state !== task.state) || update.incrementAttempt === true
  )
}

describe('applyTaskUpdate properties', () => {
  test('a terminal state stays final whatever the update', () => {
    fc.assert(
      fc.property(
        taskArb.filter((t) => isTerminalState(t.state)),
        updateArb,
        nowArb,
        (task, update, now) => {
          const after = apply(task, update, now)
          expect(after.state).toBe(task.state)
          if (task.inputRequest === undefined) expect('inputRequest' in after).toBe(false)
        },
      ),
      RUNS,
    )
  })

  test('startedAt and finishedAt never move once set', () => {
    fc.assert(
      fc.property(taskArb, updateArb, nowArb, (task, update, now) => {
        const { startedAt, finishedAt } = task
        const after = apply(task, update, now)
        if (startedAt !== undefined) expect(after.startedAt).toBe(startedAt)
        if (finishedAt !== undefined) expect(after.finishedAt).toBe(finishedAt)
      }),
      RUNS,
    )
  })

  test('a chain of updates never moves startedAt/finishedAt once stamped and keeps terminal final', () => {
    fc.assert(
      fc.property(
        stateArb,
        fc.array(fc.tuple(updateArb, nowArb), { minLength: 1, maxLength: 8 }),
        (initial, steps) => {
          let task = taskIn(initial)
          let startedAt = task.startedAt
          let finishedAt = task.finishedAt
          let terminal: SessionTaskState | undefined = isTerminalState(initial)
            ? initial
            : undefined
          for (const [update, now] of steps) {
            task = apply(task, update, now)
            if (startedAt !== undefined) expect(task.startedAt).toBe(startedAt)
            if (finishedAt !== undefined) expect(task.finishedAt).toBe(finishedAt)
            if (terminal !== undefined) expect(task.state).toBe(terminal)
            startedAt = task.startedAt
            finishedAt = task.finishedAt
            if (isTerminalState(task.state)) {
              terminal = task.state
              expect(task.finishedAt).toBeDefined()
            }
          }
        },
      ),
      RUNS,
    )
  })

  test('attempt never decreases and grows by exactly one on an applied incrementAttempt', () => {
    fc.assert(
      fc.property(taskArb, updateArb, nowArb, (task, update, now) => {
        const attempt = task.attempt
        const dropped = isDropped(task, update)
        const after = apply(task, update, now)
        expect(after.attempt).toBeGreaterThanOrEqual(attempt)
        expect(after.attempt).toBe(attempt + (!dropped && update.incrementAttempt === true ? 1 : 0))
      }),
      RUNS,
    )
  })

  test('a fenced update returns a record deep-equal to the input', () => {
    fc.assert(
      fc.property(
        taskArb,
        updateArb,
        nowArb,
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        (task, update, now, delta, lower) => {
          const expectedAttempt =
            lower && task.attempt - delta >= 1 ? task.attempt - delta : task.attempt + delta
          const snapshot = structuredClone(task)
          const after = apply(task, { ...update, expectedAttempt }, now)
          expect(after).toStrictEqual(snapshot)
        },
      ),
      RUNS,
    )
  })

  test('updatedAt is now for every update that is not dropped, untouched otherwise', () => {
    fc.assert(
      fc.property(taskArb, updateArb, nowArb, (task, update, now) => {
        const previous = task.updatedAt
        const dropped = isDropped(task, update)
        const after = apply(task, update, now)
        expect(after.updatedAt).toBe(dropped ? previous : now.toISOString())
      }),
      RUNS,
    )
  })

  test('a valid record and a valid update give a valid record', () => {
    fc.assert(
      fc.property(taskArb, updateArb, nowArb, (task, update, now) => {
        const after = apply(task, update, now)
        const parsed = SessionTaskSchema.safeParse(after)
        expect(parsed.error).toBeUndefined()
        expect(parsed.success).toBe(true)
      }),
      RUNS,
    )
  })

  test('the result is awaiting_input with the request whenever a non-terminal task gets an inputRequest', () => {
    fc.assert(
      fc.property(
        taskArb.filter((t) => !isTerminalState(t.state)),
        updateArb,
        inputRequestArb,
        nowArb,
        (task, update, request, now) => {
          const after = apply(task, { ...update, inputRequest: request }, now)
          if (isDropped(task, update)) return
          expect(after.state).toBe('awaiting_input')
          expect(after.inputRequest).toStrictEqual(request)
        },
      ),
      RUNS,
    )
  })
})

describe('version 0.2 fences (SPEC 12.2)', () => {
  const NOW2 = new Date('2026-06-01T00:00:00.000Z')
  test('rule 2b: incrementAttempt on a terminal task drops the whole update', () => {
    for (const state of ['succeeded', 'failed', 'canceled'] as const) {
      const task = taskIn(state)
      const outcome = applyTaskUpdateResult(task, { incrementAttempt: true, summary: 'late' }, NOW2)
      expect(outcome.dropped).toBe('terminal')
      expect(outcome.task).toBe(task)
      // An orphan bump that lost the race to a worker finishing `failed`.
      const orphan = applyTaskUpdateResult(
        task,
        { state, error: { kind: 'orphaned', message: 'x' }, incrementAttempt: true },
        NOW2,
      )
      expect(orphan.dropped).toBe('terminal')
    }
  })

  test('expectedState: a mismatch drops the whole update silently; a match applies it', () => {
    const task = taskIn('running')
    const miss = applyTaskUpdateResult(task, { expectedState: 'queued', state: 'failed' }, NOW2)
    expect(miss).toEqual({ task, dropped: 'fenced', changed: false })
    const hit = applyTaskUpdateResult(task, { expectedState: 'running', state: 'succeeded' }, NOW2)
    expect(hit.dropped).toBeUndefined()
    expect(hit.task.state).toBe('succeeded')
  })
})
