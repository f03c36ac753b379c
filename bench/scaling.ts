/**
 * Scaling of session-tasks, with the floor under the same runs for reference.
 *
 * Tasks: one registry per size (1k to 1M finished tasks: created, running,
 * succeeded; sessions of 100), all alive at once, plus in each the session
 * under test: 99 running tasks and one with 1,000 messages, one listener.
 * Every size's operations (get of one of the 100, update of one of the 99,
 * list of the session, listMessages limit 20 of the chatty task; for
 * information, get of a task drawn at random from the whole registry) are
 * measured in one interleaved run: each round runs every size in turn,
 * forward then backward, so drift of the machine shows as spread over
 * rounds, not as scaling. Building the largest registry also gives the heap
 * per finished task (bench/memory.ts).
 *
 * Messages: one 1k-task registry per size whose chatty task has 100 to 100k
 * messages; get, update and listMessages of that task and list of its
 * session, interleaved the same way.
 */
import { InMemorySessionTaskRegistry } from '../src/index.js'
import { FloorRegistry } from './floor.js'
import {
  at,
  type Budget,
  type Case,
  canMeasureHeap,
  heapUsed,
  type Measurement,
  measure,
  noop,
  progress,
  tickingClock,
} from './harness.js'
import { type TaskMemory, taskMemory } from './memory.js'

/** The operations measured at every size. */
export const SCALE_OPS = ['get', 'update', 'list', 'listMessages'] as const
/** One of {@link SCALE_OPS}. */
export type ScaleOp = (typeof SCALE_OPS)[number]

/** Row labels of the scaling tables. */
export const SCALE_OP_LABELS: Record<ScaleOp, string> = {
  get: 'get',
  update: 'update (progress, 1 listener)',
  list: 'list (session of 100)',
  listMessages: 'listMessages (limit 20)',
}

/**
 * The measured operations at one size; `getRandom` (task scaling only, not a
 * target) reads a task drawn at random from the whole registry.
 */
export type ScalingPoint = {
  size: number
  ops: Record<ScaleOp, Measurement>
  getRandom?: Measurement
}

/** The floor's task scaling, for reference (not a target). */
export type FloorScaling = {
  points: ScalingPoint[]
  /** Heap per finished floor task at the largest size (raw delta ÷ tasks). */
  bytesPerTask: number
}

const SESSION_SIZE = 100
const TARGET = 'target'
const SAMPLE = 1024
const TASK_MESSAGES = 1000
const MESSAGE_REGISTRY_TASKS = 1000

const shortText = (k: number) => `step ${k} ok`

/** A small seeded PRNG, so the random sample is the same from run to run. */
function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Ref = { sessionId: string; id: string }

/** A seeded reservoir sample of task references. */
function reservoir(size: number) {
  const random = mulberry32(42)
  const sample: Ref[] = []
  let seen = 0
  return {
    sample,
    offer(ref: Ref): void {
      if (sample.length < size) sample.push(ref)
      else {
        const j = Math.floor(random() * (seen + 1))
        if (j < size) sample[j] = ref
      }
      seen++
    },
  }
}

/** The subset of both registries' APIs the scaling runs use. */
type Store = {
  create(input: {
    sessionId: string
    kind: string
    displayName: string
    spec?: { n: number }
  }): Promise<{ id: string }>
  update(sessionId: string, taskId: string, update: { state: 'running' | 'succeeded' }): unknown
  recordMessage(
    sessionId: string,
    taskId: string,
    message: { direction: 'outbound'; content: { type: 'text'; text: string }[] },
  ): Promise<unknown>
  subscribe(sessionId: string, listener: typeof noop): unknown
}

/** Adds `count` finished tasks in sessions of 100 (`s-0`, `s-1`, ...). */
async function fillFinished(store: Store, count: number, offer?: (ref: Ref) => void) {
  for (let f = 0; f < count; f++) {
    const sessionId = `s-${Math.floor(f / SESSION_SIZE)}`
    const task = await store.create({
      sessionId,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: f },
    })
    await store.update(sessionId, task.id, { state: 'running' })
    await store.update(sessionId, task.id, { state: 'succeeded' })
    offer?.({ sessionId, id: task.id })
  }
}

