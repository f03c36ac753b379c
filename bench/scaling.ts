/**
 * Scaling and memory of session-tasks alone.
 *
 * Tasks: one registry grows from 1k to 1M tasks (finished: created, running,
 * succeeded; sessions of 100), and at each size the same operations are
 * measured on the session under test: get of one of its 100 tasks, update
 * (progress) of one of its 99 running tasks (one listener attached), list of
 * the session, and listMessages (limit 20) of its task with 1,000 messages.
 * Also, for information, get of a task drawn at random from the whole
 * registry, which at large sizes mostly measures cache misses. At the
 * largest size the heap after GC gives the bytes per finished task, and 100
 * short messages on each of 1,000 new tasks (100k messages) give the bytes
 * per message.
 *
 * Messages: a registry of 1k tasks whose one task grows from 100 to 100k
 * messages; at each size get, update and listMessages(limit 20) of that
 * task and list of its session.
 */
import { InMemorySessionTaskRegistry } from '../src/index.js'
import { FloorRegistry } from './floor.js'
import {
  type Budget,
  type Case,
  canMeasureHeap,
  heapUsed,
  type Measurement,
  measure,
  progress,
  tickingClock,
} from './harness.js'

export const SCALE_OPS = ['get', 'update', 'list', 'listMessages'] as const
export type ScaleOp = (typeof SCALE_OPS)[number]

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

export type MemoryResult = {
  /** Tasks in the registry when measured. */
  tasks: number
  /** Finished tasks measured, their heap delta, and the average spec JSON subtracted. */
  finishedTasks: number
  taskHeapDelta: number
  specTextBytes: number
  bytesPerTask: number
  /** Messages measured (100 per task on `messageTasks` new tasks), heap delta, text subtracted. */
  messages: number
  messageTasks: number
  messageHeapDelta: number
  messageTextBytes: number
  bytesPerMessage: number
  /** Bytes per message on one task grown to `singleTaskMessages` messages (set by the caller). */
  singleTaskMessages: number
  bytesPerMessageSingleTask: number
}

export type ScalingResult = {
  tasks: ScalingPoint[]
  messages: ScalingPoint[]
  memory: MemoryResult | undefined
}

const SESSION_SIZE = 100
const TARGET = 'target'
const SAMPLE = 1024
const TASK_MESSAGES = 1000
const MESSAGES_PER_TASK = 100
const MESSAGE_TASKS = 1000

const noop = (..._args: unknown[]) => {}
const at = <T>(list: readonly T[], i: number): T => list[i % list.length] as T

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

type Target = { running: string[]; chatty: string }

/** The session under test: 99 running tasks and one with `messages` messages. */
async function addTarget(
  registry: InMemorySessionTaskRegistry,
  messages: number,
  text: (k: number) => string,
): Promise<Target> {
  const running: string[] = []
  for (let k = 0; k < SESSION_SIZE - 1; k++) {
    const task = await registry.create({
      sessionId: TARGET,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: k },
    })
    await registry.update(TARGET, task.id, { state: 'running' })
    running.push(task.id)
  }
  const chatty = await registry.create({ sessionId: TARGET, kind: 'agent', displayName: 'chatty' })
  await registry.update(TARGET, chatty.id, { state: 'running' })
  await addMessages(registry, TARGET, chatty.id, 0, messages, text)
  registry.subscribe(TARGET, noop)
  return { running, chatty: chatty.id }
}

async function addMessages(
  registry: InMemorySessionTaskRegistry,
  sessionId: string,
  taskId: string,
  from: number,
  to: number,
  text: (k: number) => string,
): Promise<number> {
  let bytes = 0
  for (let k = from; k < to; k++) {
    const t = text(k)
    bytes += t.length
    await registry.recordMessage(sessionId, taskId, {
      direction: 'outbound',
      content: [{ type: 'text', text: t }],
    })
  }
  return bytes
}

const shortText = (k: number) => `step ${k} ok`

