/**
 * Per-operation throughput of small tasks: the floor, session-tasks and the
 * peers side by side, in one process. A store of 1k tasks per subject in
 * sessions of 100, one listener on the session under test; `list` runs on a
 * store of 100k tasks per subject (10k in quick mode), built for one subject
 * at a time. Every subject is called directly: the case hands its promise to
 * the harness, with no async wrapper of its own, except the composite cases
 * (lifecycle, supervisor) whose steps are awaited in turn on every side.
 * The realistic-task comparison is in bench/realistic.ts.
 */

import { TaskState } from '@a2a-js/sdk'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  RegistryTaskSink,
  TaskExecutorRegistry,
} from '../src/index.js'
import { FloorRegistry, FloorSupervisor } from './floor.js'
import {
  at,
  type Budget,
  type Case,
  measure,
  noop,
  progress,
  quick,
  type Subject,
  tickingClock,
} from './harness.js'
import { A2APeer, McpPeer } from './peers.js'
import { type Cases, runSection, type SectionResult } from './section.js'

export type { SectionResult } from './section.js'

/** The operations of the core section, in table order. */
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
/** One of {@link CORE_OPS}. */
export type CoreOp = (typeof CORE_OPS)[number]

/** Tasks per subject for `list`, built for one subject at a time. */
const LIST_TASKS = quick ? 10_000 : 100_000
/** Messages on the task `listMessages` reads. */
const MESSAGES_ON_TASK = quick ? 1_000 : 10_000
const kLabel = (n: number) => `${n / 1000}k`

// Measured in this order: the cases that grow their stores (create adds a
// task per call, recordMessage a message, lifecycle and supervisor a task)
// come last, each after a settle, so that what they leave behind (a million
// tasks across the subjects after create) is not the heap the others run on.
const MEASURE_ORDER: readonly CoreOp[] = [
  'update',
  'heartbeat',
  'get',
  'listMessages',
  'list',
  'recordMessage',
  'lifecycle',
  'supervisor',
  'create',
]
const GROWING: ReadonlySet<string> = new Set(['recordMessage', 'lifecycle', 'supervisor', 'create'])

/** Row labels of the core section. */
export const CORE_OP_LABELS: Record<CoreOp, string> = {
  create: 'create',
  update: 'update (progress, 1 listener)',
  heartbeat: 'heartbeat (sink)',
  get: 'get',
  list: `list one session (100 of ${kLabel(LIST_TASKS)} tasks)`,
  recordMessage: 'recordMessage',
  listMessages: `listMessages (limit 20 of ${kLabel(MESSAGES_ON_TASK)})`,
  lifecycle: 'lifecycle (create, running, 10 progress, succeeded)',
  supervisor: 'supervisor spawn → terminal',
}

/** Tasks per subject for every operation but `list` (10 sessions of 100). */
const STORE_TASKS = 1_000
/** Tasks per session. */
export const SESSION_SIZE = 100
const TARGET = 'sess-0'

const TEXT = [{ type: 'text' as const, text: 'step done' }]

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
      mcp: (i) => mcp.store.updateTaskStatus(at(ids.mcp, i), 'working', `${i}/${i + 1}`, TARGET),
    },
    heartbeat: {
      floor: (i) => floor.heartbeat(TARGET, at(fl, i)),
      'session-tasks': (i) => at(sinks, i).heartbeat(),
    },
    get: {
      floor: (i) => floor.get(TARGET, at(fl, i)),
      'session-tasks': (i) => registry.get(TARGET, at(r, i)),
      a2a: (i) => a2a.store.load(at(ids.a2a, i), a2a.context),
      mcp: (i) => mcp.store.getTask(at(ids.mcp, i), TARGET),
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

/** The core section: every operation of small tasks, every subject that has it. */
export async function runCore(budget: Budget): Promise<SectionResult<CoreOp>> {
  progress(`core: building ${STORE_TASKS.toLocaleString('en-US')} tasks per subject`)
  const fx = await buildCoreFixture()
  const cleanup: (() => unknown)[] = [() => fx.mcp.close()]
  const cases = coreCases(fx, cleanup)
  // A discarded pass over the cases that do not grow their stores, so the
  // first one measured is not the JIT's warm-up of the whole registry.
  const warm: Case[] = []
  for (const op of ['update', 'heartbeat', 'get', 'listMessages'] as const) {
    for (const [subject, fn] of Object.entries(cases[op]))
      warm.push({ key: `${op}/${subject}`, op: fn })
  }
  await measure('core warm-up', warm, {
    timeMs: budget.timeMs / 4,
    warmupMs: budget.warmupMs,
    rounds: 1,
  })
  try {
    return await runSection(
      'core',
      MEASURE_ORDER,
      cases,
      budget,
      (subject) => listCase(subject, cleanup),
      GROWING,
    )
  } finally {
    for (const done of cleanup) await done()
  }
}
