import type { Task } from '@a2a-js/sdk'
import { type Client, ClientFactory } from '@a2a-js/sdk/client'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { SampleAgent } from '../examples/a2a-server/agent.js'
import { type A2AClientExecutorOptions, a2aClientExecutor } from '../src/bridges/a2a/index.js'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type SessionTask,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'
import { closeRemoteAgents, remoteAgent } from './fixtures/a2a-remote.js'

// a2aClientExecutor against what breaks: an agent that is down, a request
// held unanswered while it is canceled, a second answer, streams that end
// at once, a cancel that never returns, a follow-up outliving its
// supervisor. Each was a defect an adversarial review found.
const supervisors: TaskSupervisor[] = []
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.close()
})
afterAll(closeRemoteAgents)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
// Polls `check` (bounded) until it holds.
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return
    await sleep(10)
  }
  throw new Error('the condition never held')
}

function setup(
  client: A2AClientExecutorOptions['client'],
  options: Partial<A2AClientExecutorOptions> = {},
  registry: SessionTaskRegistry = new InMemorySessionTaskRegistry(),
) {
  const executors = new TaskExecutorRegistry()
  executors.register({
    kind: 'external_agent',
    executor: () => a2aClientExecutor({ client, pollIntervalMs: 20, retries: 2, ...options }),
  })
  const errors: unknown[] = []
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    cancelGraceMs: 300,
    onError: (e) => errors.push(e),
  })
  supervisors.push(supervisor)
  const spawn = (text: string) =>
    supervisor.spawn({ sessionId: 's1', kind: 'external_agent', displayName: text, spec: { text } })
  const settle = async (task: SessionTask, timeoutMs = 3000) =>
    supervisor.wait('s1', task.id, { until: 'settled', timeoutMs })
  return { registry, supervisor, spawn, settle, errors }
}

// An agent that takes its time before its first event: the request reached it.
class SlowAgent implements AgentExecutor {
  readonly executions: string[] = []
  readonly cancels: string[] = []
  private readonly inner = new SampleAgent({ stepMs: 5 })
  execute = async (context: RequestContext, bus: ExecutionEventBus) => {
    this.executions.push(context.taskId)
    await sleep(300)
    return this.inner.execute(context, bus)
  }
  cancelTask = async (taskId: string, bus: ExecutionEventBus) => {
    this.cancels.push(taskId)
    return this.inner.cancelTask(taskId, bus)
  }
}

// An agent that asks, then holds on the follow-up (like a long second turn).
class AskThenHold implements AgentExecutor {
  readonly executions: string[] = []
  readonly messages: string[] = []
  private readonly inner = new SampleAgent({ stepMs: 5 })
  execute = async (context: RequestContext, bus: ExecutionEventBus) => {
    this.executions.push(context.taskId)
    this.messages.push(context.userMessage.messageId)
    const follow = context.task !== undefined
    if (!follow)
      return this.inner.execute(
        {
          ...context,
          userMessage: {
            ...context.userMessage,
            parts: [
              {
                content: { $case: 'text', value: 'ask' },
                mediaType: '',
                filename: '',
                metadata: {},
              },
            ],
          },
        } as RequestContext,
        bus,
      )
    bus.publish({
      kind: 'task',
      data: {
        ...context.task!,
        status: { state: 2 as never, message: undefined, timestamp: undefined },
        history: [...context.task!.history, context.userMessage],
      },
    })
    await sleep(3000)
  }
  cancelTask = async () => {}
}

// A hostile client: each stream ends at once, with no event.
function emptyStreams(): { client: Client; sends: number } {
  const state = { sends: 0 }
  const client = {
    getAgentCard: async () => ({ capabilities: { streaming: true } }),
    sendMessageStream: async function* () {
      state.sends++
      // A real transport: the empty stream takes a turn of the event loop.
      await new Promise((r) => setImmediate(r))
    },
    listTasks: async () => ({ tasks: [], nextPageToken: '', pageSize: 0, totalSize: 0 }),
    getTask: async () => {
      throw new Error('no task')
    },
    cancelTask: async () => {
      throw new Error('no task')
    },
  } as unknown as Client
  return Object.assign(state, { client })
}

