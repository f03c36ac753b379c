import type { Message, TaskState } from '@a2a-js/sdk'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { SampleAgent } from '../examples/a2a-server/agent.js'
import { type A2AClientExecutorOptions, a2aClientExecutor } from '../src/bridges/a2a/index.js'
import {
  createTaskSupervisor,
  type SessionTask,
  TaskExecutorRegistry,
  type TaskSupervisor,
  taskMessageText,
  ValidationError,
} from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'
import { closeRemoteAgents, type RemoteAgent, remoteAgent } from './fixtures/a2a-remote.js'
import { registryBackends, untilTask } from './fixtures/registries.js'

// A remote A2A agent (the SDK's own server, store and client over HTTP on
// 127.0.0.1) run as a session task by a2aClientExecutor under the
// supervisor: streamed and polled, input round trips, cancel, timeout,
// re-attach after the worker is gone, and what a hostile remote sends.

const backends = registryBackends('a2ar')
afterAll(closeRemoteAgents)
const until = untilTask

// An agent that answers with what no record can hold.
class HostileAgent implements AgentExecutor {
  constructor(private readonly what: 'state' | 'string' | 'huge') {}
  execute = async (context: RequestContext, bus: ExecutionEventBus) => {
    const { taskId, contextId } = context
    const base = { taskId, contextId, metadata: {} }
    bus.publish({
      kind: 'task',
      data: {
        id: taskId,
        contextId,
        status: { state: 1 as TaskState, message: undefined, timestamp: undefined },
        artifacts: [],
        history: [context.userMessage],
        metadata: {},
      },
    })
    if (this.what === 'state') {
      bus.publish({
        kind: 'statusUpdate',
        data: {
          ...base,
          status: { state: 42 as TaskState, message: undefined, timestamp: undefined },
        },
      })
    } else {
      const value = this.what === 'string' ? 'bad \ud800 text' : 'x'.repeat(5000)
      const part = {
        content: { $case: 'text' as const, value },
        mediaType: '',
        filename: '',
        metadata: {},
      }
      for (let i = 0; i < (this.what === 'huge' ? 3 : 1); i++) {
        bus.publish({
          kind: 'artifactUpdate',
          data: {
            ...base,
            artifact: {
              artifactId: 'a',
              name: 'a',
              description: '',
              parts: [part],
              metadata: {},
              extensions: [],
            },
            append: i > 0,
            lastChunk: false,
          },
        })
      }
    }
    bus.finished()
  }
  cancelTask = async () => {}
}

// An agent whose first turn ends in `state` (8 auth-required, 7 rejected); a follow-up completes.
class StateAgent implements AgentExecutor {
  constructor(private readonly state: number) {}
  execute = async (context: RequestContext, bus: ExecutionEventBus) => {
    const { taskId, contextId } = context
    const status = (state: number, text?: string) => ({
      state: state as TaskState,
      message:
        text === undefined
          ? undefined
          : {
              messageId: crypto.randomUUID(),
              role: 2,
              taskId,
              contextId,
              parts: [
                {
                  content: { $case: 'text' as const, value: text },
                  mediaType: '',
                  filename: '',
                  metadata: {},
                },
              ],
              metadata: {},
              extensions: [],
              referenceTaskIds: [],
            },
      timestamp: undefined,
    })
    const task = context.task
    bus.publish({
      kind: 'task',
      data: {
        id: taskId,
        contextId,
        status: status(task === undefined ? 1 : 2),
        artifacts: [],
        history: [...(task?.history ?? []), context.userMessage],
        metadata: {},
      },
    })
    const final = task === undefined ? status(this.state, 'not you') : status(3, 'welcome')
    bus.publish({ kind: 'statusUpdate', data: { taskId, contextId, status: final, metadata: {} } })
    bus.finished()
  }
  cancelTask = async () => {}
}

