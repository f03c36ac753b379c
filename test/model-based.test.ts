/**
 * Model-based reliability tests (SPEC sections 3, 4, 5, 8 and 9).
 *
 * Every property run draws a random sequence of operations over three sessions
 * (registry create/update/requestCancel/recordMessage/listMessages/get/list/
 * prune/deleteSession, invalid input, RegistryTaskSink writes with random
 * attempts, supervisor spawn/cancel/message/reap with trivial executors from
 * an isolated `TaskExecutorRegistry`, and clock ticks). After EVERY step the
 * registry is compared with a small, independent reference model (records,
 * return values, the exact event list of every listener) and a set of
 * invariants is checked on what was really observed:
 *   - terminal states are final; startedAt / finishedAt are set once and never
 *     move; attempt never decreases; createdAt/updatedAt never go back;
 *   - a fenced (stale) write changes nothing and emits nothing;
 *   - a record change emits task.updated (exactly one per single write), no
 *     change emits none, and the last snapshot of the step equals the record;
 *   - the events of one task arrive in operation order (monotone snapshots);
 *   - session isolation: B's listeners, get and list never show A's tasks, and
 *     listeners of a deleted session never hear anything again;
 *   - at most one terminal wake per task.
 *
 * Replaying a failure: fast-check prints the counterexample together with
 * `seed` and `path`, e.g. `{ seed: 1234567, path: "41:2:0:5", endOnFailure: true }`.
 * Replay exactly that (shrunk) case with
 *     FC_SEED=1234567 FC_PATH="41:2:0:5" npx vitest run test/model-based.test.ts
 * which passes `{ seed, path }` to `fc.assert` (equivalently, edit the call to
 * `fc.assert(property, { seed: 1234567, path: '41:2:0:5' })`). FC_SEED alone
 * re-runs the whole seeded batch.
 *
 * Long runs: LONG_RUNS=<factor> multiplies the number of sequences (default
 * 300), e.g. `LONG_RUNS=20 npx vitest run test/model-based.test.ts`.
 */

import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type CreateSessionTask,
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isNoExecutorError,
  isStaleAttemptError,
  isTaskConflictError,
  isTaskNotFoundError,
  isValidationError,
  type JsonValue,
  type MessageDelivery,
  type NewTaskMessage,
  type ReapResult,
  RegistryTaskSink,
  type SessionTask,
  type SessionTaskEventType,
  type SessionTaskFilter,
  type SessionTaskState,
  type SessionTaskUpdate,
  type TaskArtifact,
  TaskExecutorRegistry,
  type TaskInputRequest,
  type TaskLinks,
  type TaskLinksInput,
  type TaskMessage,
  type TaskMessagePart,
  type TaskProgress,
  type TaskSupervisor,
  type TaskWakePolicy,
} from '../src/index.js'
import type { Writable } from './fixtures/writable.js'

// ---------------------------------------------------------------------------
// Constants and small helpers
// ---------------------------------------------------------------------------

const SESSIONS = ['sess-a', 'sess-b', 'sess-c'] as const
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const MIN = 60_000
const STATES = [
  'queued',
  'running',
  'awaiting_input',
  'succeeded',
  'failed',
  'canceled',
] as const satisfies readonly SessionTaskState[]
const TERMINAL: ReadonlySet<SessionTaskState> = new Set(['succeeded', 'failed', 'canceled'])
const isTerminal = (s: SessionTaskState) => TERMINAL.has(s)
const KINDS = ['work', 'lazy', 'boom', 'orphan'] as const
type Kind = (typeof KINDS)[number]
const POLICIES = ['silent', 'on_terminal', 'on_activity'] as const satisfies TaskWakePolicy[]
const CALLER_IDS = ['c1', 'c2', 'c3'] as const

const LONG = Math.max(1, Number(process.env.LONG_RUNS ?? '1') || 1)
const NUM_RUNS = 300 * LONG

const sessionAt = (i: number): string => SESSIONS[((i % 3) + 3) % 3] as string

function clone<T>(value: T): Writable<T> {
  return structuredClone(value) as Writable<T>
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort())
      out[key] = sortKeys((value as Record<string, unknown>)[key])
    return out
  }
  return value
}
const canon = (value: unknown): string => JSON.stringify(sortKeys(value))
const sameJson = (a: unknown, b: unknown): boolean => canon(a) === canon(b)

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }
async function settle<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() }
  } catch (error) {
    return { ok: false, error }
  }
}
function resultOf<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) {
    throw new Error(`operation threw unexpectedly: ${String(outcome.error)}`, {
      cause: outcome.error,
    })
  }
  return outcome.value
}
function expectError(outcome: Outcome<unknown>, guard: (e: unknown) => boolean, name: string) {
  if (outcome.ok) throw new Error(`expected ${name}, got ${JSON.stringify(outcome.value)}`)
  if (!guard(outcome.error)) throw new Error(`expected ${name}, got ${String(outcome.error)}`)
}

// ---------------------------------------------------------------------------
// Reference model (written from SPEC 2, 3, 4, 5, 6, 8, 9; independent of src)
// ---------------------------------------------------------------------------

type Ev = { sessionId: string; type: SessionTaskEventType; payload: unknown }

function mergeLinksModel(base: TaskLinks, input: TaskLinksInput): Writable<TaskLinks> {
  const out: Writable<TaskLinks> = { ...base, resourceIds: [...base.resourceIds] }
  if (input.childSessionId !== undefined) out.childSessionId = input.childSessionId
  if (input.remoteTaskId !== undefined) out.remoteTaskId = input.remoteTaskId
  for (const id of input.resourceIds ?? [])
    if (!out.resourceIds.includes(id)) out.resourceIds.push(id)
  return out
}

function publicTask(task: SessionTask): SessionTask {
  const copy = clone(task)
  const spec = copy.spec as Record<string, unknown> | null
  if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
    const configs = spec.push_configs
    if (Array.isArray(configs)) {
      spec.push_configs = configs.map((c) => {
        if (c === null || typeof c !== 'object' || Array.isArray(c) || !Object.hasOwn(c, 'secret'))
          return c
        const { secret: _s, ...rest } = c
        return { ...rest, has_secret: true }
      })
    }
  }
  return copy
}

type Applied = { dropped: boolean; changed: boolean; next: SessionTask }

/** SPEC 3, rule by rule, plus SPEC 4.1 "no-op updates are not stored". */
function applyModel(task: SessionTask, u: SessionTaskUpdate, now: string): Applied {
  if (u.expectedAttempt !== undefined && u.expectedAttempt !== task.attempt)
    return { dropped: true, changed: false, next: task }
  if (u.expectedState !== undefined && u.expectedState !== task.state)
    return { dropped: true, changed: false, next: task }
  const wasTerminal = isTerminal(task.state)
  if (wasTerminal && u.state !== undefined && u.state !== task.state)
    return { dropped: true, changed: false, next: task }
  // Rule 2b: a finished task never takes a new attempt.
  if (wasTerminal && u.incrementAttempt === true)
    return { dropped: true, changed: false, next: task }
  const n = clone(task)
  if (u.incrementAttempt === true) n.attempt = task.attempt + 1
  let target = u.state
  if (u.inputRequest !== undefined && !wasTerminal) {
    n.inputRequest = clone(u.inputRequest)
    target = 'awaiting_input'
  }
  if (target !== undefined && !wasTerminal && target !== task.state) {
    if (task.state === 'queued' && n.startedAt === undefined) n.startedAt = now
    if (isTerminal(target) && n.finishedAt === undefined) n.finishedAt = now
    n.state = target
    n.stateChangedAt = now
    if (target !== 'awaiting_input') delete n.inputRequest
  }
  if (u.stateDetail !== undefined) n.stateDetail = u.stateDetail
  if (u.progress !== undefined) n.progress = clone(u.progress)
  if (u.summary !== undefined) n.summary = u.summary
  if (u.resultPath !== undefined) n.resultPath = u.resultPath
  if (u.error !== undefined) n.error = clone(u.error)
  if (u.workerId !== undefined) n.workerId = u.workerId
  if (u.heartbeatAt !== undefined) n.heartbeatAt = new Date(u.heartbeatAt).toISOString()
  if (u.artifacts !== undefined) n.artifacts = clone(u.artifacts)
  if (u.appendArtifact !== undefined) n.artifacts.push(clone(u.appendArtifact))
  if (u.links !== undefined) n.links = mergeLinksModel(n.links, u.links)
  const { updatedAt: _a, ...restNext } = n
  const { updatedAt: _b, ...restOld } = task
  if (sameJson(restNext, restOld)) return { dropped: false, changed: false, next: task }
  n.updatedAt = now
  return { dropped: false, changed: true, next: n }
}

