import { PGlite } from '@electric-sql/pglite'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { fromPGlite, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import {
  createTaskSupervisor,
  FORWARDED_MESSAGE_PREFIX,
  InMemorySessionTaskRegistry,
  type SessionTask,
  type SessionTaskRegistry,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskMessage,
  type TaskSupervisor,
} from '../src/index.js'

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

  it('across two registries on one PostgreSQL database (two processes): the answer reaches the worker', async () => {
    const client = fromPGlite(pglite)
    await migrate(client, { prefix: 'fwd_' })
    const one = new PostgresSessionTaskRegistry({ client, prefix: 'fwd_' })
    const two = new PostgresSessionTaskRegistry({ client, prefix: 'fwd_' })
    await Promise.all([one.start(), two.start()])
    opened.push(one, two)
    const seen: Seen[] = []
    node(one, 'worker', seen, { runsJobs: true })
    const chat = node(two, 'chat', seen, { runsJobs: false })
    const task = await askingTask(two)
    const { message } = await chat.message('s', task.id, { text: 'eu-west', inReplyTo: 'q1' })
    await until(
      async () => (await two.get('s', task.id))?.state === 'succeeded',
      'the worker in the other registry to finish',
    )
    expect(seen.map((s) => [s.node, s.message.id])).toEqual([['worker', message.id]])
  })
})
