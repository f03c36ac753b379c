import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { type McpClientExecutorOptions, mcpClientExecutor } from '../src/bridges/mcp/index.js'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type SessionTask,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'
import {
  closeMcpRemotes,
  linkedClient,
  type McpRemote,
  mcpRemote,
  serveMcpRemote,
} from './fixtures/mcp-remote.js'
import { registryBackends, untilTask } from './fixtures/registries.js'

// A remote MCP tool call (the SDK's own server, task store and message
// queue) run as a session task by mcpClientExecutor under the supervisor:
// status and progress, elicitation answered through the supervisor,
// cancel, timeout, failures, a server without tasks, and re-attach.

const backends = registryBackends('mcpr')
afterAll(closeMcpRemotes)
const until = untilTask

async function httpClient(url: string): Promise<Client> {
  const client = new Client(
    { name: 'http-test', version: '1.0.0' },
    { capabilities: { elicitation: {} } },
  )
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

const textOf = (task: SessionTask) =>
  JSON.stringify((task.result as { content?: unknown } | undefined)?.content ?? null)

describe.each(backends)('mcpClientExecutor on $name', ({ make }) => {
  const supervisors: TaskSupervisor[] = []
  afterEach(async () => {
    for (const s of supervisors.splice(0)) await s.close()
  })

  async function setup(
    options: {
      remote?: McpRemote
      client?: Client
      registry?: SessionTaskRegistry
    } & Partial<McpClientExecutorOptions> = {},
  ) {
    const { remote: given, client: givenClient, registry: givenRegistry, ...rest } = options
    const registry = givenRegistry ?? (await make())
    const remote = given ?? mcpRemote()
    const client = givenClient ?? (await linkedClient(remote))
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'mcp_tool',
      executor: () => mcpClientExecutor({ client, pollIntervalMs: 10, ...rest }),
    })
    const supervisor = createTaskSupervisor({ registry, executors, cancelGraceMs: 500 })
    supervisors.push(supervisor)
    const spawn = (tool: string, args: Record<string, string | number> = {}, timeoutMs?: number) =>
      supervisor.spawn(
        { sessionId: 's1', kind: 'mcp_tool', displayName: tool, spec: { tool, arguments: args } },
        timeoutMs === undefined ? undefined : { timeoutMs },
      )
    const settle = async (task: SessionTask) =>
      (await supervisor.wait('s1', task.id, { until: 'settled' })).task
    return { registry, remote, client, supervisor, spawn, settle }
  }

  test('a task tool runs to succeeded with its result, status messages and progress mirrored', async () => {
    // Steps longer than a poll, so that a status between two polls is seen on any backend.
    const { registry, remote, spawn, settle } = await setup({ remote: mcpRemote({ stepMs: 60 }) })
    const details = new Set<string>()
    const progress: unknown[] = []
    registry.subscribe('s1', (_type, payload) => {
      const task = (payload as { task?: SessionTask }).task
      if (task?.stateDetail !== undefined) details.add(task.stateDetail)
      if (task?.progress !== undefined) progress.push(task.progress)
    })
    const done = await settle(await spawn('count', { to: 3 }))
    expect(done.state).toBe('succeeded')
    expect(textOf(done)).toContain('counted to 3')
    expect(done.links.remoteTaskId).toBe(remote.created[0])
    expect(progress).toContainEqual({ current: 3, total: 3 })
    expect([...details].some((d) => /counted \d of 3/.test(d))).toBe(true)
  })

  test('an elicitation becomes an input request with the schema; the answer goes back to the server', async () => {
    const { supervisor, spawn, settle } = await setup()
    const asked = await settle(await spawn('confirm', { action: 'deploy' }))
    const id = `mcp-elicitation-${asked.links.remoteTaskId}`
    expect(asked).toMatchObject({
      state: 'awaiting_input',
      inputRequest: {
        id,
        prompt: 'Really deploy?',
        expected: { properties: { confirm: { type: 'boolean' } } },
      },
    })
    const bad = await supervisor.message('s1', asked.id, { text: 'maybe', inReplyTo: id })
    expect(bad.delivery).toEqual({
      failed: expect.stringContaining("field 'confirm': must be yes or no"),
    })
    const again = await settle(asked)
    expect(again).toMatchObject({ state: 'awaiting_input', inputRequest: { id } })
    const good = await supervisor.message('s1', asked.id, { text: 'yes', inReplyTo: id })
    expect(good.delivery).toBe('delivered')
    const done = await settle(asked)
    expect(done.state).toBe('succeeded')
    expect(textOf(done)).toContain('did deploy')
  })

  test('a decline is an answer too', async () => {
    const { supervisor, spawn, settle } = await setup()
    const asked = await settle(await spawn('confirm', { action: 'drop the table' }))
    const id = asked.inputRequest?.id ?? ''
    await supervisor.message('s1', asked.id, { text: 'decline', inReplyTo: id })
    expect(textOf(await settle(asked))).toContain('did not drop the table')
  })

  test('cancel is tasks/cancel: the remote task ends cancelled and so does the task', async () => {
    const { registry, remote, supervisor, spawn, settle } = await setup()
    const held = await spawn('hold')
    const running = await until(registry, held.id, (t) => t.stateDetail === 'holding')
    await supervisor.cancel('s1', held.id)
    expect((await settle(held)).state).toBe('canceled')
    expect((await remote.store.getTask(running.links.remoteTaskId ?? ''))?.status).toBe('cancelled')
  })

  test('a timeout cancels the remote task and fails the task with timeout', async () => {
    const { remote, spawn, settle } = await setup()
    const done = await settle(await spawn('hold', {}, 300))
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'timeout' } })
    expect((await remote.store.getTask(done.links.remoteTaskId ?? ''))?.status).toBe('cancelled')
  })

  test('a remote task that fails is remote_failed; a result with isError is tool_error', async () => {
    const { spawn, settle } = await setup()
    const failed = await settle(await spawn('fail', { how: 'status' }))
    expect(failed).toMatchObject({
      state: 'failed',
      error: { kind: 'remote_failed', message: 'the disk is full' },
    })
    const erred = await settle(await spawn('fail', { how: 'result' }))
    expect(erred).toMatchObject({
      state: 'failed',
      error: { kind: 'tool_error', message: 'bad input' },
    })
  })

  test.each(['string', 'huge', 'status'])(
    'a remote that answers what the record cannot hold (%s) fails the task invalid_remote',
    async (what) => {
      const { spawn, settle } = await setup({ maxResultChars: 5000 })
      const done = await settle(await spawn('bad', { what }))
      expect(done).toMatchObject({ state: 'failed', error: { kind: 'invalid_remote' } })
    },
  )

  test('a server without task support gets a plain call, which is not re-attachable', async () => {
    const remote = mcpRemote({ tasks: false })
    const { spawn, settle } = await setup({ remote })
    const done = await settle(await spawn('echo', { say: 'hi' }))
    expect(done.state).toBe('succeeded')
    expect(textOf(done)).toContain('echo: hi')
    expect(done.links.remoteTaskId).toBeUndefined()
    const executor = mcpClientExecutor({ client: await linkedClient(remote) })
    expect(executor.canReattach?.(done)).toBe(false)
  })

  test('a worker that is gone mid-call is re-attached over HTTP by another client, without a second call', async () => {
    const remote = mcpRemote()
    const address = await serveMcpRemote(remote)
    const first = await setup({ remote, client: await httpClient(address) })
    const held = await first.spawn('hold')
    const running = await until(first.registry, held.id, (t) => t.stateDetail === 'holding')
    await first.supervisor.close()
    await first.registry.update('s1', held.id, { heartbeatAt: new Date(0).toISOString() })
    const second = await setup({
      remote,
      client: await httpClient(address),
      registry: first.registry,
    })
    expect((await second.supervisor.reap({ staleAfterMs: 1000 })).reattached).toBe(1)
    remote.release(running.links.remoteTaskId ?? '')
    const done = await second.settle(held)
    expect(done).toMatchObject({ state: 'succeeded', attempt: 2 })
    expect(textOf(done)).toContain('released')
    expect(remote.created).toHaveLength(1)
  })

  test('a server that cannot be reached fails the task unreachable after its retries', async () => {
    const remote = mcpRemote()
    const address = await serveMcpRemote(remote)
    const client = await httpClient(address)
    await closeMcpRemotes()
    const { spawn, settle } = await setup({ remote, client, retries: 1 })
    const done = await settle(await spawn('count', { to: 1 }))
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'unreachable' } })
  })
})