const label = (t: SessionTask) => `Task "${t.displayName}" (${t.id})`

type MEntry = { task: SessionTask; messages: TaskMessage[] }
type MRun = { attempt: number; cancelCalled: boolean }

class Model {
  now = new Date(T0).toISOString()
  /** Global insertion order = Map order (a re-created id goes to the end). */
  readonly tasks = new Map<string, MEntry>()
  /** The supervisor's runs, keyed by task id (ids are unique while they exist). */
  readonly runs = new Map<string, MRun>()
  events: Ev[] = []

  find(sid: string, tid: string): MEntry | undefined {
    const e = this.tasks.get(tid)
    return e !== undefined && e.task.sessionId === sid ? e : undefined
  }

  private emitTask(type: 'task.created' | 'task.updated', task: SessionTask) {
    this.events.push({ sessionId: task.sessionId, type, payload: { task: publicTask(task) } })
    // The supervisor forgets a run when it sees its task terminal (SPEC 9).
    if (isTerminal(task.state)) this.runs.delete(task.id)
  }

  private wake(
    task: SessionTask,
    transition: 'terminal' | 'awaiting_input' | 'message',
    text: string,
  ) {
    this.events.push({
      sessionId: task.sessionId,
      type: 'task.wake',
      payload: {
        sessionId: task.sessionId,
        taskId: task.id,
        transition,
        text,
        createdAt: this.now,
      },
    })
  }

  create(input: CreateSessionTask, generatedId: string): SessionTask | 'conflict' {
    if (input.id !== undefined) {
      const existing = this.tasks.get(input.id)
      if (existing !== undefined) {
        note(existing.task.sessionId === input.sessionId ? 'idempotent create' : 'id conflict')
        return existing.task.sessionId === input.sessionId ? clone(existing.task) : 'conflict'
      }
    }
    const state = input.state ?? 'queued'
    const task: Writable<SessionTask> = {
      id: input.id ?? generatedId,
      sessionId: input.sessionId,
      kind: input.kind,
      displayName: input.displayName,
      spec: input.spec === undefined ? null : clone(input.spec),
      state,
      stateChangedAt: this.now,
      artifacts: [],
      attempt: 1,
      links: mergeLinksModel({ resourceIds: [] }, input.links ?? {}),
      wakePolicy: input.wakePolicy ?? 'silent',
      createdAt: this.now,
      updatedAt: this.now,
    }
    if (input.rootSessionId !== undefined) task.rootSessionId = input.rootSessionId
    if (state !== 'queued') task.startedAt = this.now
    if (isTerminal(state)) task.finishedAt = this.now
    this.tasks.set(task.id, { task, messages: [] })
    this.emitTask('task.created', task)
    return clone(task)
  }

  update(
    sid: string,
    tid: string,
    u: SessionTaskUpdate,
  ): (Applied & { task: SessionTask }) | undefined {
    const e = this.find(sid, tid)
    if (e === undefined) return undefined
    const before = e.task
    const r = applyModel(before, u, this.now)
    note(r.dropped ? 'update dropped' : r.changed ? 'update changed' : 'update no-op')
    if (!r.changed) return { ...r, task: clone(before) }
    e.task = r.next
    this.emitTask('task.updated', r.next)
    const after = r.next
    const policy = after.wakePolicy
    if (policy !== 'silent') {
      if (
        u.state !== undefined &&
        isTerminal(u.state) &&
        !isTerminal(before.state) &&
        isTerminal(after.state)
      ) {
        let text = `${label(after)} finished: ${after.state}.`
        if (after.summary !== undefined && after.summary !== '')
          text += `\n- summary: ${after.summary}`
        if (after.resultPath !== undefined && after.resultPath !== '')
          text += `\n- result_path: ${after.resultPath}`
        this.wake(after, 'terminal', text)
      } else if (
        policy === 'on_activity' &&
        (u.inputRequest !== undefined || u.state === 'awaiting_input') &&
        before.state !== 'awaiting_input' &&
        after.state === 'awaiting_input'
      ) {
        const prompt = after.inputRequest?.prompt ?? 'Task is awaiting input.'
        this.wake(after, 'awaiting_input', `${label(after)} is awaiting input: ${prompt}`)
      }
    }
    return { ...r, task: clone(after) }
  }

  requestCancel(sid: string, tid: string): SessionTask | undefined {
    const e = this.find(sid, tid)
    if (e === undefined) return undefined
    if (e.task.cancelRequestedAt !== undefined) return clone(e.task)
    e.task = { ...e.task, cancelRequestedAt: this.now, updatedAt: this.now }
    this.emitTask('task.updated', e.task)
    return clone(e.task)
  }

  recordMessage(
    sid: string,
    tid: string,
    m: NewTaskMessage,
    id: string,
  ): TaskMessage | 'not_found' | 'stale' {
    const e = this.find(sid, tid)
    if (e === undefined) return 'not_found'
    if (m.expectedAttempt !== undefined && m.expectedAttempt !== e.task.attempt) return 'stale'
    const msg: Writable<TaskMessage> = {
      id,
      taskId: tid,
      direction: m.direction,
      content: clone(m.content),
      createdAt: this.now,
    }
    if (m.inReplyTo !== undefined) msg.inReplyTo = m.inReplyTo
    e.messages.push(msg)
    const inbound = m.direction === 'inbound'
    this.events.push({
      sessionId: sid,
      type: inbound ? 'task.message.sent' : 'task.message.received',
      payload: { taskId: tid, message: clone(msg) },
    })
    if (inbound) {
      if (m.inReplyTo !== undefined && m.inReplyTo === e.task.inputRequest?.id) {
        note('resume by answer')
        this.update(sid, tid, { state: 'running' })
      }
    } else if (e.task.wakePolicy === 'on_activity') {
      const text = m.content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n')
      const shown = text.trim() === '' ? 'structured progress update' : text
      this.wake(e.task, 'message', `${label(e.task)} sent a message: ${shown}`)
    }
    return clone(msg)
  }

  output(sid: string, tid: string, attempt: number, stream: string, delta: string) {
    const e = this.find(sid, tid)
    if (e === undefined || e.task.attempt !== attempt) return
    this.events.push({
      sessionId: sid,
      type: 'task.output',
      payload: { taskId: tid, stream, delta },
    })
  }

  listMessages(sid: string, tid: string, limit?: number, afterId?: string): TaskMessage[] {
    const e = this.find(sid, tid)
    if (e === undefined) return []
    const all = e.messages
    if (afterId === undefined)
      return clone(limit === undefined ? all : all.slice(Math.max(0, all.length - limit)))
    const index = all.findIndex((m) => m.id === afterId)
    if (index === -1) return []
    const rest = all.slice(index + 1)
    return clone(limit === undefined ? rest : rest.slice(0, limit))
  }

  list(sid: string, filter: SessionTaskFilter = {}): SessionTask[] {
    const out: SessionTask[] = []
    for (const { task } of this.tasks.values()) {
      if (task.sessionId !== sid) continue
      if (filter.kind !== undefined && task.kind !== filter.kind) continue
      if (filter.state !== undefined && task.state !== filter.state) continue
      out.push(clone(task))
    }
    return out
  }

  private ordered(
    pred: (t: SessionTask) => boolean,
    key: (t: SessionTask) => string,
  ): SessionTask[] {
    // Map order is insertion order; a stable sort keeps it for ties (createdAt
    // is monotone because the test clock never goes back).
    return [...this.tasks.values()]
      .map((e) => e.task)
      .filter(pred)
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  }