describe('a2aClientExecutor under faults', () => {
  test('a client that cannot be built (the agent is down) fails the task unreachable', async () => {
    const remote = await remoteAgent()
    const url = remote.url
    await remote.close()
    const { spawn, settle } = setup(() => new ClientFactory().createFromUrl(url))
    const { task: after, timedOut } = await settle(await spawn('hello'), 5000)
    expect(timedOut).toBe(false)
    expect(after).toMatchObject({ state: 'failed', error: { kind: 'unreachable' } })
  })

  test('a cancel while the agent holds the request unanswered cancels the remote task', async () => {
    const agent = new SlowAgent()
    const remote = await remoteAgent(agent)
    const client = await remote.client()
    const { spawn, supervisor } = setup(client)
    const task = await spawn('hold on')
    await eventually(() => agent.executions.length === 1)
    expect((await supervisor.cancel('s1', task.id))?.state).toBe('canceled')
    expect(agent.cancels).toEqual([agent.executions[0]])
    await eventually(
      async () =>
        (await client.getTask({ tenant: '', id: agent.executions[0] ?? '' })).status?.state === 5,
    )
  })

  test('a second answer to a request already answered is refused, not sent', async () => {
    const agent = new AskThenHold()
    const remote = await remoteAgent(agent)
    const { spawn, settle, supervisor } = setup(await remote.client())
    const asked = (await settle(await spawn('ask'))).task
    expect(asked.state).toBe('awaiting_input')
    const one = await supervisor.message('s1', asked.id, {
      text: 'blue',
      inReplyTo: 'a2a-input-required',
    })
    expect(one.delivery).toBe('delivered')
    await eventually(() => agent.messages.length === 2)
    const two = await supervisor.message('s1', asked.id, {
      text: 'red',
      inReplyTo: 'a2a-input-required',
    })
    expect(two.delivery).toEqual({ failed: expect.stringContaining('not waiting for an answer') })
    expect(agent.messages).toHaveLength(2)
  })

  test('streams that end before any event are retried with pauses, then the task fails unreachable', async () => {
    const stub = emptyStreams()
    const { spawn, settle } = setup(stub.client, { retries: 2 })
    const { task: after } = await settle(await spawn('hello'), 5000)
    expect(after).toMatchObject({ state: 'failed', error: { kind: 'unreachable' } })
    // The first send and one per retry, each after a lookup found nothing.
    expect(stub.sends).toBeLessThanOrEqual(3)
  })

  test('a remote whose cancel never answers holds a cancel no longer than cancelWaitMs', async () => {
    const remote = await remoteAgent()
    const real = await remote.client()
    const client = new Proxy(real, {
      get(target, p, r) {
        if (p === 'cancelTask') return () => new Promise<Task>(() => {})
        const v = Reflect.get(target, p, r)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    const { spawn, supervisor, registry, settle } = setup(client, { cancelWaitMs: 200 })
    const task = await spawn('hold on')
    await eventually(
      async () => (await registry.get('s1', task.id))?.links.remoteTaskId !== undefined,
    )
    const result = await Promise.race([
      supervisor.cancel('s1', task.id).then(() => 'returned'),
      sleep(3000).then(() => 'held'),
    ])
    expect(result).toBe('returned')
    // The supervisor's grace ends it.
    expect((await settle(task)).task.state).toBe('canceled')
  })

  test('a follow-up started by a delivery in another supervisor stops when that supervisor closes', async () => {
    const agent = new AskThenHold()
    const remote = await remoteAgent(agent)
    const registry = new InMemorySessionTaskRegistry()
    const a = setup(await remote.client(), { heartbeatMs: 20 }, registry)
    const b = setup(await remote.client(), { heartbeatMs: 20 }, registry)
    const asked = (await a.settle(await a.spawn('ask'))).task
    const { delivery } = await b.supervisor.message('s1', asked.id, {
      text: 'blue',
      inReplyTo: 'a2a-input-required',
    })
    expect(delivery).toBe('delivered')
    await b.supervisor.close()
    await a.supervisor.close()
    const before = (await registry.get('s1', asked.id))?.heartbeatAt
    await sleep(150)
    expect((await registry.get('s1', asked.id))?.heartbeatAt).toBe(before)
  })
})