async function measureAt(
  name: string,
  registry: InMemorySessionTaskRegistry,
  target: Target,
  random: { sessionId: string; id: string }[] | undefined,
  budget: Budget,
  /** Get and update only this task (message scaling: the one with the messages). */
  focus?: string,
): Promise<Omit<ScalingPoint, 'size'>> {
  const reads = focus === undefined ? [...target.running, target.chatty] : [focus]
  const writes = focus === undefined ? target.running : [focus]
  const cases: Case[] = [
    { key: 'get', op: (i) => registry.get(TARGET, at(reads, i)) },
    {
      key: 'update',
      op: (i) => registry.update(TARGET, at(writes, i), { progress: { current: i, total: i + 1 } }),
    },
    { key: 'list', op: () => registry.list(TARGET) },
    {
      key: 'listMessages',
      op: () => registry.listMessages(TARGET, target.chatty, { limit: 20 }),
    },
  ]
  if (random !== undefined) {
    cases.push({
      key: 'getRandom',
      op: (i) => {
        const { sessionId, id } = at(random, i)
        return registry.get(sessionId, id)
      },
    })
  }
  const measured = await measure(name, cases, budget)
  const ops = {} as Record<ScaleOp, Measurement>
  for (const op of SCALE_OPS) ops[op] = measured.get(op) as Measurement
  const getRandom = measured.get('getRandom')
  return getRandom === undefined ? { ops } : { ops, getRandom }
}

/** A short discarded pass, to warm up after a forced GC. */
const warm = (budget: Budget): Budget => ({
  timeMs: budget.timeMs / 2,
  warmupMs: budget.warmupMs,
  rounds: 1,
})

/** Grows one registry through `sizes` total tasks; memory at the largest. */
export async function runTaskScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<{ points: ScalingPoint[]; memory: MemoryResult | undefined }> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const target = await addTarget(registry, TASK_MESSAGES, shortText)
  const random = mulberry32(42)
  // A reservoir sample of every task, for `getRandom` across the whole registry.
  const sample: { sessionId: string; id: string }[] = []
  let seen = 0
  const offer = (sessionId: string, id: string) => {
    if (sample.length < SAMPLE) sample.push({ sessionId, id })
    else {
      const j = Math.floor(random() * (seen + 1))
      if (j < SAMPLE) sample[j] = { sessionId, id }
    }
    seen++
  }
  for (const id of target.running) offer(TARGET, id)
  offer(TARGET, target.chatty)

  let total = SESSION_SIZE
  let finished = 0
  let specBytes = 0
  const points: ScalingPoint[] = []
  let memory: MemoryResult | undefined
  // The heap baseline is read after the first size's benchmarks, not before
  // filling: a forced GC slows what runs right after it for a while.
  let base: { heap: number; finished: number; specBytes: number } | undefined
  const largest = Math.max(...sizes)
  for (const size of sizes) {
    const t0 = performance.now()
    while (total < size) {
      const sessionId = `s-${Math.floor(finished / SESSION_SIZE)}`
      const spec = { n: finished }
      specBytes += JSON.stringify(spec).length
      const task = await registry.create({
        sessionId,
        kind: 'background_tool',
        displayName: 'job',
        spec,
      })
      await registry.update(sessionId, task.id, { state: 'running' })
      await registry.update(sessionId, task.id, { state: 'succeeded' })
      offer(sessionId, task.id)
      finished++
      total++
    }
    const seconds = (performance.now() - t0) / 1000
    progress(
      `scaling: ${total.toLocaleString('en-US')} tasks (filled in ${seconds.toFixed(1)} s, ${((total - (points.at(-1)?.size ?? SESSION_SIZE)) / seconds).toFixed(0)} finished tasks/s)`,
    )
    // A discarded pass first, so the first size is not the JIT's warm-up.
    if (points.length === 0) await measureAt('warm-up', registry, target, sample, warm(budget))
    points.push({
      size: total,
      ...(await measureAt(`tasks ${total}`, registry, target, sample, budget)),
    })
    if (!canMeasureHeap) continue
    if (base === undefined && size !== largest) {
      base = { heap: await heapUsed(), finished, specBytes }
    } else if (size === largest && base !== undefined) {
      const heapTasks = await heapUsed()
      if (registry.stats().tasks !== total) throw new Error('registry lost tasks')
      const measured = finished - base.finished
      const taskHeapDelta = heapTasks - base.heap
      const specTextBytes = (specBytes - base.specBytes) / measured
      memory = {
        tasks: total,
        finishedTasks: measured,
        taskHeapDelta,
        specTextBytes,
        bytesPerTask: taskHeapDelta / measured - specTextBytes,
        messages: 0,
        messageTasks: 0,
        messageHeapDelta: 0,
        messageTextBytes: 0,
        bytesPerMessage: Number.NaN,
        singleTaskMessages: 0,
        bytesPerMessageSingleTask: Number.NaN,
      }
    }
  }

  if (memory !== undefined) {
    // Messages at the largest size: 100 short messages on each of 1,000 new
    // tasks, one session each so no replay buffer overflows.
    const messageTasks = MESSAGE_TASKS
    const tasks: { sessionId: string; id: string }[] = []
    for (let k = 0; k < messageTasks; k++) {
      const sessionId = `m-${k}`
      const task = await registry.create({ sessionId, kind: 'agent', displayName: 'chatty' })
      tasks.push({ sessionId, id: task.id })
    }
    progress(
      `memory: ${(messageTasks * MESSAGES_PER_TASK).toLocaleString('en-US')} messages on ${messageTasks.toLocaleString('en-US')} tasks`,
    )
    const before = await heapUsed()
    let textBytes = 0
    for (let k = 0; k < MESSAGES_PER_TASK; k++) {
      for (const { sessionId, id } of tasks) {
        textBytes += await addMessages(registry, sessionId, id, k, k + 1, shortText)
      }
    }
    const after = await heapUsed()
    // Read the registry after the heap: V8 may collect a local it sees no later use of.
    if (registry.stats().tasks !== total + messageTasks) throw new Error('registry lost tasks')
    const messages = messageTasks * MESSAGES_PER_TASK
    memory.messages = messages
    memory.messageTasks = messageTasks
    memory.messageHeapDelta = after - before
    memory.messageTextBytes = textBytes / messages
    memory.bytesPerMessage = (after - before) / messages - textBytes / messages
  }
  return { points, memory }
}