  listStale(cutoff: string, limit: number): SessionTask[] {
    return this.ordered(
      (t) =>
        (t.state === 'queued' || t.state === 'running') &&
        t.heartbeatAt !== undefined &&
        t.heartbeatAt < cutoff,
      (t) => t.heartbeatAt ?? '',
    ).slice(0, limit)
  }

  prune(cutoff: string, limit: number): SessionTask[] {
    const removed = this.ordered(
      (t) => isTerminal(t.state) && t.finishedAt !== undefined && t.finishedAt < cutoff,
      (t) => t.finishedAt ?? '',
    ).slice(0, limit)
    for (const t of removed) this.tasks.delete(t.id)
    return clone(removed)
  }

  deleteSession(sid: string): number {
    let count = 0
    for (const [id, e] of [...this.tasks]) {
      if (e.task.sessionId !== sid) continue
      this.tasks.delete(id)
      this.runs.delete(id)
      count++
    }
    return count
  }
}

// ---------------------------------------------------------------------------
// Operation generators
// ---------------------------------------------------------------------------

type Fence = undefined | 'current' | 'prev' | 'next' | number
// own: a task in its own session; active: a non-terminal task (awaiting_input
// preferred); other1/other2: a task addressed through another session.
type Target = { pick: number; mode: 'own' | 'active' | 'other1' | 'other2' | 'unknown' }