async function addMessages(store: Store, sessionId: string, taskId: string, count: number) {
  for (let k = 0; k < count; k++) {
    await store.recordMessage(sessionId, taskId, {
      direction: 'outbound',
      content: [{ type: 'text', text: shortText(k) }],
    })
  }
}

type Target = { running: string[]; chatty: string }

/** The session under test: 99 running tasks and one with `messages` messages; one listener. */
async function addTarget(store: Store, messages: number): Promise<Target> {
  const running: string[] = []
  for (let k = 0; k < SESSION_SIZE - 1; k++) {
    const task = await store.create({
      sessionId: TARGET,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: k },
    })
    await store.update(TARGET, task.id, { state: 'running' })
    running.push(task.id)
  }
  const chatty = await store.create({ sessionId: TARGET, kind: 'agent', displayName: 'chatty' })
  await store.update(TARGET, chatty.id, { state: 'running' })
  await addMessages(store, TARGET, chatty.id, messages)
  store.subscribe(TARGET, noop)
  return { running, chatty: chatty.id }
}

/** The scaling operations on one registry, called directly. */
function registryCases(
  size: number,
  registry: InMemorySessionTaskRegistry,
  target: Target,
  random: Ref[] | undefined,
  focus?: string,
): Case[] {
  const reads = focus === undefined ? [...target.running, target.chatty] : [focus]
  const writes = focus === undefined ? target.running : [focus]
  const cases: Case[] = [
    { key: `${size}/get`, op: (i) => registry.get(TARGET, at(reads, i)) },
    {
      key: `${size}/update`,
      op: (i) => registry.update(TARGET, at(writes, i), { progress: { current: i, total: i + 1 } }),
    },
    { key: `${size}/list`, op: () => registry.list(TARGET) },
    {
      key: `${size}/listMessages`,
      op: () => registry.listMessages(TARGET, target.chatty, { limit: 20 }),
    },
  ]
  if (random !== undefined) {
    cases.push({
      key: `${size}/getRandom`,
      op: (i) => {
        const { sessionId, id } = at(random, i)
        return registry.get(sessionId, id)
      },
    })
  }
  return cases
}

/** The same operations on a floor store. */
function floorCases(size: number, floor: FloorRegistry, target: Target): Case[] {
  const reads = [...target.running, target.chatty]
  return [
    { key: `${size}/get`, op: (i) => floor.get(TARGET, at(reads, i)) },
    {
      key: `${size}/update`,
      op: (i) =>
        floor.update(TARGET, at(target.running, i), { progress: { current: i, total: i + 1 } }),
    },
    { key: `${size}/list`, op: () => floor.list(TARGET) },
    { key: `${size}/listMessages`, op: () => floor.listMessages(TARGET, target.chatty, 20) },
  ]
}

/**
 * Measures every size's cases in one interleaved run (after a short
 * discarded pass, since building the stores ended with forced GCs) and
 * splits the result back into one point per size.
 */
async function interleaved(
  name: string,
  sizes: readonly number[],
  cases: Case[],
  budget: Budget,
): Promise<ScalingPoint[]> {
  await measure(`${name} warm-up`, cases, {
    timeMs: budget.timeMs / 4,
    warmupMs: budget.warmupMs,
    rounds: 1,
  })
  progress(`${name}: measuring ${cases.length} cases in ${budget.rounds} interleaved rounds`)
  const measured = await measure(name, cases, budget)
  return sizes.map((size) => {
    const ops = {} as Record<ScaleOp, Measurement>
    for (const op of SCALE_OPS) ops[op] = measured.get(`${size}/${op}`) as Measurement
    const getRandom = measured.get(`${size}/getRandom`)
    return getRandom === undefined ? { size, ops } : { size, ops, getRandom }
  })
}

const fmt = (n: number) => n.toLocaleString('en-US')

