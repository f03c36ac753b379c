import { describe, expect, test } from 'vitest'
import type * as z from 'zod'
import * as api from '../src/index.js'
import {
  generateTaskId,
  generateTaskMessageId,
  isTerminalState,
  parseTaskState,
  SESSION_TASK_STATES,
  TASK_KIND_AGENT_HANDOFF,
  TASK_KIND_BACKGROUND_TOOL,
  TASK_KIND_EXTERNAL_AGENT,
  TASK_KIND_MONITOR,
  TASK_KIND_SESSION,
  TASK_KIND_SUBAGENT,
  taskMessageText,
  taskResultPath,
  taskVfsDir,
} from '../src/index.js'
import * as schemas from '../src/model/schemas.js'
import * as supervisorSchemas from '../src/model/supervisor-schemas.js'

describe('states', () => {
  test('SESSION_TASK_STATES lists the six states in lifecycle order', () => {
    expect([...SESSION_TASK_STATES]).toStrictEqual([
      'queued',
      'running',
      'awaiting_input',
      'succeeded',
      'failed',
      'canceled',
    ])
  })

  test('only succeeded, failed and canceled are terminal', () => {
    expect(SESSION_TASK_STATES.filter((s) => isTerminalState(s))).toStrictEqual([
      'succeeded',
      'failed',
      'canceled',
    ])
    expect(SESSION_TASK_STATES.map((s) => isTerminalState(s))).toStrictEqual([
      false,
      false,
      false,
      true,
      true,
      true,
    ])
  })

  test.each(SESSION_TASK_STATES)('parseTaskState accepts exactly %s', (state) => {
    expect(parseTaskState(state)).toBe(state)
  })

  test.each([
    'Running',
    ' running',
    'running ',
    'RUNNING',
    'done',
    'cancelled',
    'awaiting-input',
    'timeout',
    '',
    'toString',
    'constructor',
    '__proto__',
  ])('parseTaskState is strict: %j -> undefined', (input) => {
    expect(parseTaskState(input)).toBeUndefined()
  })
})

describe('kind constants', () => {
  test('TASK_KIND_* have their wire values', () => {
    expect({
      TASK_KIND_SUBAGENT,
      TASK_KIND_EXTERNAL_AGENT,
      TASK_KIND_BACKGROUND_TOOL,
      TASK_KIND_MONITOR,
      TASK_KIND_SESSION,
      TASK_KIND_AGENT_HANDOFF,
    }).toStrictEqual({
      TASK_KIND_SUBAGENT: 'subagent',
      TASK_KIND_EXTERNAL_AGENT: 'external_agent',
      TASK_KIND_BACKGROUND_TOOL: 'background_tool',
      TASK_KIND_MONITOR: 'monitor',
      TASK_KIND_SESSION: 'session',
      TASK_KIND_AGENT_HANDOFF: 'agent_handoff',
    })
  })
})

describe('ids', () => {
  test('generateTaskId gives task_ and 21 nanoid characters, unique over 10k ids', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const id = generateTaskId()
      expect(id).toMatch(/^task_[A-Za-z0-9_-]{21}$/)
      ids.add(id)
    }
    expect(ids.size).toBe(10_000)
  })

  test('generateTaskMessageId gives tmsg_ and 21 nanoid characters, unique over 10k ids', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const id = generateTaskMessageId()
      expect(id).toMatch(/^tmsg_[A-Za-z0-9_-]{21}$/)
      ids.add(id)
    }
    expect(ids.size).toBe(10_000)
  })
})

