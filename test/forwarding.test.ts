import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
} from '../src/backends/postgres/index.js'
import {
  createTaskSupervisor,
  FORWARDED_MESSAGE_PREFIX,
  InMemorySessionTaskRegistry,
  type SessionTask,
  type SessionTaskRegistry,
  SessionTaskRegistryCore,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskMessage,
  type TaskSupervisor,
} from '../src/index.js'
import { LossyStore } from './fixtures/lossy-store.js'
import { sqliteFiles } from './fixtures/sqlite.js'

/** Polls an async condition every few ms until it holds, for at most 5 s. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

// Shared dispatch: a message for a task that another supervisor (another
// process) runs is recorded as forwarded, and the supervisor that runs the
// task hands it to its executor, once.

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close()
})
const pglite = new PGlite()
afterAll(() => pglite.close())

type Seen = { node: string; taskId: string; message: TaskMessage }

/** A node of the cluster: `job` tasks ask a question and finish on the answer. */
function node(
  registry: SessionTaskRegistry,
  name: string,
  seen: Seen[],
  options: { runsJobs: boolean; failDeliver?: boolean; errors?: string[] },
): TaskSupervisor {
  const executors = new TaskExecutorRegistry()
  const contexts = new Map<string, TaskExecutionContext>()
  executors.register({
    kind: options.runsJobs ? 'job' : 'other',
    executor: () => ({
      kind: options.runsJobs ? 'job' : 'other',
      async start(task, ctx) {
        contexts.set(task.id, ctx)
        await ctx.sink.state('running')
        await ctx.sink.requestInput({ id: 'q1', prompt: 'Which region?' })
      },
      async deliver(task, message) {
        seen.push({ node: name, taskId: task.id, message })
        if (options.failDeliver === true) throw new Error('the worker lost the answer')
        await contexts.get(task.id)?.sink.state('succeeded')
      },
      async cancel() {},
      canReattach: () => true,
    }),
  })
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    dispatch: 'shared',
    workerId: name,
    onError: (error) => options.errors?.push(String((error as Error).message)),
  })
  opened.push(supervisor)
  return supervisor
}

async function askingTask(registry: SessionTaskRegistry): Promise<SessionTask> {
  const task = await registry.create({ sessionId: 's', kind: 'job', displayName: 'deploy' })
  await until(
    async () => (await registry.get('s', task.id))?.state === 'awaiting_input',
    'the worker to ask',
  )
  return task
}

describe('messages to a task another supervisor runs (shared dispatch)', () => {
  it('an answer sent from a node that does not run the task is delivered once, by the node that does', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const seen: Seen[] = []
    node(registry, 'worker', seen, { runsJobs: true })
    const chat = node(registry, 'chat', seen, { runsJobs: false })
    const task = await askingTask(registry)
    const { message, delivery } = await chat.message('s', task.id, {
      text: 'eu-west',
      inReplyTo: 'q1',
    })
    expect(delivery).toBe('delivered')
    expect(message.id.startsWith(FORWARDED_MESSAGE_PREFIX)).toBe(true)
    await until(
      async () => (await registry.get('s', task.id))?.state === 'succeeded',
      'the worker to finish',
    )
    expect(seen.map((s) => [s.node, s.message.id])).toEqual([['worker', message.id]])
  })

  it('a message sent from the node that runs the task is delivered there once, not forwarded', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const seen: Seen[] = []
    const worker = node(registry, 'worker', seen, { runsJobs: true })
    node(registry, 'chat', seen, { runsJobs: false })
    const task = await askingTask(registry)
    const { message, delivery } = await worker.message('s', task.id, {
      text: 'eu-west',
      inReplyTo: 'q1',
    })
    expect(delivery).toBe('delivered')
    expect(message.id.startsWith(FORWARDED_MESSAGE_PREFIX)).toBe(false)
    expect(seen.map((s) => s.node)).toEqual(['worker'])
    expect((await registry.get('s', task.id))?.state).toBe('succeeded')
  })

  it('a forwarded answer whose delivery fails puts the question back and tells the worker', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const seen: Seen[] = []
    const errors: string[] = []
    node(registry, 'worker', seen, { runsJobs: true, failDeliver: true, errors })
    const chat = node(registry, 'chat', seen, { runsJobs: false })
    const task = await askingTask(registry)
    await chat.message('s', task.id, { text: 'eu-west', inReplyTo: 'q1' })
    await until(() => errors.length > 0, 'the failure to be reported')
    expect(errors[0]).toBe('the worker lost the answer')
    const after = await registry.get('s', task.id)
    expect(after?.state).toBe('awaiting_input')
    expect(after?.inputRequest?.id).toBe('q1')
  })

  it('a message to a finished task is refused as before, wherever it is sent', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const seen: Seen[] = []
    node(registry, 'worker', seen, { runsJobs: true })
    const chat = node(registry, 'chat', seen, { runsJobs: false })
    const task = await askingTask(registry)
    await registry.update('s', task.id, { state: 'canceled' })
    const { delivery } = await chat.message('s', task.id, { text: 'too late' })
    expect(delivery).toEqual({ failed: 'task is already canceled' })
    expect(seen).toEqual([])
  })

  it('an answer whose event was lost in a gap is found in the messages and delivered once', async () => {
    const store = new LossyStore()
    const registry = new SessionTaskRegistryCore(store, { onEventGap: () => {} })
    const seen: Seen[] = []
    node(registry, 'worker', seen, { runsJobs: true })
    const chat = node(registry, 'chat', seen, { runsJobs: false })
    const task = await askingTask(registry)
    store.losing = true
    const { message } = await chat.message('s', task.id, { text: 'eu-west', inReplyTo: 'q1' })
    // The worker heard nothing of the answer (nor of the resume) ...
    expect(seen).toEqual([])
    // ... until the gap is reported: it reads the task's messages again.
    store.report('s')
    await until(
      async () => (await registry.get('s', task.id))?.state === 'succeeded',
      'the worker to finish',
    )
    store.report('s')
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.map((s) => [s.node, s.message.id])).toEqual([['worker', message.id]])
  })
})

