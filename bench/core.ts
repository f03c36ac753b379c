/**
 * Per-operation throughput: the floor, session-tasks and the peers side by
 * side, in one process. Two sections:
 *
 * - `core`: small tasks (a tiny spec), a store of 1k tasks per subject in
 *   sessions of 100, one listener on the session under test; `list` runs on
 *   a store of 100k tasks per subject, built for one subject at a time.
 * - `realistic`: tasks with a ~1 KB spec and 10 messages of history, for the
 *   comparison with the peers on update and get.
 */

import { TaskState } from '@a2a-js/sdk'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type JsonValue,
  RegistryTaskSink,
  TaskExecutorRegistry,
} from '../src/index.js'
import { FloorRegistry, FloorSupervisor } from './floor.js'
import {
  type Budget,
  type Case,
  type Measurement,
  measure,
  progress,
  SUBJECTS,
  type Subject,
  settle,
  tickingClock,
} from './harness.js'
import { A2APeer, a2aMessage, McpPeer } from './peers.js'

export const CORE_OPS = [
  'create',
  'update',
  'heartbeat',
  'get',
  'list',
  'recordMessage',
  'listMessages',
  'lifecycle',
  'supervisor',
] as const
export type CoreOp = (typeof CORE_OPS)[number]

export const CORE_OP_LABELS: Record<CoreOp, string> = {
  create: 'create',
  update: 'update (progress, 1 listener)',
  heartbeat: 'heartbeat (sink)',
  get: 'get',
  list: 'list one session (100 of 100k tasks)',
  recordMessage: 'recordMessage',
  listMessages: 'listMessages (limit 20 of 10k)',
  lifecycle: 'lifecycle (create, running, 10 progress, succeeded)',
  supervisor: 'supervisor spawn → terminal',
}

export const REALISTIC_OPS = ['update', 'get'] as const
export type RealisticOp = (typeof REALISTIC_OPS)[number]

/** Measurements by operation, then by subject (absent: no equivalent). */
export type SectionResult<Op extends string> = Record<Op, Partial<Record<Subject, Measurement>>>

/** Tasks per subject for every operation but `list` (10 sessions of 100). */
const STORE_TASKS = 1_000
/** Tasks per subject for `list`, built for one subject at a time. */
const LIST_TASKS = 100_000
const SESSION_SIZE = 100
const TARGET = 'sess-0'
const MESSAGES_ON_TASK = 10_000

const TEXT = [{ type: 'text' as const, text: 'step done' }]

/** A spec of ~1 KB of JSON, shaped like a background tool call. */
export function realisticSpec(i: number): { [key: string]: JsonValue } {
  const spec = {
    tool: 'run_command',
    request: { id: `req-${i}`, attempt: 1 },
    args: {
      cwd: '/workspace/repo',
      command: 'npm test -- --coverage --reporter=dot',
      env: { CI: 'true', NODE_ENV: 'test', FORCE_COLOR: '0' },
      timeoutMs: 600_000,
    },
    files: ['src/index.ts', 'src/registry.ts', 'src/supervisor.ts', 'test/registry.test.ts'],
    labels: { origin: 'agent', priority: 'normal', retries: 2 },
    prompt: '',
  }
  const pad = 1024 - JSON.stringify(spec).length
  spec.prompt = 'Run the test suite and report failures with file and line. '
    .repeat(20)
    .slice(0, Math.max(0, pad))
  return spec
}

/** The 10 history messages of a realistic task. */
export const HISTORY = Array.from(
  { length: 10 },
  (_, k) => `message ${k + 1}: checked step ${k + 1} of the plan and wrote the notes`,
)

const noop = (..._args: unknown[]) => {}

type Fixture = {
  registry: InMemorySessionTaskRegistry
  floor: FloorRegistry
  a2a: A2APeer
  mcp: McpPeer
  /** Ids of the target session's 100 tasks, per subject. */
  ids: Record<Subject, string[]>
  sinks: RegistryTaskSink[]
  messagesTask: { registry: string; floor: string }
  recordTask: { registry: string; floor: string }
}