describe('mcpClientExecutor under faults', () => {
  const supervisors: TaskSupervisor[] = []
  afterEach(async () => {
    for (const s of supervisors.splice(0)) await s.close()
  })
  const run = async (client: McpClientExecutorOptions['client'], tool: string, args = {}) => {
    const registry = new InMemorySessionTaskRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'mcp_tool',
      executor: () => mcpClientExecutor({ client, pollIntervalMs: 10, retries: 1 }),
    })
    const supervisor = createTaskSupervisor({ registry, executors })
    supervisors.push(supervisor)
    const task = await supervisor.spawn({
      sessionId: 's1',
      kind: 'mcp_tool',
      displayName: tool,
      spec: { tool, arguments: args },
    })
    return (await supervisor.wait('s1', task.id, { until: 'settled', timeoutMs: 5000 })).task
  }

  test('a client that cannot connect fails the task unreachable', async () => {
    const done = await run(async () => {
      const client = new Client({ name: 'c', version: '1' })
      await client.connect(new StreamableHTTPClientTransport(new URL('http://127.0.0.1:9/mcp')))
      return client
    }, 'count')
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'unreachable' } })
  })

  test('a call whose answer is lost fails the task lost rather than calling the tool again', async () => {
    const remote = mcpRemote()
    const real = await linkedClient(remote)
    let calls = 0
    const client = new Proxy(real, {
      get(target, p, r) {
        if (p === 'request') {
          return async (req: { method: string }, ...rest: unknown[]) => {
            const answer = await (target.request as (...a: unknown[]) => Promise<unknown>).call(
              target,
              req,
              ...rest,
            )
            if (req.method === 'tools/call' && calls++ === 0) throw new TypeError('fetch failed')
            return answer
          }
        }
        const v = Reflect.get(target, p, r)
        return typeof v === 'function' ? v.bind(target) : v
      },
    }) as Client
    const done = await run(client, 'count', { to: 1 })
    expect(done).toMatchObject({ state: 'failed', error: { kind: 'lost' } })
    expect(remote.created).toHaveLength(1)
  })
})