// Two registries over one database stand for two processes: the worker's
// supervisor on one, the chat's on the other.
type Pair = { worker: SessionTaskRegistry; chat: SessionTaskRegistry }
const sqlite = sqliteFiles('fwd')
afterAll(() => sqlite.close())
const pairs: [string, () => Promise<Pair>][] = [
  [
    'PostgreSQL (PGlite)',
    async () => {
      const client = fromPGlite(pglite)
      const prefix = `fwd${Math.random().toString(36).slice(2, 8)}_`
      await migrate(client, { prefix })
      const worker = new PostgresSessionTaskRegistry({ client, prefix })
      const chat = new PostgresSessionTaskRegistry({ client, prefix })
      await Promise.all([worker.start(), chat.start()])
      opened.push(worker, chat)
      return { worker, chat }
    },
  ],
  [
    sqlite.name,
    async () => {
      const file = `fwd${Math.random().toString(36).slice(2, 8)}`
      return { worker: await sqlite.make(file), chat: await sqlite.make(file) }
    },
  ],
]
const url = process.env.TEST_DATABASE_URL
if (url !== undefined && url !== '') {
  pairs.push([
    'PostgreSQL',
    async () => {
      const pool = new pg.Pool({ connectionString: url, max: 4 })
      pool.on('error', () => {})
      const client = fromPgPool(pool)
      const prefix = `fwd${Math.random().toString(36).slice(2, 8)}_`
      await migrate(client, { prefix })
      const worker = new PostgresSessionTaskRegistry({ client, prefix })
      const chat = new PostgresSessionTaskRegistry({ client, prefix })
      await Promise.all([worker.start(), chat.start()])
      opened.push({ close: () => pool.end() }, worker, chat)
      return { worker, chat }
    },
  ])
}

describe.each(pairs)('forwarded messages across two registries on %s', (_name, open) => {
  it('the answer sent through one reaches the worker on the other, once', async () => {
    const { worker, chat } = await open()
    const seen: Seen[] = []
    node(worker, 'worker', seen, { runsJobs: true })
    const sender = node(chat, 'chat', seen, { runsJobs: false })
    const task = await askingTask(chat)
    const { message } = await sender.message('s', task.id, { text: 'eu-west', inReplyTo: 'q1' })
    expect(message.id.startsWith(FORWARDED_MESSAGE_PREFIX)).toBe(true)
    await until(
      async () => (await chat.get('s', task.id))?.state === 'succeeded',
      'the worker in the other registry to finish',
    )
    expect(seen.map((s) => [s.node, s.message.id])).toEqual([['worker', message.id]])
  })
})