/** One task of a 1k-task registry grows through `sizes` messages. */
export async function runMessageScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<{ points: ScalingPoint[]; bytesPerMessage: number; messages: number }> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const target = await addTarget(registry, 0, shortText)
  for (let f = 0; f < 900; f++) {
    const sessionId = `s-${Math.floor(f / SESSION_SIZE)}`
    const task = await registry.create({
      sessionId,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: f },
    })
    await registry.update(sessionId, task.id, { state: 'running' })
    await registry.update(sessionId, task.id, { state: 'succeeded' })
  }
  let count = 0
  let textBytes = 0
  let bytesPerMessage = Number.NaN
  let measuredMessages = 0
  const points: ScalingPoint[] = []
  // Heap baseline after the first size's benchmarks (see runTaskScaling).
  let base: { heap: number; count: number; textBytes: number } | undefined
  const largest = Math.max(...sizes)
  for (const size of sizes) {
    textBytes += await addMessages(registry, TARGET, target.chatty, count, size, shortText)
    count = size
    progress(`scaling: ${count.toLocaleString('en-US')} messages on one task`)
    // A discarded pass first, so the first size is not the JIT's warm-up.
    if (points.length === 0) await measureAt('warm-up', registry, target, undefined, warm(budget))
    points.push({
      size,
      ...(await measureAt(`messages ${size}`, registry, target, undefined, budget, target.chatty)),
    })
    if (!canMeasureHeap) continue
    if (base === undefined && size !== largest) {
      base = { heap: await heapUsed(), count, textBytes }
    } else if (size === largest && base !== undefined) {
      const heap = await heapUsed()
      if (registry.stats().tasks !== 1000) throw new Error('registry lost tasks')
      measuredMessages = count - base.count
      bytesPerMessage = (heap - base.heap - (textBytes - base.textBytes)) / measuredMessages
    }
  }
  return { points, bytesPerMessage, messages: measuredMessages }
}