/** 1k small tasks per subject; the target session's tasks are running. */
async function buildCoreFixture(): Promise<Fixture> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const floor = new FloorRegistry(tickingClock())
  const a2a = new A2APeer()
  const mcp = new McpPeer()
  const ids: Record<Subject, string[]> = { floor: [], 'session-tasks': [], a2a: [], mcp: [] }
  for (let i = 0; i < STORE_TASKS; i++) {
    const sessionId = `sess-${Math.floor(i / SESSION_SIZE)}`
    const input = { sessionId, kind: 'background_tool', displayName: 'job', spec: { n: i } }
    const r = await registry.create(input)
    const f = await floor.create(input)
    const a = await a2a.create(sessionId, { n: i })
    const m = await mcp.create(sessionId, { n: i })
    if (sessionId === TARGET) {
      ids['session-tasks'].push(r.id)
      ids.floor.push(f.id)
      ids.a2a.push(a.id)
      ids.mcp.push(m)
    }
  }
  for (let k = 0; k < SESSION_SIZE; k++) {
    await registry.update(TARGET, ids['session-tasks'][k] as string, { state: 'running' })
    await floor.update(TARGET, ids.floor[k] as string, { state: 'running' })
    await a2a.update(ids.a2a[k] as string, TaskState.TASK_STATE_WORKING)
  }
  const sinks = ids['session-tasks'].map((id) => new RegistryTaskSink(registry, TARGET, id))
  // The message tasks live in the next session, so `list` still sees 100 tasks.
  const other = `sess-1`
  const rm = await registry.create({ sessionId: other, kind: 'agent', displayName: 'chatty' })
  const fm = await floor.create({ sessionId: other, kind: 'agent', displayName: 'chatty' })
  for (let k = 0; k < MESSAGES_ON_TASK; k++) {
    const content = [{ type: 'text' as const, text: `message ${k}` }]
    await registry.recordMessage(other, rm.id, { direction: 'outbound', content })
    await floor.recordMessage(other, fm.id, { direction: 'outbound', content })
  }
  const rr = await registry.create({ sessionId: TARGET, kind: 'agent', displayName: 'recorder' })
  const fr = await floor.create({ sessionId: TARGET, kind: 'agent', displayName: 'recorder' })
  // One listener on the session under test, as a UI bridge would have.
  registry.subscribe(TARGET, noop)
  registry.subscribe(other, noop)
  floor.subscribe(TARGET, noop)
  floor.subscribe(other, noop)
  return {
    registry,
    floor,
    a2a,
    mcp,
    ids,
    sinks,
    messagesTask: { registry: rm.id, floor: fm.id },
    recordTask: { registry: rr.id, floor: fr.id },
  }
}

const at = <T>(list: readonly T[], i: number): T => list[i % list.length] as T

type Cases<Op extends string> = Record<Op, Partial<Record<Subject, Case['op']>>>

function coreCases(fx: Fixture, cleanup: (() => unknown)[]): Cases<CoreOp> {
  const { registry, floor, a2a, mcp, ids, sinks } = fx
  const r = ids['session-tasks']
  const fl = ids.floor
  // create and lifecycle write into their own stores, away from the list fixture.
  const freshRegistry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const freshFloor = new FloorRegistry(tickingClock())
  const freshA2A = new A2APeer()
  const freshMcp = new McpPeer()
  const lifeRegistry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const lifeFloor = new FloorRegistry(tickingClock())
  const lifeA2A = new A2APeer()
  const lifeMcp = new McpPeer()
  cleanup.push(
    () => freshMcp.close(),
    () => lifeMcp.close(),
  )
  const input = (i: number) => ({
    sessionId: `new-${i % 1000}`,
    kind: 'background_tool',
    displayName: 'job',
    spec: { n: i },
  })
  return {
    create: {
      floor: (i) => freshFloor.create(input(i)),
      'session-tasks': (i) => freshRegistry.create(input(i)),
      a2a: (i) => freshA2A.create(`new-${i % 1000}`, { n: i }),
      mcp: (i) => freshMcp.create(`new-${i % 1000}`, { n: i }),
    },
    update: {
      floor: (i) => floor.update(TARGET, at(fl, i), { progress: { current: i, total: i + 1 } }),
      'session-tasks': (i) =>
        registry.update(TARGET, at(r, i), { progress: { current: i, total: i + 1 } }),
      a2a: (i) => a2a.update(at(ids.a2a, i), TaskState.TASK_STATE_WORKING, `${i}/${i + 1}`),
      mcp: (i) => mcp.update(TARGET, at(ids.mcp, i), `${i}/${i + 1}`),
    },
    heartbeat: {
      floor: (i) => floor.heartbeat(TARGET, at(fl, i)),
      'session-tasks': (i) => at(sinks, i).heartbeat(),
    },
    get: {
      floor: (i) => floor.get(TARGET, at(fl, i)),
      'session-tasks': (i) => registry.get(TARGET, at(r, i)),
      a2a: (i) => a2a.get(at(ids.a2a, i)),
      mcp: (i) => mcp.get(TARGET, at(ids.mcp, i)),
    },
    // Measured on its own 100k-task stores (see listCase).
    list: {},
    recordMessage: {
      floor: () =>
        floor.recordMessage(TARGET, fx.recordTask.floor, { direction: 'outbound', content: TEXT }),
      'session-tasks': () =>
        registry.recordMessage(TARGET, fx.recordTask.registry, {
          direction: 'outbound',
          content: TEXT,
        }),
    },
    listMessages: {
      floor: () => floor.listMessages('sess-1', fx.messagesTask.floor, 20),
      'session-tasks': () =>
        registry.listMessages('sess-1', fx.messagesTask.registry, { limit: 20 }),
    },
    lifecycle: {
      floor: async (i) => {
        const sessionId = `life-${i % 100}`
        const task = await lifeFloor.create({
          sessionId,
          kind: 'background_tool',
          displayName: 'j',
        })
        await lifeFloor.update(sessionId, task.id, { state: 'running' })
        for (let k = 1; k <= 10; k++) {
          await lifeFloor.update(sessionId, task.id, { progress: { current: k, total: 10 } })
        }
        await lifeFloor.update(sessionId, task.id, { state: 'succeeded', summary: 'done' })
      },
      'session-tasks': async (i) => {
        const sessionId = `life-${i % 100}`
        const task = await lifeRegistry.create({
          sessionId,
          kind: 'background_tool',
          displayName: 'j',
        })
        await lifeRegistry.update(sessionId, task.id, { state: 'running' })
        for (let k = 1; k <= 10; k++) {
          await lifeRegistry.update(sessionId, task.id, { progress: { current: k, total: 10 } })
        }
        await lifeRegistry.update(sessionId, task.id, { state: 'succeeded', summary: 'done' })
      },
      a2a: (i) => lifeA2A.lifecycle(`life-${i % 100}`),
      mcp: (i) => lifeMcp.lifecycle(`life-${i % 100}`),
    },
    supervisor: supervisorCases(cleanup),
  }
}

