import type { TaskState } from '@a2a-js/sdk'
import type { AgentExecutor } from '@a2a-js/sdk/server'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { SampleAgent } from '../examples/a2a-server/agent.js'
import { fromPGlite, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import { a2aExecutor } from '../src/bridges/a2a/index.js'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type SessionTask,
  TaskExecutorRegistry,
  type TaskSupervisor,
  taskMessageText,
} from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'

// An @a2a-js/sdk AgentExecutor run by the supervisor as a task kind: its
// events become the record, its input requests are answered through the
// supervisor, and a cancel reaches the agent.

const pglite = new PGlite()
const backends: { name: string; make: () => Promise<SessionTaskRegistry> }[] = [
  { name: 'in memory', make: async () => new InMemorySessionTaskRegistry() },
  {
    name: 'PGlite',
    make: async () => {
      await pglite.waitReady
      const client = fromPGlite(pglite)
      const prefix = `a2ax${Math.random().toString(36).slice(2, 8)}_`
      await migrate(client, { prefix })
      return new PostgresSessionTaskRegistry({ client, prefix })
    },
  },
]
afterAll(() => pglite.close())

// Resolves once the held task has written its first chunk (an event, not a sleep).
async function firstChunk(registry: SessionTaskRegistry, id: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const off = registry.subscribe('s1', (type, payload) => {
      const task = (payload as { task?: SessionTask }).task
      if (type === 'task.updated' && task?.id === id && task.artifacts.length > 0) {
        off()
        resolve()
      }
    })
    void registry.get('s1', id).then((task) => {
      if ((task?.artifacts.length ?? 0) > 0) {
        off()
        resolve()
      }
    })
  })
}

describe.each(backends)('a2aExecutor on $name', ({ make }) => {
  let supervisor: TaskSupervisor | undefined
  afterEach(async () => {
    await supervisor?.close()
    supervisor = undefined
  })

  async function setup() {
    const registry = await make()
    const agent = new SampleAgent({ stepMs: 1 })
    const executors = new TaskExecutorRegistry()
    executors.register({ kind: 'a2a', executor: () => a2aExecutor(agent) })
    supervisor = createTaskSupervisor({ registry, executors, cancelGraceMs: 200 })
    const spawn = (text: string) =>
      (supervisor as TaskSupervisor).spawn({
        sessionId: 's1',
        kind: 'a2a',
        displayName: text,
        spec: { text },
      })
    const settle = async (task: SessionTask) =>
      (await (supervisor as TaskSupervisor).wait('s1', task.id, { until: 'settled' })).task
    return { registry, agent, supervisor, spawn, settle }
  }

  test('an echo runs to succeeded with the status message as result and the artifact stored', async () => {
    const { registry, spawn, settle } = await setup()
    const done = await settle(await spawn('hello'))
    expect(done.state).toBe('succeeded')
    expect(done.artifacts).toMatchObject([{ id: 'answer', text: 'echo: hello' }])
    expect(JSON.stringify(done.result)).toContain('echoed')
    const said = await registry.listMessages('s1', done.id)
    expect(said.map((m) => taskMessageText(m.content))).toContain('working on: hello')
  })

  test('chunked artifact appends are merged into one artifact by id', async () => {
    const { spawn, settle } = await setup()
    const done = await settle(await spawn('count 3'))
    expect(done.state).toBe('succeeded')
    expect(done.artifacts).toHaveLength(1)
    expect(done.artifacts[0]?.text).toBe('1\n 2\n 3')
  })

  test('input-required becomes an input request, and the answer is the next turn', async () => {
    const { supervisor: s, spawn, settle } = await setup()
    const asked = await settle(await spawn('ask me'))
    expect(asked.state).toBe('awaiting_input')
    expect(asked.inputRequest).toMatchObject({ id: 'a2a-input-required', prompt: 'Which colour?' })
    const { delivery } = await s.message('s1', asked.id, {
      text: 'blue',
      inReplyTo: 'a2a-input-required',
    })
    expect(delivery).toBe('delivered')
    const done = await settle(asked)
    expect(done.state).toBe('succeeded')
    expect(done.artifacts[0]?.text).toBe('you chose blue')
  })

  test('a message that answers nothing is refused, and the task carries on', async () => {
    const { registry, agent, supervisor: s, spawn, settle } = await setup()
    const held = await spawn('hold on')
    await firstChunk(registry, held.id)
    const { delivery } = await s.message('s1', held.id, { text: 'hurry' })
    expect(delivery).toEqual({ failed: expect.stringContaining('answer to its input request') })
    expect(agent.release(held.id)).toBe(true)
    expect((await settle(held)).state).toBe('succeeded')
  })

  test("cancel reaches the agent's cancelTask and the task ends canceled", async () => {
    const { registry, agent, supervisor: s, spawn, settle } = await setup()
    const held = await spawn('hold it')
    await firstChunk(registry, held.id)
    await s.cancel('s1', held.id)
    const done = await settle(held)
    expect(done.state).toBe('canceled')
    expect(agent.cancels).toContain(held.id)
  })

  test('a task awaiting input is canceled without a turn running', async () => {
    const { agent, supervisor: s, spawn, settle } = await setup()
    const asked = await settle(await spawn('ask'))
    await s.cancel('s1', asked.id)
    expect((await settle(asked)).state).toBe('canceled')
    expect(agent.cancels).not.toContain(asked.id)
  })

  test('an agent that answers with one finished task event ends the task, and a cancel reaches it once', async () => {
    const registry = await make()
    const cancels: string[] = []
    let hold: (() => void) | undefined
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        const task = (state: number) =>
          bus.publish({
            kind: 'task',
            data: {
              id: rc.taskId,
              contextId: rc.contextId,
              status: {
                state: state as TaskState,
                message: undefined,
                timestamp: new Date().toISOString(),
              },
              artifacts: [],
              history: [],
              metadata: {},
            },
          })
        if (rc.userMessage.parts[0]?.content?.value === 'hold') {
          task(2)
          await new Promise<void>((resolve) => {
            hold = resolve
          })
          return
        }
        task(3)
      },
      async cancelTask(id) {
        cancels.push(id)
        hold?.()
      },
    }
    const executors = new TaskExecutorRegistry()
    executors.register({ kind: 'a2a', executor: () => a2aExecutor(agent) })
    supervisor = createTaskSupervisor({ registry, executors, cancelGraceMs: 100 })
    const spawn = (text: string) =>
      (supervisor as TaskSupervisor).spawn({
        sessionId: 's1',
        kind: 'a2a',
        displayName: text,
        spec: { text },
      })
    const done = await supervisor.wait('s1', (await spawn('once')).id, { until: 'settled' })
    expect(done.task.state).toBe('succeeded')
    const held = await spawn('hold')
    await supervisor.cancel('s1', held.id)
    await supervisor.wait('s1', held.id, { until: 'terminal' })
    expect(cancels).toEqual([held.id])
  })

  test('an agent that throws fails the task with agent_error', async () => {
    const { spawn, settle } = await setup()
    const done = await settle(await spawn('fail'))
    expect(done.state).toBe('failed')
    expect(done.error).toMatchObject({
      kind: 'agent_error',
      message: expect.stringContaining('asked to fail'),
    })
  })
})