/** The floor's figures at each size, for reference (not a target). */
export type FloorScaling = {
  points: { size: number; ops: Record<ScaleOp, Measurement> }[]
  /** Heap per finished floor task at the largest size, spec JSON subtracted. */
  bytesPerTask: number
}

/**
 * The same task scaling run on the floor (bench/floor.ts), so that a slowdown
 * common to any JavaScript store of that size (collecting a heap of 1 GB) can
 * be told apart from the registry's own.
 */
export async function runFloorTaskScaling(
  sizes: readonly number[],
  budget: Budget,
): Promise<FloorScaling> {
  const floor = new FloorRegistry(tickingClock())
  const running: string[] = []
  for (let k = 0; k < SESSION_SIZE - 1; k++) {
    const task = await floor.create({
      sessionId: TARGET,
      kind: 'background_tool',
      displayName: 'job',
      spec: { n: k },
    })
    await floor.update(TARGET, task.id, { state: 'running' })
    running.push(task.id)
  }
  const chatty = (await floor.create({ sessionId: TARGET, kind: 'agent', displayName: 'chatty' }))
    .id
  await floor.update(TARGET, chatty, { state: 'running' })
  for (let k = 0; k < TASK_MESSAGES; k++) {
    await floor.recordMessage(TARGET, chatty, {
      direction: 'outbound',
      content: [{ type: 'text', text: shortText(k) }],
    })
  }
  floor.subscribe(TARGET, noop)
  const reads = [...running, chatty]
  let total = SESSION_SIZE
  let finished = 0
  let specBytes = 0
  let bytesPerTask = Number.NaN
  // Heap baseline after the first size's benchmarks (see runTaskScaling).
  let base: { heap: number; finished: number; specBytes: number } | undefined
  const points: FloorScaling['points'] = []
  const largest = Math.max(...sizes)
  const cases: Case[] = [
    { key: 'get', op: (i) => floor.get(TARGET, at(reads, i)) },
    {
      key: 'update',
      op: (i) => floor.update(TARGET, at(running, i), { progress: { current: i, total: i + 1 } }),
    },
    { key: 'list', op: () => floor.list(TARGET) },
    { key: 'listMessages', op: () => floor.listMessages(TARGET, chatty, 20) },
  ]
  for (const size of sizes) {
    while (total < size) {
      const sessionId = `s-${Math.floor(finished / SESSION_SIZE)}`
      const spec = { n: finished }
      specBytes += JSON.stringify(spec).length
      const task = await floor.create({
        sessionId,
        kind: 'background_tool',
        displayName: 'job',
        spec,
      })
      await floor.update(sessionId, task.id, { state: 'running' })
      await floor.update(sessionId, task.id, { state: 'succeeded' })
      finished++
      total++
    }
    progress(`scaling (floor): ${total.toLocaleString('en-US')} tasks`)
    if (points.length === 0) await measure('warm-up', cases, warm(budget))
    const measured = await measure(`floor tasks ${total}`, cases, budget)
    const ops = {} as Record<ScaleOp, Measurement>
    for (const op of SCALE_OPS) ops[op] = measured.get(op) as Measurement
    points.push({ size: total, ops })
    if (!canMeasureHeap) continue
    if (base === undefined && size !== largest) {
      base = { heap: await heapUsed(), finished, specBytes }
    } else if (size === largest && base !== undefined) {
      const heap = await heapUsed()
      if ((await floor.list(TARGET)).length !== SESSION_SIZE) throw new Error('floor lost tasks')
      const measured = finished - base.finished
      bytesPerTask = (heap - base.heap - (specBytes - base.specBytes)) / measured
    }
  }
  return { points, bytesPerTask }
}