function supervisorCases(cleanup: (() => unknown)[]): Partial<Record<Subject, Case['op']>> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const executors = new TaskExecutorRegistry()
  executors.register({
    kind: 'bench',
    executor: () => ({
      kind: 'bench',
      async start(_task, { sink }) {
        await sink.state('running')
        await sink.update({ state: 'succeeded', summary: 'done' })
      },
      async cancel(_task, { sink }) {
        await sink.state('canceled')
      },
    }),
  })
  const supervisor = createTaskSupervisor({ registry, executors })
  cleanup.push(() => supervisor.close())
  const floor = new FloorRegistry(tickingClock())
  const floorSupervisor = new FloorSupervisor(floor, async (_task, sink) => {
    await sink.update({ state: 'running' })
    await sink.update({ state: 'succeeded', summary: 'done' })
  })
  return {
    floor: (i) =>
      floorSupervisor.run({ sessionId: `sup-${i % 100}`, kind: 'bench', displayName: 'j' }),
    'session-tasks': async (i) => {
      const sessionId = `sup-${i % 100}`
      const task = await supervisor.spawn({ sessionId, kind: 'bench', displayName: 'j' })
      const { task: done } = await supervisor.wait(sessionId, task.id)
      if (done.state !== 'succeeded') throw new Error(`supervised task ended ${done.state}`)
    },
  }
}

/**
 * `list` of one session of 100 among 100k tasks. Each subject gets its own
 * store, built just before it is measured and dropped after, so no subject
 * pays for collecting another's heap.
 */
async function listCase(subject: Subject, cleanup: (() => unknown)[]): Promise<Case['op']> {
  const sessionOf = (i: number) => `sess-${Math.floor(i / SESSION_SIZE)}`
  const spec = (i: number) => ({ n: i })
  switch (subject) {
    case 'floor': {
      const floor = new FloorRegistry(tickingClock())
      for (let i = 0; i < LIST_TASKS; i++) {
        await floor.create({
          sessionId: sessionOf(i),
          kind: 'background_tool',
          displayName: 'job',
          spec: spec(i),
        })
      }
      return () => floor.list(TARGET)
    }
    case 'session-tasks': {
      const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
      for (let i = 0; i < LIST_TASKS; i++) {
        await registry.create({
          sessionId: sessionOf(i),
          kind: 'background_tool',
          displayName: 'job',
          spec: spec(i),
        })
      }
      return () => registry.list(TARGET)
    }
    case 'a2a': {
      const a2a = new A2APeer()
      for (let i = 0; i < LIST_TASKS; i++) await a2a.create(sessionOf(i), spec(i))
      return () => a2a.list(TARGET)
    }
    case 'mcp': {
      const mcp = new McpPeer()
      cleanup.push(() => mcp.close())
      for (let i = 0; i < LIST_TASKS; i++) await mcp.create(sessionOf(i), spec(i))
      return () => mcp.list(TARGET)
    }
  }
}