/** Task scaling: one registry per size, measured interleaved; memory from the largest build. */
export async function runTaskScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<{ points: ScalingPoint[]; memory: TaskMemory | undefined }> {
  const largest = Math.max(...sizes)
  const cases: Case[] = []
  const keep: InMemorySessionTaskRegistry[] = []
  let memory: TaskMemory | undefined
  for (const size of sizes) {
    const t0 = performance.now()
    const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
    keep.push(registry)
    const sample = reservoir(SAMPLE)
    const measureHeap = canMeasureHeap && size === largest
    const before = measureHeap ? await heapUsed() : 0
    await fillFinished(registry, size, sample.offer)
    if (measureHeap) {
      const after = await heapUsed()
      memory = taskMemory(size, after - before, registry.stats())
    }
    const target = await addTarget(registry, TASK_MESSAGES)
    for (const id of target.running) sample.offer({ sessionId: TARGET, id })
    sample.offer({ sessionId: TARGET, id: target.chatty })
    cases.push(...registryCases(size, registry, target, sample.sample))
    const seconds = (performance.now() - t0) / 1000
    progress(
      `scaling: registry of ${fmt(size)} finished tasks built in ${seconds.toFixed(1)} s (${(size / seconds).toFixed(0)} tasks/s)`,
    )
  }
  const points = await interleaved('task scaling', sizes, cases, budget)
  // Read the registries after the run: V8 may collect a local it sees no later use of.
  for (const registry of keep) {
    if (registry.stats().tasks < SESSION_SIZE) throw new Error('registry lost tasks')
  }
  return { points, memory }
}

/** The same task scaling on the floor (bench/floor.ts): what any JavaScript store of that size pays. */
export async function runFloorTaskScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<FloorScaling> {
  const largest = Math.max(...sizes)
  const cases: Case[] = []
  const keep: FloorRegistry[] = []
  let bytesPerTask = Number.NaN
  for (const size of sizes) {
    const floor = new FloorRegistry(tickingClock())
    keep.push(floor)
    const measureHeap = canMeasureHeap && size === largest
    const before = measureHeap ? await heapUsed() : 0
    await fillFinished(floor, size)
    if (measureHeap) bytesPerTask = ((await heapUsed()) - before) / size
    cases.push(...floorCases(size, floor, await addTarget(floor, TASK_MESSAGES)))
    progress(`scaling (floor): ${fmt(size)} finished tasks`)
  }
  const points = await interleaved('floor task scaling', sizes, cases, budget)
  for (const floor of keep) {
    if ((await floor.list(TARGET)).length !== SESSION_SIZE) throw new Error('floor lost tasks')
  }
  return { points, bytesPerTask }
}

/** Message scaling: one 1k-task registry per size, its chatty task holding `size` messages. */
export async function runMessageScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<{ points: ScalingPoint[]; bytesPerMessage: number; messages: number }> {
  const largest = Math.max(...sizes)
  const cases: Case[] = []
  const keep: InMemorySessionTaskRegistry[] = []
  let bytesPerMessage = Number.NaN
  for (const size of sizes) {
    const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
    keep.push(registry)
    await fillFinished(registry, MESSAGE_REGISTRY_TASKS - SESSION_SIZE)
    const target = await addTarget(registry, 0)
    if (canMeasureHeap && size === largest) {
      const before = await heapUsed()
      await addMessages(registry, TARGET, target.chatty, size)
      bytesPerMessage = ((await heapUsed()) - before) / size
    } else {
      await addMessages(registry, TARGET, target.chatty, size)
    }
    cases.push(...registryCases(size, registry, target, undefined, target.chatty))
    progress(`scaling: ${fmt(size)} messages on one task`)
  }
  const points = await interleaved('message scaling', sizes, cases, budget)
  for (const registry of keep) {
    if (registry.stats().tasks !== MESSAGE_REGISTRY_TASKS) throw new Error('registry lost tasks')
  }
  return { points, bytesPerMessage, messages: largest }
}