const jsonArb: fc.Arbitrary<JsonValue> = fc.constantFrom<JsonValue>(null, 1, 'x', [1, 'two'], {
  k: { n: [true] },
})
const artifactArb: fc.Arbitrary<TaskArtifact> = fc.record(
  {
    name: fc.constantFrom('a', 'b'),
    type: fc.constantFrom('file', 'url'),
    path: fc.constantFrom('/p', '/q'),
    url: fc.constant('https://example.test/1'),
  },
  { requiredKeys: ['name', 'type'] },
)
const progressArb: fc.Arbitrary<TaskProgress> = fc.record(
  {
    current: fc.nat(3),
    total: fc.nat(3),
    unit: fc.constantFrom('', 'files'),
    label: fc.constantFrom('l1', 'l2'),
    steps: fc.array(
      fc.record({
        title: fc.constantFrom('s1', 's2'),
        status: fc.constantFrom('pending', 'in_progress', 'done', 'skipped'),
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
)
const inputRequestArb: fc.Arbitrary<TaskInputRequest> = fc.record(
  {
    id: fc.constantFrom('r1', 'r2'),
    prompt: fc.constantFrom('Which one?', 'Proceed?'),
    expected: jsonArb,
  },
  { requiredKeys: ['id', 'prompt'] },
)
const linksArb: fc.Arbitrary<TaskLinksInput> = fc.record(
  {
    childSessionId: fc.constantFrom('child-1', 'child-2'),
    remoteTaskId: fc.constantFrom('rt-1', 'rt-2'),
    resourceIds: fc.array(fc.constantFrom('x', 'y', 'z'), { maxLength: 3 }),
  },
  { requiredKeys: [] },
)
// Heartbeats around the start of the clock; sometimes without milliseconds
// (the registry normalises them).
const heartbeatArb = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.boolean()).map(([k, short]) => {
  const iso = new Date(T0 + k * MIN).toISOString()
  return short ? iso.replace('.000Z', 'Z') : iso
})

// Terminal states are final, so they are drawn less often to keep tasks alive.
const stateArb: fc.Arbitrary<SessionTaskState> = fc.oneof(
  {
    arbitrary: fc.constantFrom<SessionTaskState>('queued', 'running', 'awaiting_input'),
    weight: 3,
  },
  { arbitrary: fc.constantFrom<SessionTaskState>('succeeded', 'failed', 'canceled'), weight: 1 },
)

const updateFields = {
  state: stateArb,
  stateDetail: fc.constantFrom('', 'd1', 'd2'),
  progress: progressArb,
  inputRequest: inputRequestArb,
  summary: fc.constantFrom('', 'sum1', 'sum2'),
  resultPath: fc.constantFrom('', '/.tasks/x/result.json'),
  artifacts: fc.array(artifactArb, { maxLength: 2 }),
  appendArtifact: artifactArb,
  error: fc.record({ kind: fc.constantFrom('e1', 'e2'), message: fc.constantFrom('', 'bad') }),
  links: linksArb,
  workerId: fc.constantFrom('w1', 'w2'),
  heartbeatAt: heartbeatArb,
  incrementAttempt: fc.boolean(),
}
const UPDATE_KEYS = Object.keys(updateFields) as (keyof typeof updateFields)[]
const smallUpdateArb: fc.Arbitrary<SessionTaskUpdate> = fc
  .tuple(fc.record(updateFields), fc.subarray(UPDATE_KEYS, { minLength: 1, maxLength: 2 }))
  .map(([full, keys]) => {
    const out: Record<string, unknown> = {}
    for (const k of keys) out[k] = full[k]
    return out as SessionTaskUpdate
  })
const updateArb: fc.Arbitrary<SessionTaskUpdate> = fc.oneof(
  { arbitrary: smallUpdateArb, weight: 4 },
  {
    arbitrary: fc.record(updateFields, { requiredKeys: [] }) as fc.Arbitrary<SessionTaskUpdate>,
    weight: 1,
  },
)
const fenceArb: fc.Arbitrary<Fence> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.constantFrom<Fence>('current', 'prev', 'next'), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
)
const sinkAttemptArb: fc.Arbitrary<Fence> = fc.oneof(
  { arbitrary: fc.constant<Fence>('current'), weight: 4 },
  { arbitrary: fc.constantFrom<Fence>('prev', 'next'), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
)
const targetArb: fc.Arbitrary<Target> = fc.record({
  pick: fc.nat(63),
  mode: fc.constantFrom<Target['mode']>(
    'own',
    'own',
    'own',
    'active',
    'active',
    'active',
    'other1',
    'other2',
    'unknown',
  ),
})
const partArb: fc.Arbitrary<TaskMessagePart> = fc.oneof(
  fc.constantFrom('', '  ', 'hi', 'line\ntwo').map((text) => ({ type: 'text' as const, text })),
  jsonArb.map((data) => ({ type: 'data' as const, data })),
)
const contentArb = fc.array(partArb, { minLength: 1, maxLength: 2 })
// 'pending' is resolved at run time to the target's pending input request id.
const replyArb = fc.option(fc.constantFrom('r1', 'r2', 'zz', 'pending', 'pending'), {
  nil: undefined,
})
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })

type SinkAction =
  | { a: 'state'; state: SessionTaskState; detail: string | undefined }
  | { a: 'progress'; progress: TaskProgress }
  | { a: 'output'; stream: string; delta: string }
  | { a: 'post'; content: TaskMessagePart[]; inReplyTo: string | undefined }
  | { a: 'requestInput'; request: TaskInputRequest }
  | { a: 'artifact'; artifact: TaskArtifact }
  | { a: 'heartbeat' }
  | { a: 'update'; update: SessionTaskUpdate }

const sinkActionArb: fc.Arbitrary<SinkAction> = fc.oneof(
  fc.record({
    a: fc.constant('state' as const),
    state: stateArb,
    detail: optional(fc.constantFrom('', 'sink says')),
  }),
  fc.record({ a: fc.constant('progress' as const), progress: progressArb }),
  fc.record({
    a: fc.constant('output' as const),
    stream: fc.constantFrom('stdout', 'stderr'),
    delta: fc.constantFrom('', 'chunk'),
  }),
  fc.record({ a: fc.constant('post' as const), content: contentArb, inReplyTo: replyArb }),
  fc.record({ a: fc.constant('requestInput' as const), request: inputRequestArb }),
  fc.record({ a: fc.constant('artifact' as const), artifact: artifactArb }),
  fc.constant({ a: 'heartbeat' as const }),
  fc.record({ a: fc.constant('update' as const), update: updateArb }),
)

type Op =
  | { op: 'tick'; ms: number }
  | {
      op: 'create'
      s: number
      id: string | undefined
      kind: Kind
      state: SessionTaskState | undefined
      wakePolicy: TaskWakePolicy | undefined
      spec: 0 | 1 | 2
      links: TaskLinksInput | undefined
      root: boolean
    }
  | { op: 'update'; t: Target; update: SessionTaskUpdate; fence: Fence }
  | { op: 'invalid'; t: Target; which: number }
  | { op: 'requestCancel'; t: Target }
  | {
      op: 'record'
      t: Target
      direction: 'inbound' | 'outbound'
      content: TaskMessagePart[]
      inReplyTo: string | undefined
      fence: Fence
    }
  | { op: 'listMessages'; t: Target; limit: number | undefined; after: number | undefined }
  | { op: 'get'; t: Target; s: number }
  | { op: 'list'; s: number; kind: Kind | undefined; state: SessionTaskState | undefined }
  | { op: 'prune'; ageMs: number; limit: number | undefined }
  | { op: 'deleteSession'; s: number }
  | { op: 'sink'; t: Target; attempt: Fence; action: SinkAction }
  | {
      op: 'spawn'
      s: number
      id: string | undefined
      kind: Kind
      state: SessionTaskState | undefined
      wakePolicy: TaskWakePolicy | undefined
    }
  | { op: 'cancel'; t: Target }
  | { op: 'message'; t: Target; text: string; inReplyTo: string | undefined }
  | { op: 'reap'; staleAfterMs: number; maxAttempts: number; limit: number | undefined }

const BAD_UPDATES: unknown[] = [
  { bogus: 1 },
  { state: 'done' },
  { progress: { current: -1 } },
  { workerId: '' },
  { expectedAttempt: 0 },
  { heartbeatAt: 'yesterday' },
  { summary: null },
  { appendArtifact: { name: '', type: 'file' } },
]

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('tick' as const),
      ms: fc.oneof(
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.integer({ min: 1, max: 1000 }), weight: 1 },
        { arbitrary: fc.integer({ min: MIN, max: 10 * MIN }), weight: 2 },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('create' as const),
      s: fc.nat(2),
      id: optional(fc.constantFrom(...CALLER_IDS)),
      kind: fc.constantFrom(...KINDS),
      state: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 3 },
        { arbitrary: fc.constantFrom(...STATES), weight: 1 },
      ),
      wakePolicy: optional(fc.constantFrom(...POLICIES)),
      spec: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      links: optional(linksArb),
      root: fc.boolean(),
    }),
  },
  {
    weight: 7,
    arbitrary: fc.record({
      op: fc.constant('update' as const),
      t: targetArb,
      update: updateArb,
      fence: fenceArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('invalid' as const),
      t: targetArb,
      which: fc.nat(BAD_UPDATES.length - 1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('requestCancel' as const), t: targetArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('record' as const),
      t: targetArb,
      direction: fc.constantFrom('inbound' as const, 'outbound' as const),
      content: contentArb,
      inReplyTo: replyArb,
      fence: fenceArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('listMessages' as const),
      t: targetArb,
      limit: optional(fc.integer({ min: 1, max: 3 })),
      after: optional(fc.nat(40)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('get' as const), t: targetArb, s: fc.nat(2) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('list' as const),
      s: fc.nat(2),
      kind: optional(fc.constantFrom(...KINDS)),
      state: optional(fc.constantFrom(...STATES)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('prune' as const),
      ageMs: fc.constantFrom(0, 1, MIN, 5 * MIN),
      limit: optional(fc.integer({ min: 1, max: 3 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteSession' as const), s: fc.nat(2) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('sink' as const),
      t: targetArb,
      attempt: sinkAttemptArb,
      action: sinkActionArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('spawn' as const),
      s: fc.nat(2),
      id: optional(fc.constantFrom(...CALLER_IDS)),
      kind: fc.constantFrom(...KINDS),
      state: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 4 },
        { arbitrary: fc.constantFrom(...STATES), weight: 1 },
      ),
      wakePolicy: optional(fc.constantFrom(...POLICIES)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel' as const), t: targetArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('message' as const),
      t: targetArb,
      text: fc.constantFrom('', 'answer', 'a\nb'),
      inReplyTo: replyArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('reap' as const),
      staleAfterMs: fc.constantFrom(MIN, 3 * MIN, 10 * MIN),
      maxAttempts: fc.integer({ min: 1, max: 3 }),
      limit: optional(fc.integer({ min: 1, max: 3 })),
    }),
  },
)

// ---------------------------------------------------------------------------
// Executors (isolated registry, shared by every run: they are stateless)
// ---------------------------------------------------------------------------

const executors = new TaskExecutorRegistry()
executors.register({
  kind: 'work',
  executor: () => ({
    kind: 'work',
    canReattach: () => true,
    async start(_task, ctx) {
      await ctx.sink.state('running')
      await ctx.sink.heartbeat()
    },
    async cancel(_task, ctx) {
      await ctx.sink.state('canceled', 'stopped by executor')
    },
    async deliver() {},
  }),
})
executors.register({
  kind: 'lazy',
  // Starts without changing the state: the task stays queued, with a heartbeat.
  executor: () => ({
    kind: 'lazy',
    async start(_task, ctx) {
      await ctx.sink.heartbeat()
    },
    async cancel() {},
  }),
})
executors.register({
  kind: 'boom',
  executor: () => ({
    kind: 'boom',
    // Re-attachable, but every start fails: a re-attach ends orphaned (SPEC 9).
    canReattach: () => true,
    async start() {
      throw new Error('start exploded')
    },
    async cancel() {
      throw new Error('cancel exploded')
    },
    async deliver() {
      throw new Error('deliver exploded')
    },
  }),
})

const SPECS: (JsonValue | undefined)[] = [
  undefined,
  { a: 1, nested: { b: [1, 'x'] } },
  {
    push_configs: [
      { url: 'https://hook.test/1', secret: 's3cr3t' },
      { url: 'https://hook.test/2' },
      'raw',
    ],
    other: true,
  },
]

// ---------------------------------------------------------------------------
// The harness: runs one op on the real system and on the model, then checks
// ---------------------------------------------------------------------------

type SessionLogs = { sub: Ev[]; star: Ev[]; typed: Ev[] }
type StepKind = 'single' | 'multi' | 'quiet' | 'removal'

const stats = {
  sequences: 0,
  steps: 0,
  events: {} as Record<string, number>,
  ops: {} as Record<string, number>,
  notes: {} as Record<string, number>,
}
const note = (key: string) => {
  stats.notes[key] = (stats.notes[key] ?? 0) + 1
}

function checkMonotone(before: SessionTask, after: SessionTask, where: string) {
  const ctx = `${where} task ${after.id}`
  if (isTerminal(before.state))
    expect(after.state, `${ctx}: terminal state changed`).toBe(before.state)
  if (before.startedAt !== undefined)
    expect(after.startedAt, `${ctx}: startedAt moved`).toBe(before.startedAt)
  if (before.finishedAt !== undefined)
    expect(after.finishedAt, `${ctx}: finishedAt moved`).toBe(before.finishedAt)
  if (before.cancelRequestedAt !== undefined)
    expect(after.cancelRequestedAt, `${ctx}: cancelRequestedAt moved`).toBe(
      before.cancelRequestedAt,
    )
  expect(after.attempt, `${ctx}: attempt decreased`).toBeGreaterThanOrEqual(before.attempt)
  expect(after.createdAt, `${ctx}: createdAt moved`).toBe(before.createdAt)
  expect(after.updatedAt >= before.updatedAt, `${ctx}: updatedAt went back`).toBe(true)
  expect(after.sessionId, `${ctx}: sessionId changed`).toBe(before.sessionId)
  expect(after.kind).toBe(before.kind)
  expect(after.wakePolicy).toBe(before.wakePolicy)
}

function checkRecord(task: SessionTask, where: string) {
  const ctx = `${where} task ${task.id}`
  expect(isTerminal(task.state), `${ctx}: finishedAt iff terminal`).toBe(
    task.finishedAt !== undefined,
  )
  if (task.state !== 'queued') expect(task.startedAt, `${ctx}: startedAt missing`).toBeDefined()
  if (task.inputRequest !== undefined)
    expect(task.state, `${ctx}: inputRequest outside awaiting_input`).toBe('awaiting_input')
  expect(task.attempt).toBeGreaterThanOrEqual(1)
  for (const [key, value] of Object.entries(task))
    expect(value, `${ctx}: key ${key} is undefined instead of absent`).not.toBeUndefined()
}

class Harness {
  private t = T0
  readonly model = new Model()
  readonly registry: InMemorySessionTaskRegistry
  readonly supervisor: TaskSupervisor
  readonly listenerErrors: unknown[] = []
  readonly supervisorErrors: string[] = []
  readonly global: Ev[] = []
  private readonly logs: SessionLogs[] = []
  private readonly dead: { logs: SessionLogs; sizes: [number, number, number] }[] = []
  private readonly allIds: string[] = []
  private readonly home = new Map<string, number>()
  private readonly messageIds: string[] = []
  private records = new Map<string, SessionTask>()
  private readonly lastSnapshot = new Map<string, SessionTask>()
  private readonly terminalWakes = new Map<string, number>()
  private stepKind: StepKind = 'multi'
  // Tasks this step moved away and back (an undelivered answer).
  private readonly roundTrip = new Set<string>()

  constructor() {
    const clock = () => new Date(this.t)
    this.registry = new InMemorySessionTaskRegistry({
      now: clock,
      onListenerError: (error) => this.listenerErrors.push(error),
    })
    this.registry.subscribeAll((sessionId, type, payload) =>
      this.global.push({ sessionId, type, payload }),
    )
    this.supervisor = createTaskSupervisor({
      registry: this.registry,
      executors,
      now: clock,
      onError: (_error, context) => this.supervisorErrors.push(context),
    })
    for (let i = 0; i < 3; i++) this.attach(i)
  }

  private attach(i: number) {
    const sid = sessionAt(i)
    const logs: SessionLogs = { sub: [], star: [], typed: [] }
    this.registry.subscribe(sid, (type, payload) =>
      logs.sub.push({ sessionId: sid, type, payload }),
    )
    this.registry
      .events(sid)
      .on('*', (type, payload) => logs.star.push({ sessionId: sid, type, payload }))
    this.registry
      .events(sid)
      .on('task.updated', (payload) =>
        logs.typed.push({ sessionId: sid, type: 'task.updated', payload }),
      )
    this.logs[i] = logs
  }

  private sessionLogs(i: number): SessionLogs {
    return this.logs[i] as SessionLogs
  }

  // -- target resolution (deterministic given the op sequence) --------------

  private target(t: Target): { sid: string; tid: string } {
    const live = [...this.model.tasks.keys()]
    let pool = live.length > 0 && t.pick % 4 !== 0 ? live : this.allIds
    if (t.mode === 'active') {
      const tasks = [...this.model.tasks.values()].map((e) => e.task)
      const awaiting = tasks.filter((x) => x.state === 'awaiting_input').map((x) => x.id)
      const active = tasks.filter((x) => !isTerminal(x.state)).map((x) => x.id)
      pool = awaiting.length > 0 && t.pick % 2 === 0 ? awaiting : active.length > 0 ? active : pool
    }
    if (t.mode === 'unknown' || pool.length === 0)
      return { sid: sessionAt(t.pick), tid: `ghost_${t.pick % 3}` }
    const tid = pool[t.pick % pool.length] as string
    const home = this.home.get(tid) ?? 0
    const offset = t.mode === 'other1' ? 1 : t.mode === 'other2' ? 2 : 0
    return { sid: sessionAt(home + offset), tid }
  }

  private reply(inReplyTo: string | undefined, sid: string, tid: string): string | undefined {
    if (inReplyTo !== 'pending') return inReplyTo
    return this.model.find(sid, tid)?.task.inputRequest?.id ?? 'r1'
  }

  private currentAttempt(sid: string, tid: string): number {
    return this.model.find(sid, tid)?.task.attempt ?? 1
  }

  private fence(f: Fence, sid: string, tid: string): number | undefined {
    if (f === undefined) return undefined
    const a = this.currentAttempt(sid, tid)
    if (f === 'current') return a
    if (f === 'prev') return a > 1 ? a - 1 : a + 1
    if (f === 'next') return a + 1
    return f
  }

  private noteId(id: string, sid: string) {
    if (!this.allIds.includes(id)) this.allIds.push(id)
    this.home.set(id, SESSIONS.indexOf(sid as (typeof SESSIONS)[number]))
  }

  /** A fenced write on an existing task whose fence misses: it must change nothing. */
  private markFenced(sid: string, tid: string, expectedAttempt: number | undefined) {
    const actual = this.records.get(tid)
    if (
      expectedAttempt !== undefined &&
      actual?.sessionId === sid &&
      actual.attempt !== expectedAttempt
    ) {
      note('fenced write on a live task')
      this.stepKind = 'quiet'
    }
  }

  // -- one step --------------------------------------------------------------

  async step(index: number, op: Op): Promise<void> {
    const g0 = this.global.length
    const l0 = this.logs.map((l) => [l.sub.length, l.star.length, l.typed.length] as const)
    const errors0 = this.listenerErrors.length
    this.model.events = []
    this.model.now = new Date(this.t).toISOString()
    this.stepKind = 'multi'
    this.roundTrip.clear()
    const where = `step ${index} (${op.op})`
    try {
      await this.run(op)
    } catch (error) {
      if (error instanceof Error) error.message = `${where}: ${error.message}`
      throw error
    }
    await flush()
    const stepEvents = this.global.slice(g0)

    // 1. Exactly the events the model predicts, in order, for the global
    //    listener and (filtered) for each session's listeners.
    expect(stepEvents, `${where}: global events`).toStrictEqual(this.model.events)
    for (let i = 0; i < 3; i++) {
      const sid = sessionAt(i)
      const logs = this.sessionLogs(i)
      const [a, b, c] = l0[i] ?? [0, 0, 0]
      const mine = this.model.events.filter((e) => e.sessionId === sid)
      expect(logs.sub.slice(a), `${where}: subscribe(${sid})`).toStrictEqual(mine)
      expect(logs.star.slice(b), `${where}: events(${sid}).on('*')`).toStrictEqual(mine)
      expect(logs.typed.slice(c), `${where}: on('task.updated') ${sid}`).toStrictEqual(
        mine.filter((e) => e.type === 'task.updated'),
      )
    }
    for (const { logs, sizes } of this.dead) {
      expect(
        [logs.sub.length, logs.star.length, logs.typed.length],
        `${where}: a deleted session's listener heard an event`,
      ).toStrictEqual(sizes)
    }
    expect(this.listenerErrors.length, `${where}: onListenerError`).toBe(errors0)
    for (const context of this.supervisorErrors)
      expect(context, `${where}: unexpected supervisor error`).toMatch(/^executor\.cancel of task /)

    // 2. Records: list of every session equals the model; isolation.
    const after = new Map<string, SessionTask>()
    for (let i = 0; i < 3; i++) {
      const sid = sessionAt(i)
      const listed = await this.registry.list(sid)
      expect(listed, `${where}: list(${sid})`).toStrictEqual(this.model.list(sid))
      for (const task of listed) {
        expect(task.sessionId, `${where}: list(${sid}) leaked`).toBe(sid)
        after.set(task.id, task)
      }
    }
    for (const [id, task] of after) {
      expect(await this.registry.get(task.sessionId, id), `${where}: get ${id}`).toStrictEqual(task)
      const other = sessionAt((this.home.get(id) ?? 0) + 1 + (index % 2))
      expect(
        await this.registry.get(other, id),
        `${where}: get(${other}, ${id}) leaked`,
      ).toBeUndefined()
      checkRecord(task, where)
    }

    // 3. Invariants on what was observed, independent of the model.
    this.checkEventStream(stepEvents, where)
    // (read through a cast: TypeScript narrowed the field at the reset above)
    const kind = this.stepKind as StepKind
    const quiet = kind === 'quiet'
    if (quiet || kind === 'removal')
      expect(stepEvents, `${where}: a quiet operation emitted`).toStrictEqual([])
    for (const id of new Set([...this.records.keys(), ...after.keys()])) {
      const b = this.records.get(id)
      const a = after.get(id)
      const evs = stepEvents.filter(
        (e) =>
          (e.type === 'task.updated' || e.type === 'task.created') &&
          (e.payload as { task: SessionTask }).task.id === id,
      )
      const updates = evs.filter((e) => e.type === 'task.updated').length
      if (b !== undefined && a !== undefined) {
        checkMonotone(b, a, where)
        const changed = !sameJson(a, b)
        if (quiet || kind === 'removal')
          expect(changed, `${where}: ${id} changed by a quiet operation`).toBe(false)
        if (!changed && !this.roundTrip.has(id))
          expect(updates, `${where}: ${id} unchanged but task.updated emitted`).toBe(0)
        else if (kind === 'single')
          expect(updates, `${where}: ${id} changed: exactly one task.updated`).toBe(1)
        else expect(updates, `${where}: ${id} changed without task.updated`).toBeGreaterThan(0)
      } else if (b === undefined && a !== undefined) {
        expect(evs[0]?.type, `${where}: ${id} appeared without task.created`).toBe('task.created')
      } else if (b !== undefined && a === undefined) {
        expect(op.op === 'prune' || op.op === 'deleteSession', `${where}: ${id} vanished`).toBe(
          true,
        )
        expect(evs, `${where}: removal emitted`).toStrictEqual([])
      }
      if (a !== undefined && evs.length > 0) {
        const last = evs[evs.length - 1]?.payload as { task: SessionTask }
        expect(last.task, `${where}: last snapshot of ${id} != record`).toStrictEqual(publicTask(a))
      }
    }
    this.records = after
    stats.steps++
    stats.ops[op.op] = (stats.ops[op.op] ?? 0) + 1
    for (const e of stepEvents) {
      const key =
        e.type === 'task.wake'
          ? `wake:${(e.payload as { transition: string }).transition}`
          : e.type === 'task.updated' && isTerminal((e.payload as { task: SessionTask }).task.state)
            ? 'task.updated(terminal)'
            : e.type
      stats.events[key] = (stats.events[key] ?? 0) + 1
    }
  }

  /** Per-task order (snapshots only move forward) and at most one terminal wake per task. */
  private checkEventStream(events: Ev[], where: string) {
    for (const e of events) {
      if (e.type === 'task.created' || e.type === 'task.updated') {
        const task = (e.payload as { task: SessionTask }).task
        expect(task.sessionId, `${where}: event routed to the wrong session`).toBe(e.sessionId)
        if (e.type === 'task.created') {
          this.terminalWakes.delete(task.id)
        } else {
          const previous = this.lastSnapshot.get(task.id)
          if (previous !== undefined) checkMonotone(previous, task, `${where} (event order)`)
        }
        this.lastSnapshot.set(task.id, task)
      } else if (e.type === 'task.wake') {
        const wake = e.payload as { taskId: string; sessionId: string; transition: string }
        expect(wake.sessionId).toBe(e.sessionId)
        if (wake.transition === 'terminal') {
          const n = (this.terminalWakes.get(wake.taskId) ?? 0) + 1
          this.terminalWakes.set(wake.taskId, n)
          expect(n, `${where}: more than one terminal wake for ${wake.taskId}`).toBeLessThanOrEqual(
            1,
          )
        }
      }
    }
  }

  // -- the operations ----------------------------------------------------------

  private async run(op: Op): Promise<void> {
    const m = this.model
    switch (op.op) {
      case 'tick': {
        this.t += op.ms
        this.stepKind = 'quiet'
        return
      }
      case 'create': {
        const sid = sessionAt(op.s)
        const spec = SPECS[op.spec]
        const input: CreateSessionTask = {
          sessionId: sid,
          kind: op.kind,
          displayName: `job ${op.kind}`,
          ...(op.id === undefined ? {} : { id: op.id }),
          ...(op.state === undefined ? {} : { state: op.state }),
          ...(op.wakePolicy === undefined ? {} : { wakePolicy: op.wakePolicy }),
          ...(spec === undefined ? {} : { spec }),
          ...(op.links === undefined ? {} : { links: op.links }),
          ...(op.root ? { rootSessionId: 'root-session' } : {}),
        }
        const out = await settle(() => this.registry.create(input))
        const generated = out.ok ? out.value.id : 'none'
        if (op.id === undefined) expect(generated).toMatch(/^task_[A-Za-z0-9_-]{21}$/)
        const expected = m.create(input, generated)
        if (expected === 'conflict') {
          expectError(out, isTaskConflictError, 'TaskConflictError')
          this.stepKind = 'quiet'
        } else {
          expect(resultOf(out)).toStrictEqual(expected)
          this.noteId(expected.id, sid)
        }
        return
      }
      case 'update': {
        const { sid, tid } = this.target(op.t)
        const fence = this.fence(op.fence, sid, tid)
        const update: SessionTaskUpdate =
          fence === undefined ? op.update : { ...op.update, expectedAttempt: fence }
        this.stepKind = 'single'
        this.markFenced(sid, tid, fence)
        const out = await settle(() => this.registry.update(sid, tid, update))
        expect(resultOf(out)).toStrictEqual(m.update(sid, tid, update)?.task)
        return
      }
      case 'invalid': {
        const { sid, tid } = this.target(op.t)
        this.stepKind = 'quiet'
        const bad = BAD_UPDATES[op.which] as SessionTaskUpdate
        const out = await settle(() => this.registry.update(sid, tid, bad))
        expectError(out, isValidationError, 'ValidationError')
        return
      }
      case 'requestCancel': {
        const { sid, tid } = this.target(op.t)
        this.stepKind = 'single'
        const out = await settle(() => this.registry.requestCancel(sid, tid))
        expect(resultOf(out)).toStrictEqual(m.requestCancel(sid, tid))
        return
      }
      case 'record': {
        const { sid, tid } = this.target(op.t)
        const fence = this.fence(op.fence, sid, tid)
        const inReplyTo = this.reply(op.inReplyTo, sid, tid)
        const message: NewTaskMessage = {
          direction: op.direction,
          content: op.content,
          ...(inReplyTo === undefined ? {} : { inReplyTo }),
          ...(fence === undefined ? {} : { expectedAttempt: fence }),
        }
        const out = await settle(() => this.registry.recordMessage(sid, tid, message))
        const id = out.ok ? out.value.id : 'none'
        const expected = m.recordMessage(sid, tid, message, id)
        this.checkMessageOutcome(out, expected)
        return
      }
      case 'listMessages': {
        // Prefer the task with the most messages, and a cursor among its own
        // messages; otherwise any task and any (possibly foreign) message id.
        const busiest = [...m.tasks.values()].sort(
          (a, b) => b.messages.length - a.messages.length,
        )[0]
        const useBusiest =
          op.t.pick % 3 !== 0 && busiest !== undefined && busiest.messages.length > 0
        const { sid, tid } = useBusiest
          ? { sid: busiest.task.sessionId, tid: busiest.task.id }
          : this.target(op.t)
        this.stepKind = 'quiet'
        const own = m.find(sid, tid)?.messages ?? []
        const afterId =
          op.after === undefined
            ? undefined
            : op.after % 4 !== 0 && own.length > 0
              ? own[op.after % own.length]?.id
              : (this.messageIds[op.after % Math.max(1, this.messageIds.length)] ?? 'tmsg_unknown')
        const options = {
          ...(op.limit === undefined ? {} : { limit: op.limit }),
          ...(afterId === undefined ? {} : { afterId }),
        }
        const out = await settle(() => this.registry.listMessages(sid, tid, options))
        expect(resultOf(out)).toStrictEqual(m.listMessages(sid, tid, op.limit, afterId))
        return
      }
      case 'get': {
        const { tid } = this.target(op.t)
        const sid = sessionAt(op.s)
        this.stepKind = 'quiet'
        const out = await settle(() => this.registry.get(sid, tid))
        const e = m.find(sid, tid)
        expect(resultOf(out)).toStrictEqual(e === undefined ? undefined : e.task)
        return
      }
      case 'list': {
        const sid = sessionAt(op.s)
        this.stepKind = 'quiet'
        const filter: SessionTaskFilter = {
          ...(op.kind === undefined ? {} : { kind: op.kind }),
          ...(op.state === undefined ? {} : { state: op.state }),
        }
        const out = await settle(() => this.registry.list(sid, filter))
        expect(resultOf(out)).toStrictEqual(m.list(sid, filter))
        return
      }
      case 'prune': {
        this.stepKind = 'removal'
        const cutoff = new Date(this.t - op.ageMs)
        const out = await settle(() =>
          this.registry.prune({
            finishedBefore: cutoff,
            ...(op.limit === undefined ? {} : { limit: op.limit }),
          }),
        )
        expect(resultOf(out)).toStrictEqual(m.prune(cutoff.toISOString(), op.limit ?? 100))
        return
      }
      case 'deleteSession': {
        this.stepKind = 'removal'
        const sid = sessionAt(op.s)
        const out = await settle(() => this.registry.deleteSession(sid))
        expect(resultOf(out)).toBe(m.deleteSession(sid))
        // The old listeners were removed with the session: they must stay silent forever.
        const old = this.sessionLogs(op.s)
        this.dead.push({ logs: old, sizes: [old.sub.length, old.star.length, old.typed.length] })
        this.attach(op.s)
        return
      }
      case 'sink':
        return this.runSink(op)
      case 'spawn':
        return this.runSpawn(op)
      case 'cancel': {
        const { sid, tid } = this.target(op.t)
        const out = await settle(() => this.supervisor.cancel(sid, tid))
        expect(resultOf(out)).toStrictEqual(this.modelCancel(sid, tid))
        return
      }
      case 'message': {
        const { sid, tid } = this.target(op.t)
        const inReplyTo = this.reply(op.inReplyTo, sid, tid)
        const body = {
          text: op.text,
          ...(inReplyTo === undefined ? {} : { inReplyTo }),
        }
        const out = await settle(() => this.supervisor.message(sid, tid, body))
        const id = out.ok ? out.value.message.id : 'none'
        const message: NewTaskMessage = {
          direction: 'inbound',
          content: [{ type: 'text', text: op.text }],
          ...(inReplyTo === undefined ? {} : { inReplyTo }),
        }
        const before = m.find(sid, tid)?.task
        const expected = m.recordMessage(sid, tid, message, id)
        if (expected === 'not_found') {
          expectError(out, isTaskNotFoundError, 'TaskNotFoundError')
          this.stepKind = 'quiet'
          return
        }
        if (expected === 'stale') throw new Error('unfenced message cannot be stale')
        this.messageIds.push(expected.id)
        const task = m.find(sid, tid)?.task as SessionTask
        const kind = task.kind as Kind
        const delivery: MessageDelivery = isTerminal(task.state)
          ? { failed: `task is already ${task.state}` }
          : kind === 'orphan'
            ? { failed: "no executor is registered for task kind 'orphan'" }
            : kind === 'lazy'
              ? { failed: "task kind 'lazy' does not accept inbound messages" }
              : kind === 'boom'
                ? { failed: 'deliver exploded' }
                : 'delivered'
        // An answer that resumed the task but was not delivered puts the
        // request back (SPEC 12.4).
        if (
          delivery !== 'delivered' &&
          !isTerminal(task.state) &&
          before?.state === 'awaiting_input' &&
          before.inputRequest !== undefined &&
          task.state === 'running' &&
          task.attempt === before.attempt
        ) {
          m.update(sid, tid, {
            inputRequest: before.inputRequest,
            expectedAttempt: task.attempt,
            expectedState: 'running',
          })
          // Resumed, then put back: two real transitions that may end on the
          // very record it started from (the model's clock stands still).
          this.roundTrip.add(tid)
          note('undelivered answer put back')
        }
        expect(resultOf(out)).toStrictEqual({ message: expected, delivery })
        return
      }
      case 'reap':
        return this.runReap(op)
    }
  }

  private checkMessageOutcome(
    out: Outcome<unknown>,
    expected: TaskMessage | 'not_found' | 'stale',
  ) {
    if (expected === 'not_found') {
      expectError(out, isTaskNotFoundError, 'TaskNotFoundError')
      this.stepKind = 'quiet'
    } else if (expected === 'stale') {
      expectError(out, isStaleAttemptError, 'StaleAttemptError')
      this.stepKind = 'quiet'
    } else {
      if (out.ok && out.value !== undefined) expect(out.value).toStrictEqual(expected)
      else resultOf(out)
      expect(expected.id).toMatch(/^tmsg_[A-Za-z0-9_-]{21}$/)
      expect(this.messageIds, 'message ids are unique').not.toContain(expected.id)
      this.messageIds.push(expected.id)
    }
  }

  private async runSink(op: Extract<Op, { op: 'sink' }>): Promise<void> {
    const m = this.model
    const { sid, tid } = this.target(op.t)
    const attempt = this.fence(op.attempt, sid, tid) ?? 1
    const sink = new RegistryTaskSink(this.registry, sid, tid, attempt)
    const action = op.action
    const write = async (update: SessionTaskUpdate, call: () => Promise<void>) => {
      this.stepKind = 'single'
      this.markFenced(sid, tid, attempt)
      const out = await settle(call)
      resultOf(out)
      m.update(sid, tid, { ...update, expectedAttempt: attempt })
    }
    switch (action.a) {
      case 'state':
        return write(
          action.detail === undefined
            ? { state: action.state }
            : { state: action.state, stateDetail: action.detail },
          () => sink.state(action.state, action.detail),
        )
      case 'progress':
        return write({ progress: action.progress }, () => sink.progress(action.progress))
      case 'requestInput':
        return write({ inputRequest: action.request }, () => sink.requestInput(action.request))
      case 'artifact':
        return write({ appendArtifact: action.artifact }, () => sink.artifact(action.artifact))
      case 'heartbeat': {
        // A heartbeat leaves a finished task alone: no write, no event.
        const target = m.find(sid, tid)
        if (target === undefined || !isTerminal(target.task.state)) {
          return write({ heartbeatAt: new Date(this.t).toISOString() }, () => sink.heartbeat())
        }
        this.stepKind = 'quiet'
        resultOf(await settle(() => sink.heartbeat()))
        return
      }
      case 'update':
        return write(action.update, () => sink.update(action.update))
      case 'output': {
        this.stepKind = 'single'
        resultOf(await settle(() => sink.output(action.stream, action.delta)))
        m.output(sid, tid, attempt, action.stream, action.delta)
        return
      }
      case 'post': {
        const g0 = this.global.length
        const inReplyTo = this.reply(action.inReplyTo, sid, tid)
        const out = await settle(() =>
          sink.post({
            content: action.content,
            ...(inReplyTo === undefined ? {} : { inReplyTo }),
          }),
        )
        // post returns nothing: take the stored id from the event (if any).
        const seen = this.global.slice(g0).find((e) => e.type === 'task.message.received')
        const id =
          (seen?.payload as { message?: TaskMessage } | undefined)?.message?.id ?? 'missing'
        const expected = m.recordMessage(
          sid,
          tid,
          {
            direction: 'outbound',
            content: action.content,
            expectedAttempt: attempt,
            ...(inReplyTo === undefined ? {} : { inReplyTo }),
          },
          id,
        )
        this.checkMessageOutcome(out, expected)
        return
      }
    }
  }

  private async runSpawn(op: Extract<Op, { op: 'spawn' }>): Promise<void> {
    const m = this.model
    const sid = sessionAt(op.s)
    const input: CreateSessionTask = {
      sessionId: sid,
      kind: op.kind,
      displayName: `spawned ${op.kind}`,
      ...(op.id === undefined ? {} : { id: op.id }),
      ...(op.state === undefined ? {} : { state: op.state }),
      ...(op.wakePolicy === undefined ? {} : { wakePolicy: op.wakePolicy }),
    }
    const g0 = this.global.length
    const out = await settle(() => this.supervisor.spawn(input))
    if (op.kind === 'orphan') {
      expectError(out, isNoExecutorError, 'NoExecutorError')
      this.stepKind = 'quiet'
      return
    }
    const created = this.global.slice(g0).find((e) => e.type === 'task.created')
    const generated = (created?.payload as { task?: SessionTask } | undefined)?.task?.id ?? 'none'
    const result = m.create(input, generated)
    if (result === 'conflict') {
      expectError(out, isTaskConflictError, 'TaskConflictError')
      this.stepKind = 'quiet'
      return
    }
    if (created === undefined) {
      // Idempotent spawn of an existing caller id: the stored record, nothing started.
      this.stepKind = 'quiet'
      expect(resultOf(out)).toStrictEqual(result)
      return
    }
    this.noteId(result.id, sid)
    const atCreate = clone(result)
    if (!isTerminal(result.state)) {
      m.runs.set(result.id, { attempt: 1, cancelCalled: false })
      if (op.kind === 'work') {
        m.update(sid, result.id, { state: 'running', expectedAttempt: 1 })
        m.update(sid, result.id, { heartbeatAt: m.now, expectedAttempt: 1 })
      }
      if (op.kind === 'lazy') m.update(sid, result.id, { heartbeatAt: m.now, expectedAttempt: 1 })
      if (op.kind === 'boom')
        m.update(sid, result.id, {
          state: 'failed',
          error: { kind: 'start_failed', message: 'start exploded' },
          expectedAttempt: 1,
        })
    }
    const now = m.find(sid, result.id)?.task
    const value = resultOf(out)
    // SPEC 9 only promises "once the task is created and start has been
    // called"; a failing start may or may not show yet.
    if (op.kind === 'boom' && sameJson(value, atCreate)) return
    expect(value).toStrictEqual(now)
  }

  private modelCancel(sid: string, tid: string): SessionTask | undefined {
    const m = this.model
    const requested = m.requestCancel(sid, tid)
    if (requested === undefined) {
      this.stepKind = 'quiet'
      return undefined
    }
    if (!isTerminal(requested.state)) {
      const run = m.runs.get(tid)
      if (run === undefined || !run.cancelCalled) {
        if (run !== undefined) run.cancelCalled = true
        const kind = requested.kind as Kind
        if (kind === 'orphan')
          m.update(sid, tid, {
            state: 'canceled',
            stateDetail: "canceled; no executor is registered for task kind 'orphan'",
          })
        else if (kind === 'work')
          m.update(sid, tid, {
            state: 'canceled',
            stateDetail: 'stopped by executor',
            expectedAttempt: run?.attempt ?? requested.attempt,
          })
      }
    }
    return clone(m.find(sid, tid)?.task)
  }

  private async runReap(op: Extract<Op, { op: 'reap' }>): Promise<void> {
    const m = this.model
    const out = await settle(() =>
      this.supervisor.reap({
        staleAfterMs: op.staleAfterMs,
        maxAttempts: op.maxAttempts,
        ...(op.limit === undefined ? {} : { limit: op.limit }),
      }),
    )
    const nowIso = new Date(this.t).toISOString()
    const cutoff = new Date(this.t - op.staleAfterMs).toISOString()
    const candidates = m.listStale(cutoff, op.limit ?? 50)
    const expected: ReapResult = {
      candidates: candidates.length,
      reaped: 0,
      reattached: 0,
      skipped: 0,
      outcomes: [],
    }
    for (const c of candidates) {
      const task = m.find(c.sessionId, c.id)?.task as SessionTask
      if (task.kind === 'work' && task.attempt < op.maxAttempts) {
        const n = task.attempt + 1
        m.update(task.sessionId, task.id, {
          incrementAttempt: true,
          workerId: 'reaper',
          stateDetail: `re-attached (attempt ${n})`,
          heartbeatAt: nowIso,
          expectedAttempt: task.attempt,
        })
        m.runs.set(task.id, { attempt: n, cancelCalled: false })
        m.update(task.sessionId, task.id, { state: 'running', expectedAttempt: n })
        m.update(task.sessionId, task.id, { heartbeatAt: nowIso, expectedAttempt: n })
        expected.reattached++
        note('reap: reattached')
        expected.outcomes.push({
          sessionId: task.sessionId,
          taskId: task.id,
          outcome: 'reattached',
        })
      } else if (task.kind === 'boom' && task.attempt < op.maxAttempts) {
        // Re-attach whose start fails: bumped once by the re-attach, then
        // failed orphaned on the new attempt without a second bump.
        const n = task.attempt + 1
        const message = 'worker heartbeat stopped; re-attach failed: start exploded'
        m.update(task.sessionId, task.id, {
          incrementAttempt: true,
          workerId: 'reaper',
          stateDetail: `re-attached (attempt ${n})`,
          heartbeatAt: nowIso,
          expectedAttempt: task.attempt,
        })
        m.runs.set(task.id, { attempt: n, cancelCalled: false })
        m.update(task.sessionId, task.id, {
          state: 'failed',
          error: { kind: 'orphaned', message },
          expectedAttempt: n,
        })
        expected.reaped++
        note('reap: re-attach failed')
        expected.outcomes.push({
          sessionId: task.sessionId,
          taskId: task.id,
          outcome: 'reaped',
          reason: message,
        })
      } else {
        m.update(task.sessionId, task.id, {
          state: 'failed',
          error: { kind: 'orphaned', message: 'worker heartbeat stopped' },
          incrementAttempt: true,
          expectedAttempt: task.attempt,
        })
        expected.reaped++
        note('reap: reaped')
        expected.outcomes.push({
          sessionId: task.sessionId,
          taskId: task.id,
          outcome: 'reaped',
          ...(task.attempt >= op.maxAttempts ? { reason: 'max attempts reached' } : {}),
        })
      }
    }
    if (candidates.length === 0) this.stepKind = 'quiet'
    expect(resultOf(out)).toStrictEqual(expected)
  }
}

// ---------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------

function replayParameters(): { seed?: number; path?: string } {
  const seed = process.env.FC_SEED
  const path = process.env.FC_PATH
  return {
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
  }
}

describe('model-based: registry, sinks and supervisor against a reference model', () => {
  test(
    `random operation sequences over 3 sessions keep every invariant (${NUM_RUNS} sequences)`,
    async () => {
      const replay = replayParameters()
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }),
          async (ops) => {
            stats.sequences++
            const h = new Harness()
            for (const [i, op] of ops.entries()) await h.step(i, op)
          },
        ),
        {
          numRuns: replay.path === undefined ? NUM_RUNS : 1,
          ...replay,
        },
      )
      console.log(
        `model-based: ${stats.sequences} sequences, ${stats.steps} steps checked\n` +
          `  ops: ${JSON.stringify(stats.ops)}\n  events: ${JSON.stringify(stats.events)}\n  notes: ${JSON.stringify(stats.notes)}`,
      )
    },
    120_000 * LONG,
  )

  test('the harness notices a wrong model (the checks can fail)', async () => {
    // Sanity check of the checker itself: a model that forgets an event must
    // be caught by step().
    const h = new Harness()
    await h.step(0, {
      op: 'create',
      s: 0,
      id: 'c1',
      kind: 'lazy',
      state: undefined,
      wakePolicy: undefined,
      spec: 0,
      links: undefined,
      root: false,
    })
    const sabotaged = h.model.update.bind(h.model)
    h.model.update = (sid, tid, u) => {
      const r = sabotaged(sid, tid, u)
      h.model.events.pop()
      return r
    }
    await expect(
      h.step(1, {
        op: 'update',
        t: { pick: 1, mode: 'own' },
        update: { summary: 'changed' },
        fence: undefined,
      }),
    ).rejects.toThrow()
  })
})