describe('taskMessageText', () => {
  test('text parts are joined by \\n in order and data parts skipped', () => {
    expect(
      taskMessageText([
        { type: 'text', text: 'first' },
        { type: 'data', data: { progress: 1 } },
        { type: 'text', text: 'second' },
        { type: 'data', data: 'not text' },
        { type: 'text', text: 'third' },
      ]),
    ).toBe('first\nsecond\nthird')
  })

  test('empty text parts are kept', () => {
    expect(
      taskMessageText([
        { type: 'text', text: 'a' },
        { type: 'text', text: '' },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('a\n\nb')
    expect(
      taskMessageText([
        { type: 'text', text: '' },
        { type: 'text', text: '' },
      ]),
    ).toBe('\n')
  })

  test('no text parts gives ""', () => {
    expect(taskMessageText([])).toBe('')
    expect(taskMessageText([{ type: 'data', data: { a: 1 } }])).toBe('')
  })

  test('a single text part is returned as is, inner newlines included', () => {
    expect(taskMessageText([{ type: 'text', text: 'line 1\nline 2' }])).toBe('line 1\nline 2')
  })
})

describe('paths', () => {
  test('taskVfsDir is /.tasks/{id}', () => {
    expect(taskVfsDir('task_abc')).toBe('/.tasks/task_abc')
    expect(taskVfsDir('my-task_1')).toBe('/.tasks/my-task_1')
  })

  test('taskResultPath is /.tasks/{id}/result.json', () => {
    expect(taskResultPath('task_abc')).toBe('/.tasks/task_abc/result.json')
    expect(taskResultPath('my-task_1')).toBe('/.tasks/my-task_1/result.json')
  })
})

// ---------------------------------------------------------------------------
// Schemas

const ISO = '2026-01-01T00:00:00.000Z'

const validTask = {
  id: 'task_1',
  sessionId: 'sess_1',
  kind: 'subagent',
  displayName: 'Research',
  spec: null,
  state: 'queued',
  stateChangedAt: ISO,
  artifacts: [],
  attempt: 1,
  links: { resourceIds: [] },
  wakePolicy: 'silent',
  createdAt: ISO,
  updatedAt: ISO,
}

const fullTask = {
  ...validTask,
  rootSessionId: 'root_1',
  spec: { a: [1, { b: null }] },
  state: 'awaiting_input',
  stateDetail: '',
  progress: { current: 1, total: 2, unit: 'files', label: 'copy', steps: [] },
  inputRequest: { id: 'req_1', prompt: 'Which?', expected: ['a', 'b'] },
  cancelRequestedAt: ISO,
  summary: '',
  resultPath: '/.tasks/task_1/result.json',
  result: [1, { ok: true }],
  metadata: { owner: 'ana' },
  expiresAt: ISO,
  artifacts: [{ name: 'report', type: 'file', path: '/r.md' }],
  error: { kind: 'timeout', message: '' },
  attempt: 3,
  workerId: 'w1',
  heartbeatAt: ISO,
  links: { childSessionId: 'child', remoteTaskId: 'remote', resourceIds: ['r1'] },
  wakePolicy: 'on_activity',
  startedAt: ISO,
  finishedAt: ISO,
}

type SchemaCase = { valid: unknown[]; invalid: unknown[] }

const fn = () => undefined

// What a supervisor calls on its registry: the shape its options are checked against.
const REGISTRY_SHAPE = Object.fromEntries(
  [
    'create',
    'update',
    'updateWithOutcome',
    'get',
    'requestCancel',
    'recordMessage',
    'subscribe',
    'subscribeAll',
    'listStale',
    'prune',
    'now',
  ].map((m) => [m, () => undefined]),
)

const CASES: Record<string, SchemaCase> = {
  AttemptSchema: {
    valid: [1, 2, 1000],
    invalid: [0, -1, 1.5, '1', Number.NaN],
  },
  ClaimOptionsSchema: {
    valid: [{ expectedAttempt: 1 }, { expectedAttempt: 2, limits: { global: 1 }, workerId: 'w' }],
    invalid: [
      {},
      { expectedAttempt: 0 },
      { expectedAttempt: 1, workerId: '' },
      { expectedAttempt: 1, x: 1 },
    ],
  },
  ListOverdueOptionsSchema: {
    valid: [{ deadlineBefore: new Date(0) }, { deadlineBefore: new Date(0), limit: 5 }],
    invalid: [
      {},
      { deadlineBefore: 'now' },
      { deadlineBefore: new Date(Number.NaN) },
      { deadlineBefore: new Date(0), limit: 0 },
    ],
  },
  ListQueuedOptionsSchema: {
    valid: [{}, { kinds: ['a', 'b'], limit: 3 }, { kinds: [] }],
    invalid: [{ kinds: [''] }, { kinds: 'a' }, { limit: 0 }, { state: 'queued' }],
  },
  ConcurrencyLimitsSchema: {
    valid: [{}, { global: 1, perSession: 2, perKind: 3 }],
    invalid: [{ global: 0 }, { perKind: 1.5 }, { perSession: -1 }, { perTask: 1 }],
  },
  DurationMsSchema: {
    valid: [1, 60_000],
    invalid: [0, -5, 0.5, Number.POSITIVE_INFINITY, '100'],
  },
  FunctionSchema: {
    valid: [fn, async () => 1, Date],
    invalid: [null, {}, 'fn', 1],
  },
  HousekeepingOptionsSchema: {
    valid: [
      {},
      {
        intervalMs: 1,
        staleAfterMs: 2,
        maxAttempts: 3,
        retainFinishedMs: 0,
        limit: 4,
        onError: fn,
      },
    ],
    invalid: [{ intervalMs: 0 }, { retainFinishedMs: -1 }, { onError: 'log' }, { every: 1 }],
  },
  NewSinkMessageSchema: {
    valid: [
      { content: [{ type: 'text', text: 'hi' }] },
      { direction: 'outbound', content: [{ type: 'data', data: 1 }], expectedAttempt: 1 },
    ],
    invalid: [
      { direction: 'inbound', content: [{ type: 'text', text: 'hi' }] },
      { content: [] },
      { content: [{ type: 'text', text: 'hi' }], extra: 1 },
    ],
  },
  ReapOptionsSchema: {
    valid: [{}, { staleAfterMs: 1000, maxAttempts: 3, limit: 50 }],
    invalid: [{ staleAfterMs: 0 }, { maxAttempts: 1.5 }, { limit: -1 }, { dryRun: true }],
  },
  RegistryOptionsSchema: {
    valid: [{}, { now: () => new Date(0), onListenerError: fn, replayBuffer: 0 }],
    invalid: [{ now: new Date(0) }, { replayBuffer: -1 }, { onListenerError: 1 }, { x: 1 }],
  },
  SpawnOptionsSchema: {
    valid: [{}, { timeoutMs: 1 }, { signal: new AbortController().signal }],
    invalid: [{ timeoutMs: 0 }, { timeoutMs: '1' }, { retries: 1 }, { signal: {} }],
  },
  CancelOptionsSchema: {
    valid: [{}, { reason: 'user stopped it' }, { signal: new AbortController().signal }],
    invalid: [{ reason: '' }, { reason: 1 }, { signal: 'abort' }, { force: true }],
  },
  MessageOptionsSchema: {
    valid: [{}, { signal: new AbortController().signal }],
    invalid: [{ signal: true }, { timeoutMs: 1 }],
  },
  WakeWaitOptionsSchema: {
    valid: [{}, { timeoutMs: 1 }, { signal: new AbortController().signal }],
    invalid: [{ timeoutMs: 0 }, { timeoutMs: 1.5 }, { signal: 'x' }, { until: 'terminal' }],
  },
  WaitRefsSchema: {
    valid: [
      { refs: [{ sessionId: 's', taskId: 't' }] },
      {
        refs: [
          { sessionId: 's', taskId: 't' },
          { sessionId: 's2', taskId: 't' },
        ],
      },
    ],
    invalid: [
      { refs: [] },
      { refs: [{ sessionId: 's' }] },
      { refs: [{ sessionId: '', taskId: 't' }] },
      {
        refs: [
          { sessionId: 's', taskId: 't' },
          { sessionId: 's', taskId: 't' },
        ],
      },
      { refs: 's/t' },
    ],
  },
  SupervisorMessageSchema: {
    valid: [
      { text: 'hello' },
      { text: '' },
      { content: [{ type: 'text', text: 'x' }], inReplyTo: 'req_1' },
    ],
    invalid: [
      {},
      { text: 'a', content: [{ type: 'text', text: 'b' }] },
      { content: [] },
      { text: 'a', inReplyTo: '' },
      { text: 'a', other: 1 },
    ],
  },
  SupervisorOptionsSchema: {
    valid: [
      { registry: REGISTRY_SHAPE },
      {
        registry: REGISTRY_SHAPE,
        executors: {},
        now: () => new Date(0),
        cancelGraceMs: 0,
        concurrency: { global: 2 },
        dispatch: 'shared',
        sweepIntervalMs: 100,
        workerId: 'w1',
        onError: fn,
      },
    ],
    invalid: [
      {},
      { registry: null },
      { registry: {} },
      { registry: REGISTRY_SHAPE, cancelGraceMs: -1 },
      { registry: REGISTRY_SHAPE, concurrency: { global: 0 } },
      { registry: REGISTRY_SHAPE, unknown: 1 },
      { registry: REGISTRY_SHAPE, dispatch: 'everywhere' },
      { registry: REGISTRY_SHAPE, sweepIntervalMs: 0 },
    ],
  },
  TaskExecutorPluginSchema: {
    valid: [{ kind: 'subagent', executor: fn }],
    invalid: [{ kind: '', executor: fn }, { kind: 'k' }, { kind: 'k', executor: {} }],
  },
  TaskKindSchema: {
    valid: ['subagent', 'x', 'custom kind'],
    invalid: ['', 1, null],
  },
  TaskOutputSchema: {
    valid: [
      { stream: 'stdout', delta: '' },
      { stream: 'stderr', delta: 'x', expectedAttempt: 2 },
    ],
    invalid: [
      { stream: '', delta: 'x' },
      { stream: 'stdout' },
      { stream: 'stdout', delta: 'x', expectedAttempt: 0 },
      { stream: 'stdout', delta: 'x', seq: 1 },
    ],
  },
  WaitOptionsSchema: {
    valid: [
      {},
      { until: 'terminal' },
      { until: 'settled', timeoutMs: 10, signal: new AbortController().signal },
    ],
    invalid: [{ until: 'done' }, { timeoutMs: 0 }, { signal: 'abort' }, { poll: true }],
  },
  CallerTaskIdSchema: {
    valid: ['a', 'task_AZ-09', 'x'.repeat(128)],
    invalid: ['', 'x'.repeat(129), 'a/b', 'a b', '..', 'é', 1],
  },
  CreateSessionTaskSchema: {
    valid: [
      { sessionId: 's', kind: 'k', displayName: 'd' },
      {
        sessionId: 's',
        id: 'task-1',
        kind: 'k',
        displayName: 'd',
        spec: { x: 1 },
        state: 'succeeded',
        links: { resourceIds: ['r'] },
        wakePolicy: 'on_terminal',
        rootSessionId: 'root',
      },
    ],
    invalid: [
      { sessionId: 's', kind: 'k' },
      { sessionId: 's', kind: 'k', displayName: 'd', extra: 1 },
      { sessionId: 's', kind: '', displayName: 'd' },
      { sessionId: 's', kind: 'k', displayName: 'd', id: 'a/b' },
      { sessionId: 's', kind: 'k', displayName: 'd', state: 'done' },
      { sessionId: 's', kind: 'k', displayName: 'd', rootSessionId: null },
      { sessionId: 's', kind: 'k', displayName: 'd', spec: () => 1 },
    ],
  },
  InputRequestIdSchema: {
    valid: ['r', 'req 1 with spaces', 'x'.repeat(256)],
    invalid: ['', 'x'.repeat(257), 'a\nb', 'a\u0000', 'a\u007f', 'a\u0085', 7],
  },
  QueryTasksOptionsSchema: {
    valid: [
      {},
      { sessionIds: ['s1'], kind: 'k', state: 'running', limit: 1000 },
      { updatedAfter: new Date(0) },
      { updatedAfter: ISO, cursor: `12~${ISO}` },
    ],
    invalid: [
      { limit: 0 },
      { limit: 1001 },
      { cursor: 'abc' },
      { cursor: '12~yesterday' },
      { updatedAfter: 'yesterday' },
      { sessionIds: [''] },
      { sessionIds: Array.from({ length: 1001 }, (_, i) => `s${i}`) },
      { state: 'done' },
      { other: 1 },
    ],
  },
  JsonObjectSchema: {
    valid: [{}, { a: { b: [null] } }],
    invalid: [null, [], 'x', 1, { a: () => 1 }],
  },
  JsonValueSchema: {
    valid: [null, true, 'x', 0, [1, 'a'], { a: { b: [null] } }],
    invalid: [undefined, () => 1, Symbol('s'), 1n, Number.NaN, new Date(0), new Map()],
  },
  ListMessagesOptionsSchema: {
    valid: [{}, { limit: 1 }, { limit: 5, afterId: 'tmsg_1' }],
    invalid: [{ limit: 0 }, { limit: 1.5 }, { limit: -1 }, { afterId: '' }, { cursor: 'x' }],
  },
  ListStaleOptionsSchema: {
    valid: [{ heartbeatBefore: new Date(0) }, { heartbeatBefore: new Date(0), limit: 3 }],
    invalid: [
      {},
      { heartbeatBefore: ISO },
      { heartbeatBefore: new Date('nope') },
      { heartbeatBefore: new Date(0), limit: 0 },
      { heartbeatBefore: new Date(0), other: 1 },
    ],
  },
  NewTaskMessageSchema: {
    valid: [
      { direction: 'inbound', content: [{ type: 'text', text: '' }] },
      {
        direction: 'outbound',
        content: [{ type: 'data', data: { a: 1 } }],
        inReplyTo: 'req_1',
        expectedAttempt: 2,
      },
      { id: 'msg-from-a-client', direction: 'inbound', content: [{ type: 'text', text: 'x' }] },
    ],
    invalid: [
      { direction: 'inbound', content: [] },
      { direction: 'sideways', content: [{ type: 'text', text: 'x' }] },
      { direction: 'inbound', content: [{ type: 'text', text: 'x' }], expectedAttempt: 0 },
      { direction: 'inbound', content: [{ type: 'text', text: 'x' }], inReplyTo: '' },
      { direction: 'inbound', content: [{ type: 'text', text: 'x' }], id: '' },
      { direction: 'inbound', content: [{ type: 'text', text: 'x' }], id: 'a\u0000b' },
    ],
  },
  PruneOptionsSchema: {
    valid: [{ finishedBefore: new Date(0) }, { finishedBefore: new Date(0), limit: 100 }],
    invalid: [
      {},
      { finishedBefore: 0 },
      { finishedBefore: new Date(Number.NaN) },
      { finishedBefore: new Date(0), limit: -2 },
    ],
  },
  SessionIdSchema: {
    valid: ['s', 'session with spaces/and:colons', 'x'.repeat(256)],
    invalid: ['', 'x'.repeat(257), 'a\tb', 'a\u009f', null],
  },
  SessionTaskFilterSchema: {
    valid: [{}, { kind: 'k' }, { state: 'running' }, { kind: 'k', state: 'failed' }],
    invalid: [{ state: ['running'] }, { state: 'done' }, { kind: '' }, { other: 1 }],
  },
  SessionTaskSchema: {
    valid: [validTask, fullTask],
    invalid: [
      { ...validTask, summary: null },
      { ...validTask, attempt: 0 },
      { ...validTask, createdAt: '2026-01-01 00:00' },
      { ...validTask, links: {} },
      { ...validTask, extra: true },
      { ...validTask, state: 'timeout' },
      { ...validTask, metadata: [1] },
      { ...validTask, metadata: null },
      { ...validTask, expiresAt: 'tomorrow' },
      (({ stateChangedAt: _at, ...rest }) => rest)(validTask),
      (({ spec: _spec, ...rest }) => rest)(validTask),
    ],
  },
  SessionTaskStateSchema: {
    valid: [...SESSION_TASK_STATES],
    invalid: ['Running', 'done', '', null],
  },
  SessionTaskUpdateSchema: {
    valid: [
      {},
      {
        state: 'running',
        stateDetail: '',
        progress: { current: 0 },
        inputRequest: { id: 'r', prompt: 'p' },
        summary: '',
        resultPath: '',
        artifacts: [],
        appendArtifact: { name: 'n', type: 't' },
        error: { kind: 'k', message: '' },
        links: { resourceIds: [] },
        workerId: 'w',
        heartbeatAt: ISO,
        expectedAttempt: 1,
        incrementAttempt: true,
      },
    ],
    invalid: [
      { state: 'done' },
      { summary: null },
      { heartbeatAt: 'yesterday' },
      { expectedAttempt: 0 },
      { workerId: '' },
      { progress: { current: -1 } },
      { bogus: 1 },
    ],
  },
  StreamOptionsSchema: {
    valid: [{}, { since: 0 }, { since: 5, signal: new AbortController().signal, maxQueue: 1 }],
    invalid: [{ since: -1 }, { maxQueue: 0 }, { signal: {} }, { other: 1 }],
  },
  TaskArtifactSchema: {
    valid: [
      { name: 'n', type: 'file' },
      { name: 'n', type: 'url', url: 'https://x', path: '' },
    ],
    invalid: [{ name: '', type: 'file' }, { name: 'n' }, { name: 'n', type: 'file', size: 3 }],
  },
  TaskErrorSchema: {
    valid: [
      { kind: 'timeout', message: '' },
      { kind: 'k', message: 'm' },
    ],
    invalid: [{ kind: '', message: 'm' }, { kind: 'k' }, { kind: 'k', message: 'm', code: 1 }],
  },
  TaskIdSchema: {
    valid: ['t', 'task_abc', 'x'.repeat(256)],
    invalid: ['', 'x'.repeat(257), 'a\rb', 3],
  },
  TaskInputRequestSchema: {
    valid: [
      { id: 'r', prompt: 'p' },
      { id: 'r', prompt: 'p', expected: { type: 'string' } },
    ],
    invalid: [
      { id: '', prompt: 'p' },
      { id: 'r', prompt: '' },
      { id: 'r', prompt: 'p', expected: () => 1 },
      { id: 'r', prompt: 'p', other: 1 },
    ],
  },
  TaskLinksInputSchema: {
    valid: [{}, { resourceIds: ['a', 'a'] }, { childSessionId: 'c', remoteTaskId: 'r' }],
    invalid: [{ resourceIds: [''] }, { childSessionId: '' }, { remoteTaskId: null }, { x: 1 }],
  },
  TaskLinksSchema: {
    valid: [{ resourceIds: [] }, { childSessionId: 'c', remoteTaskId: 'r', resourceIds: ['a'] }],
    invalid: [{}, { resourceIds: [''] }, { resourceIds: [], extra: 1 }],
  },
  WireTaskLinksSchema: {
    valid: [
      { resource_ids: [] },
      { child_session_id: 'c', remote_task_id: 'r', resource_ids: ['a'] },
    ],
    invalid: [{}, { resourceIds: [] }, { resource_ids: [''] }],
  },
  WireTaskMessageSchema: {
    valid: [
      {
        id: 'tmsg_1',
        task_id: 'task_1',
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
        in_reply_to: 'q1',
        created_at: ISO,
      },
    ],
    invalid: [
      {
        id: 'tmsg_1',
        taskId: 'task_1',
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
        createdAt: ISO,
      },
      { id: 'tmsg_1', task_id: 'task_1', direction: 'outbound', content: [], created_at: ISO },
    ],
  },
  WireSessionTaskSchema: {
    valid: [
      {
        id: 'task_1',
        session_id: 's',
        kind: 'k',
        display_name: 'd',
        spec: null,
        state: 'queued',
        artifacts: [],
        attempt: 1,
        links: { resource_ids: [] },
        wake_policy: 'silent',
        created_at: ISO,
        updated_at: ISO,
      },
    ],
    invalid: [
      {
        id: 'task_1',
        sessionId: 's',
        kind: 'k',
        displayName: 'd',
        spec: null,
        state: 'queued',
        artifacts: [],
        attempt: 1,
        links: { resourceIds: [] },
        wakePolicy: 'silent',
        createdAt: ISO,
        updatedAt: ISO,
      },
      { id: 'task_1' },
    ],
  },
  TaskMessageDirectionSchema: {
    valid: ['inbound', 'outbound'],
    invalid: ['in', 'Inbound', ''],
  },
  TaskMessagePartSchema: {
    valid: [
      { type: 'text', text: '' },
      { type: 'data', data: null },
      { type: 'data', data: { a: [1] } },
    ],
    invalid: [
      { type: 'text' },
      { type: 'image', url: 'x' },
      { type: 'text', text: 'x', data: 1 },
      { type: 'data', data: Number.POSITIVE_INFINITY },
    ],
  },
  TaskMessageSchema: {
    valid: [
      {
        id: 'tmsg_1',
        taskId: 'task_1',
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
        createdAt: ISO,
      },
      {
        id: 'tmsg_1',
        taskId: 'task_1',
        direction: 'inbound',
        content: [{ type: 'data', data: 1 }],
        inReplyTo: 'req_1',
        createdAt: ISO,
      },
    ],
    invalid: [
      { id: 'tmsg_1', taskId: 'task_1', direction: 'outbound', content: [], createdAt: ISO },
      {
        id: 'tmsg_1',
        taskId: 'task_1',
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
        createdAt: ISO,
        expectedAttempt: 1,
      },
      {
        id: 'tmsg_1',
        taskId: 'task_1',
        direction: 'outbound',
        content: [{ type: 'text', text: 'hi' }],
      },
    ],
  },
  TaskProgressSchema: {
    valid: [
      {},
      {
        current: 0,
        total: 10,
        unit: '',
        label: 'l',
        steps: [
          { title: 'a', status: 'pending' },
          { title: 'b', status: 'in_progress' },
          { title: 'c', status: 'done' },
          { title: 'd', status: 'skipped' },
        ],
      },
    ],
    invalid: [
      { current: -1 },
      { total: 1.5 },
      { steps: [{ title: 'a', status: 'finished' }] },
      { steps: [{ title: '', status: 'done' }] },
      { percent: 3 },
    ],
  },
  TaskStepSchema: {
    valid: [{ title: 't', status: 'done' }],
    invalid: [{ title: '', status: 'done' }, { title: 't' }, { title: 't', status: 'done', x: 1 }],
  },
  TaskStepStatusSchema: {
    valid: ['pending', 'in_progress', 'done', 'skipped'],
    invalid: ['in-progress', 'Done', ''],
  },
  TaskWakePolicySchema: {
    valid: ['silent', 'on_terminal', 'on_activity'],
    invalid: ['onTerminal', 'never', ''],
  },
  TaskWakeSchema: {
    valid: [{ sessionId: 's', taskId: 't', transition: 'terminal', text: '', createdAt: ISO }],
    invalid: [
      { sessionId: 's', taskId: 't', transition: 'done', text: '', createdAt: ISO },
      { sessionId: 's', taskId: 't', transition: 'message', createdAt: ISO },
      { sessionId: '', taskId: 't', transition: 'message', text: 'x', createdAt: ISO },
    ],
  },
  TaskWakeTransitionSchema: {
    valid: ['terminal', 'awaiting_input', 'message'],
    invalid: ['finished', 'awaiting-input', ''],
  },
}

// The record and input schemas are public (root); the option schemas of
// internal functions live in src/model only.
const allSchemas: Record<string, unknown> = { ...schemas, ...supervisorSchemas, ...api }
const exportedSchemaNames = Object.keys(allSchemas).filter((name) => name.endsWith('Schema'))

describe('schemas', () => {
  test('the root exports the record and input schemas, not the internal option schemas', () => {
    const root = Object.keys(api).filter((name) => name.endsWith('Schema'))
    for (const name of root) expect(exportedSchemaNames).toContain(name)
    for (const internal of ['SupervisorOptionsSchema', 'ReapOptionsSchema', 'FunctionSchema']) {
      expect(root).not.toContain(internal)
    }
    expect(root).toContain('SessionTaskSchema')
    expect(root).toContain('SessionTaskUpdateSchema')
  })

  test('every ...Schema has a case in this table', () => {
    const names = [...exportedSchemaNames].sort()
    expect(names.length).toBeGreaterThan(0)
    expect(names).toStrictEqual(Object.keys(CASES).sort())
  })

  test('every public type of SPEC 1 has a schema of the same name', () => {
    for (const type of [
      'SessionTaskState',
      'TaskWakePolicy',
      'TaskProgress',
      'TaskInputRequest',
      'TaskError',
      'TaskArtifact',
      'TaskLinks',
      'SessionTask',
      'CreateSessionTask',
      'SessionTaskUpdate',
      'SessionTaskFilter',
      'TaskMessageDirection',
      'TaskMessagePart',
      'TaskMessage',
      'NewTaskMessage',
      'TaskWake',
    ]) {
      expect(Object.hasOwn(api, `${type}Schema`), `${type}Schema`).toBe(true)
    }
  })

  describe.each(Object.entries(CASES))('%s', (name, cases) => {
    const schema = allSchemas[name] as z.ZodType | undefined
    test('accepts valid values', () => {
      expect(schema, `${name} is exported`).toBeDefined()
      if (schema === undefined) return
      for (const value of cases.valid) {
        const result = schema.safeParse(value)
        expect(result.error, `${name} should accept ${String(JSON.stringify(value))}`).toBe(
          undefined,
        )
        expect(result.success).toBe(true)
      }
    })

    test('rejects invalid values', () => {
      expect(schema, `${name} is exported`).toBeDefined()
      if (schema === undefined) return
      expect(cases.invalid.length).toBeGreaterThan(0)
      for (const value of cases.invalid) {
        const result = schema.safeParse(value)
        expect(
          result.success,
          `${name} should reject ${typeof value === 'bigint' ? 'bigint' : String(JSON.stringify(value))}`,
        ).toBe(false)
      }
    })
  })

  test('SessionTaskUpdateSchema normalises heartbeatAt to toISOString form', () => {
    const parsed = api.SessionTaskUpdateSchema.parse({ heartbeatAt: '2026-01-01T00:00:00Z' })
    expect(parsed.heartbeatAt).toBe('2026-01-01T00:00:00.000Z')
  })
})