/** Runs one tinybench per operation, every subject of it back to back. */
async function runSection<Op extends string>(
  name: string,
  ops: readonly Op[],
  cases: Cases<Op>,
  budget: Budget,
  lists?: (subject: Subject) => Promise<Case['op']>,
): Promise<SectionResult<Op>> {
  const out = {} as SectionResult<Op>
  for (const op of ops) {
    if (lists !== undefined && op === 'list') {
      const row: Partial<Record<Subject, Measurement>> = {}
      for (const subject of SUBJECTS) {
        progress(`${name}: list (${subject}: building ${LIST_TASKS.toLocaleString('en-US')} tasks)`)
        const measured = await measure(
          `${name} list ${subject}`,
          [{ key: subject, op: await lists(subject) }],
          budget,
        )
        const m = measured.get(subject)
        if (m !== undefined) row[subject] = m
        // Collect this subject's 100k-task store before anything else runs.
        await settle()
      }
      out[op] = row
      continue
    }
    const list: Case[] = []
    for (const [subject, fn] of Object.entries(cases[op]) as [Subject, Case['op']][]) {
      list.push({ key: subject, op: fn })
    }
    progress(`${name}: ${op} (${list.map((c) => c.key).join(', ')})`)
    const measured = await measure(`${name} ${op}`, list, budget)
    out[op] = Object.fromEntries(measured) as Partial<Record<Subject, Measurement>>
  }
  return out
}

export async function runCore(budget: Budget): Promise<SectionResult<CoreOp>> {
  progress(`core: building ${STORE_TASKS.toLocaleString('en-US')} tasks per subject`)
  const fx = await buildCoreFixture()
  const cleanup: (() => unknown)[] = [() => fx.mcp.close()]
  const cases = coreCases(fx, cleanup)
  try {
    return await runSection('core', CORE_OPS, cases, budget, (subject) =>
      listCase(subject, cleanup),
    )
  } finally {
    for (const done of cleanup) await done()
  }
}

/** Tasks with a ~1 KB spec and 10 messages of history; update and get. */
export async function runRealistic(budget: Budget): Promise<SectionResult<RealisticOp>> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const floor = new FloorRegistry(tickingClock())
  const a2a = new A2APeer()
  const mcp = new McpPeer()
  const sessionId = 'real-0'
  const ids: Record<Subject, string[]> = { floor: [], 'session-tasks': [], a2a: [], mcp: [] }
  for (let i = 0; i < SESSION_SIZE; i++) {
    const spec = realisticSpec(i)
    const input = { sessionId, kind: 'background_tool', displayName: 'run tests', spec }
    const r = await registry.create(input)
    const f = await floor.create(input)
    for (const text of HISTORY) {
      const message = { direction: 'outbound' as const, content: [{ type: 'text' as const, text }] }
      await registry.recordMessage(sessionId, r.id, message)
      await floor.recordMessage(sessionId, f.id, message)
    }
    await registry.update(sessionId, r.id, { state: 'running' })
    await floor.update(sessionId, f.id, { state: 'running' })
    const a = await a2a.create(sessionId, spec, (id) =>
      HISTORY.map((text) => a2aMessage(id, sessionId, text)),
    )
    await a2a.update(a.id, TaskState.TASK_STATE_WORKING)
    ids['session-tasks'].push(r.id)
    ids.floor.push(f.id)
    ids.a2a.push(a.id)
    ids.mcp.push(await mcp.create(sessionId, spec))
  }
  registry.subscribe(sessionId, noop)
  floor.subscribe(sessionId, noop)
  const cases: Cases<RealisticOp> = {
    update: {
      floor: (i) =>
        floor.update(sessionId, at(ids.floor, i), { progress: { current: i, total: i + 1 } }),
      'session-tasks': (i) =>
        registry.update(sessionId, at(ids['session-tasks'], i), {
          progress: { current: i, total: i + 1 },
        }),
      a2a: (i) => a2a.update(at(ids.a2a, i), TaskState.TASK_STATE_WORKING, `${i}/${i + 1}`),
      mcp: (i) => mcp.update(sessionId, at(ids.mcp, i), `${i}/${i + 1}`),
    },
    get: {
      floor: (i) => floor.get(sessionId, at(ids.floor, i)),
      'session-tasks': (i) => registry.get(sessionId, at(ids['session-tasks'], i)),
      a2a: (i) => a2a.get(at(ids.a2a, i)),
      mcp: (i) => mcp.get(sessionId, at(ids.mcp, i)),
    },
  }
  try {
    return await runSection('realistic', REALISTIC_OPS, cases, budget)
  } finally {
    mcp.close()
  }
}