describe.each(backends)('a2aClientExecutor on $name', ({ make }) => {
  const supervisors: TaskSupervisor[] = []
  afterEach(async () => {
    for (const s of supervisors.splice(0)) await s.close()
  })

  async function setup(
    remote?: RemoteAgent,
    options: Partial<A2AClientExecutorOptions> = {},
    registry?: SessionTaskRegistry,
  ) {
    const reg = registry ?? (await make())
    const agent = remote ?? (await remoteAgent())
    const client = await agent.client()
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'external_agent',
      executor: () => a2aClientExecutor({ client, pollIntervalMs: 20, ...options }),
    })
    const supervisor = createTaskSupervisor({
      registry: reg,
      executors,
      cancelGraceMs: 500,
      onError: (error, context) => console.error('onError', context, error),
    })
    supervisors.push(supervisor)
    const spawn = (text: string, timeoutMs?: number) =>
      supervisor.spawn(
        { sessionId: 's1', kind: 'external_agent', displayName: text, spec: { text } },
        timeoutMs === undefined ? undefined : { timeoutMs },
      )
    const settle = async (task: SessionTask) =>
      (await supervisor.wait('s1', task.id, { until: 'settled' })).task
    return {
      registry: reg,
      remote: agent,
      sample: agent.agent as SampleAgent,
      client,
      supervisor,
      spawn,
      settle,
    }
  }

  test('a request streams to succeeded: the remote id, messages, artifact and result are mirrored', async () => {
    const { registry, sample, spawn, settle } = await setup()
    const done = await settle(await spawn('hello'))
    expect(done).toMatchObject({
      state: 'succeeded',
      artifacts: [{ id: 'answer', text: 'echo: hello' }],
    })
    expect(done.links.remoteTaskId).toBe(sample.executions[0])
    expect(JSON.stringify(done.result)).toContain('echoed')
    const said = await registry.listMessages('s1', done.id)
    expect(said.map((m) => taskMessageText(m.content))).toContain('working on: hello')
  })

  test('chunked appends arrive as events and are merged into one artifact', async () => {
    const { registry, spawn, settle } = await setup()
    const seen: string[] = []
    registry.subscribe('s1', (type, payload) => {
      const task = (payload as { task?: SessionTask }).task
      if (type === 'task.updated' && task?.artifacts[0]?.text !== undefined)
        seen.push(task.artifacts[0].text)
    })
    const done = await settle(await spawn('count 3'))
    expect(done.artifacts).toHaveLength(1)
    expect(done.artifacts[0]?.text).toBe('1\n 2\n 3')
    expect(new Set(seen).size).toBeGreaterThanOrEqual(3)
  })

  test('an agent that does not stream is polled to its end', async () => {
    const { spawn, settle } = await setup(
      await remoteAgent(new SampleAgent({ stepMs: 5 }), { streaming: false }),
    )
    const done = await settle(await spawn('count 3'))
    expect(done.state).toBe('succeeded')
    expect(done.artifacts[0]?.text).toBe('1\n 2\n 3')
  })

  test('input-required is answered through the supervisor, as a follow-up on the same remote task', async () => {
    const { supervisor, sample, spawn, settle } = await setup()
    const asked = await settle(await spawn('ask me'))
    expect(asked).toMatchObject({
      state: 'awaiting_input',
      inputRequest: { id: 'a2a-input-required', prompt: 'Which colour?' },
    })
    const { delivery } = await supervisor.message('s1', asked.id, {
      text: 'blue',
      inReplyTo: 'a2a-input-required',
    })
    expect(delivery).toBe('delivered')
    const done = await settle(asked)
    expect(done.state).toBe('succeeded')
    expect(done.artifacts[0]?.text).toBe('you chose blue')
    expect(sample.executions).toEqual([asked.links.remoteTaskId, asked.links.remoteTaskId])
  })

  test('a message that answers nothing is refused and changes nothing remotely', async () => {
    const { registry, supervisor, sample, spawn, settle } = await setup()
    const held = await spawn('hold on')
    await until(registry, held.id, (t) => t.artifacts.length > 0)
    const { delivery } = await supervisor.message('s1', held.id, { text: 'hurry' })
    expect(delivery).toEqual({ failed: expect.stringContaining('answer to its input request') })
    expect(sample.executions).toHaveLength(1)
    const current = await registry.get('s1', held.id)
    sample.release(current?.links.remoteTaskId ?? '')
    expect((await settle(held)).artifacts[0]?.text).toBe('first part\n, second part')
  })

  test('cancel is the remote cancel: the agent hears it and the task ends canceled', async () => {
    const { registry, supervisor, sample, spawn, settle } = await setup()
    const held = await spawn('hold on')
    const running = await until(registry, held.id, (t) => t.artifacts.length > 0)
    await supervisor.cancel('s1', held.id)
    const done = await settle(held)
    expect(done.state).toBe('canceled')
    expect(sample.cancels).toEqual([running.links.remoteTaskId])
  })

  test('a cancel while the request is on its way reaches the remote task it creates', async () => {
    const sample = new SampleAgent({ stepMs: 5 })
    let arrived: () => void = () => {}
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve
    })
    let letGo: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      letGo = resolve
    })
    const gated: AgentExecutor = {
      execute: async (context, bus) => {
        arrived()
        await gate
        return sample.execute(context, bus)
      },
      cancelTask: sample.cancelTask,
    }
    const { supervisor, spawn, settle } = await setup(await remoteAgent(gated))
    const held = await spawn('hold on')
    await arrival
    const canceling = supervisor.cancel('s1', held.id)
    letGo()
    await canceling
    const done = await settle(held)
    expect(done.state).toBe('canceled')
    expect(done.links.remoteTaskId).toBe(sample.executions[0])
    expect(sample.cancels).toEqual([done.links.remoteTaskId])
  })

  test('a timeout cancels the remote task and fails the task with timeout', async () => {
    const { sample, spawn, settle } = await setup()
    const held = await spawn('hold on', 300)
    const done = await settle(held)
    expect(done).toMatchObject({
      state: 'failed',
      error: { kind: 'timeout', message: 'the remote task was canceled at its deadline' },
    })
    expect(sample.cancels).toEqual([done.links.remoteTaskId])
  })

  test('an agent that fails ends the task failed with remote_failed', async () => {
    const { spawn, settle } = await setup()
    const done = await settle(await spawn('fail'))
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'remote_failed' } })
  })

  test('an agent that cannot be reached fails the task unreachable after its retries', async () => {
    const remote = await remoteAgent()
    const { spawn, settle } = await setup(remote, { retries: 2, streaming: true })
    await remote.close()
    const done = await settle(await spawn('hello'))
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'unreachable' } })
    expect(done.error?.message).toContain('3 tries')
  })

  test.each(['state', 'string', 'huge'] as const)(
    'a remote that sends what the record cannot hold (%s) fails the task invalid_remote',
    async (what) => {
      const { spawn, settle } = await setup(await remoteAgent(new HostileAgent(what)), {
        maxArtifactChars: 8000,
      })
      const done = await settle(await spawn('go'))
      expect(done).toMatchObject({ state: 'failed', error: { kind: 'invalid_remote' } })
    },
  )

  test('a worker that is gone mid-task is re-attached by the reaper, which follows the same remote task', async () => {
    const remote = await remoteAgent()
    const first = await setup(remote)
    const held = await first.spawn('hold on')
    const running = await until(first.registry, held.id, (t) => t.artifacts.length > 0)
    const remoteId = running.links.remoteTaskId ?? ''
    // The worker goes away without a word (its runs abort, the task stays running).
    await first.supervisor.close()
    await first.registry.update('s1', held.id, { heartbeatAt: new Date(0).toISOString() })
    const second = await setup(remote, {}, first.registry)
    const reaped = await second.supervisor.reap({ staleAfterMs: 1000 })
    expect(reaped.reattached).toBe(1)
    await until(first.registry, held.id, (t) => t.attempt === 2 && t.state === 'running')
    first.sample.release(remoteId)
    const done = await second.settle(held)
    expect(done).toMatchObject({ state: 'succeeded', attempt: 2 })
    expect(done.artifacts[0]?.text).toBe('first part\n, second part')
    expect(first.sample.executions).toEqual([remoteId])
  })

  test('re-attached before the first reply, the request found among the remote tasks is not sent again', async () => {
    const remote = await remoteAgent()
    const { registry, client, sample, supervisor, settle } = await setup(remote)
    // A worker that sent the request and died before it heard back: the record has no remote id.
    const task = await registry.create({
      sessionId: 's1',
      kind: 'external_agent',
      displayName: 're-attached',
      spec: { text: 'count 2' },
      state: 'running',
    })
    const message: Message = {
      messageId: `${task.id}-request`,
      role: 1,
      taskId: '',
      contextId: 's1',
      parts: [
        {
          content: { $case: 'text', value: 'count 2' },
          mediaType: 'text/plain',
          filename: '',
          metadata: {},
        },
      ],
      metadata: {},
      extensions: [],
      referenceTaskIds: [],
    }
    const sent = await client.sendMessage({
      tenant: '',
      message,
      configuration: {
        acceptedOutputModes: [],
        taskPushNotificationConfig: undefined,
        returnImmediately: true,
      },
      metadata: {},
    })
    await registry.update('s1', task.id, { heartbeatAt: new Date(0).toISOString() })
    expect((await supervisor.reap({ staleAfterMs: 1000 })).reattached).toBe(1)
    const done = await settle(task)
    expect(done.state).toBe('succeeded')
    expect(done.links.remoteTaskId).toBe('id' in sent ? sent.id : undefined)
    expect(sample.executions).toHaveLength(1)
  })

  test('re-attached before anything was sent, the request is sent once', async () => {
    const { registry, sample, supervisor, settle } = await setup()
    const task = await registry.create({
      sessionId: 's1',
      kind: 'external_agent',
      displayName: 're-attached',
      spec: { text: 'hi' },
      state: 'running',
    })
    await registry.update('s1', task.id, { heartbeatAt: new Date(0).toISOString() })
    expect((await supervisor.reap({ staleAfterMs: 1000 })).reattached).toBe(1)
    const done = await settle(task)
    expect(done).toMatchObject({ state: 'succeeded', artifacts: [{ text: 'echo: hi' }] })
    expect(sample.executions).toHaveLength(1)
  })

  test('reconcile reads the remote task once and mirrors where it is', async () => {
    const { registry, supervisor, sample, spawn, settle } = await setup()
    const asked = await settle(await spawn('ask me'))
    const remoteId = asked.links.remoteTaskId ?? ''
    // The record loses track (say, a write lost to an outage): reconcile puts it right.
    await registry.update('s1', asked.id, { state: 'running' })
    const after = await supervisor.reconcile('s1', asked.id)
    expect(after).toMatchObject({
      state: 'awaiting_input',
      inputRequest: { id: 'a2a-input-required' },
    })
    expect(sample.executions).toEqual([remoteId])
  })

  test('auth-required is a distinct input request; its answer is a follow-up too', async () => {
    const { supervisor, spawn, settle } = await setup(await remoteAgent(new StateAgent(8)))
    const asked = await settle(await spawn('let me in'))
    expect(asked).toMatchObject({
      state: 'awaiting_input',
      inputRequest: { id: 'a2a-auth-required', prompt: 'not you' },
    })
    const { delivery } = await supervisor.message('s1', asked.id, {
      text: 'token 123',
      inReplyTo: 'a2a-auth-required',
    })
    expect(delivery).toBe('delivered')
    expect(await settle(asked)).toMatchObject({ state: 'succeeded' })
  })

  test("a rejected request fails the task with rejected and the agent's words", async () => {
    const { spawn, settle } = await setup(await remoteAgent(new StateAgent(7)))
    const done = await settle(await spawn('do it'))
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'rejected', message: 'not you' } })
  })

  test('a remote task that ended while nobody followed it is mirrored at re-attach', async () => {
    const remote = await remoteAgent()
    const first = await setup(remote)
    const held = await first.spawn('hold on')
    const running = await until(first.registry, held.id, (t) => t.artifacts.length > 0)
    await first.supervisor.close()
    // The remote finishes while no worker follows it.
    first.sample.release(running.links.remoteTaskId ?? '')
    const client = await remote.client()
    for (let i = 0; i < 100; i++) {
      const t = await client.getTask({ tenant: '', id: running.links.remoteTaskId ?? '' })
      if (t.status?.state === 3) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await first.registry.update('s1', held.id, { heartbeatAt: new Date(0).toISOString() })
    const second = await setup(remote, {}, first.registry)
    expect((await second.supervisor.reap({ staleAfterMs: 1000 })).reattached).toBe(1)
    const done = await second.settle(held)
    expect(done).toMatchObject({ state: 'succeeded', attempt: 2 })
    expect(done.artifacts[0]?.text).toBe('first part\n, second part')
    expect(first.sample.executions).toHaveLength(1)
  })

  test('agentUrl makes the client from the agent card', async () => {
    const remote = await remoteAgent()
    const registry = await make()
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'external_agent',
      executor: () => a2aClientExecutor({ agentUrl: remote.url, pollIntervalMs: 20 }),
    })
    const supervisor = createTaskSupervisor({ registry, executors })
    supervisors.push(supervisor)
    const task = await supervisor.spawn({
      sessionId: 's1',
      kind: 'external_agent',
      displayName: 'by url',
      spec: { text: 'hello' },
    })
    const done = (await supervisor.wait('s1', task.id, { until: 'settled' })).task
    expect(done).toMatchObject({ state: 'succeeded', artifacts: [{ text: 'echo: hello' }] })
  })
})

describe('a2aClientExecutor options', () => {
  test('exactly one of client and agentUrl is required, with the field named', async () => {
    expect(() => a2aClientExecutor({})).toThrow(/client: give exactly one of client and agentUrl/)
    const remote = await remoteAgent()
    const client = await remote.client()
    expect(() => a2aClientExecutor({ client, agentUrl: remote.url })).toThrow(ValidationError)
  })
})
