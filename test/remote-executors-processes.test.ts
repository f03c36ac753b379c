import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { SampleAgent } from '../examples/a2a-server/agent.js'
import { fromPgPool, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import { a2aClientExecutor } from '../src/bridges/a2a/index.js'
import { mcpClientExecutor } from '../src/bridges/mcp/index.js'
import {
  createTaskSupervisor,
  type SessionTask,
  type TaskExecutor,
  TaskExecutorRegistry,
} from '../src/index.js'
import { closeRemoteAgents, remoteAgent } from './fixtures/a2a-remote.js'
import { closeMcpRemotes, mcpRemote, serveMcpRemote } from './fixtures/mcp-remote.js'

// Issue 15 across real processes on one PostgreSQL server: a worker process
// runs a remote A2A agent or MCP tool call as a task and is SIGKILLed
// mid-task; this process's reaper re-attaches the task, follows the same
// remote task to its end, and the request is never sent twice. Run with:
//   bash scripts/with-postgres.sh npx vitest run test/remote-executors-processes.test.ts
const url = process.env.TEST_DATABASE_URL
const worker = fileURLToPath(new URL('./fixtures/remote-worker.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

if (url === undefined || url === '') {
  describe('remote executors across processes', () => {
    test.skip('SKIPPED: set TEST_DATABASE_URL (or use scripts/with-postgres.sh) to run', () => {})
  })
} else {
  const databaseUrl = url
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })
  const children: ChildProcess[] = []
  const closers: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    for (const close of closers.splice(0)) await close().catch(() => {})
    await closeRemoteAgents()
    await closeMcpRemotes()
    await pool.end()
  })

  // A worker that spawns one task against `remoteUrl`; resolves with its first line, if any.
  function startWorker(protocol: 'a2a' | 'mcp', remoteUrl: string, spec: unknown, prefix: string) {
    const child = spawn(process.execPath, ['--import', 'tsx', worker], {
      cwd: root,
      env: {
        ...process.env,
        RW_DATABASE_URL: databaseUrl,
        RW_PREFIX: prefix,
        RW_PROTOCOL: protocol,
        RW_URL: remoteUrl,
        RW_SPEC: JSON.stringify(spec),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    const exited = new Promise((resolve) => child.once('exit', resolve))
    const line = new Promise<{ taskId: string; remoteTaskId: string }>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)))
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) =>
        resolve(JSON.parse(l)),
      )
    })
    line.catch(() => {})
    const kill = async () => {
      child.kill('SIGKILL')
      await exited
    }
    return { line, kill }
  }

  // This process: a registry on the same tables and a supervisor that reaps.
  async function takeOver(prefix: string, executor: TaskExecutor) {
    const registry = new PostgresSessionTaskRegistry({ client: fromPgPool(pool), prefix })
    await registry.start()
    const executors = new TaskExecutorRegistry()
    executors.register({ kind: executor.kind, executor: () => executor })
    const supervisor = createTaskSupervisor({ registry, executors })
    const reattach = () =>
      eventually(async () => {
        const result = await supervisor.reap({ staleAfterMs: 400 })
        return result.reattached > 0 ? result : undefined
      }, 'the reaper to re-attach the task')
    let closed = false
    const close = async () => {
      if (closed) return
      closed = true
      await supervisor.close()
      await registry.close()
    }
    closers.push(close)
    return { registry, supervisor, reattach, close }
  }

  const newPrefix = () => `rx${Math.random().toString(36).slice(2, 8)}_`

  describe('remote executors across processes', () => {
    test('a2aClientExecutor: a worker killed mid-task; another process follows the same remote task to its end', async () => {
      const prefix = newPrefix()
      await migrate(fromPgPool(pool), { prefix })
      const sample = new SampleAgent({ stepMs: 5 })
      const remote = await remoteAgent(sample)
      const w = startWorker('a2a', remote.url, { text: 'hold on' }, prefix)
      const { taskId, remoteTaskId } = await w.line
      await w.kill()
      const me = await takeOver(
        prefix,
        a2aClientExecutor({ client: await remote.client(), pollIntervalMs: 50 }),
      )
      await me.reattach()
      sample.release(remoteTaskId)
      const done = (
        await me.supervisor.wait('s1', taskId, { until: 'terminal', timeoutMs: 20_000 })
      ).task
      expect(done).toMatchObject({ state: 'succeeded', attempt: 2, links: { remoteTaskId } })
      expect(done.artifacts[0]?.text).toBe('first part\n, second part')
      expect(sample.executions).toEqual([remoteTaskId])
      await me.close()
    })

    test('a2aClientExecutor: a worker killed before the first reply; the request it sent is found, not sent again', async () => {
      const prefix = newPrefix()
      await migrate(fromPgPool(pool), { prefix })
      const sample = new SampleAgent({ stepMs: 5 })
      let arrived: () => void = () => {}
      const arrival = new Promise<void>((resolve) => {
        arrived = resolve
      })
      let letGo: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        letGo = resolve
      })
      // The agent takes the request and says nothing until the worker is dead.
      const gated: AgentExecutor = {
        execute: async (context: RequestContext, bus: ExecutionEventBus) => {
          arrived()
          await gate
          return sample.execute(context, bus)
        },
        cancelTask: sample.cancelTask,
      }
      const remote = await remoteAgent(gated)
      const w = startWorker('a2a', remote.url, { text: 'count 3' }, prefix)
      await arrival
      await w.kill()
      letGo()
      const me = await takeOver(
        prefix,
        a2aClientExecutor({ client: await remote.client(), pollIntervalMs: 50 }),
      )
      const [task] = await me.registry.list('s1')
      expect(task?.links.remoteTaskId).toBeUndefined()
      // The remote task exists once the agent has published it.
      await eventually(async () => (sample.executions.length > 0 ? true : undefined), 'the agent')
      await me.reattach()
      const done = (
        await me.supervisor.wait('s1', (task as SessionTask).id, {
          until: 'terminal',
          timeoutMs: 20_000,
        })
      ).task
      expect(done).toMatchObject({
        state: 'succeeded',
        links: { remoteTaskId: sample.executions[0] },
      })
      expect(done.artifacts[0]?.text).toBe('1\n 2\n 3')
      expect(sample.executions).toHaveLength(1)
      await me.close()
    })

    test('mcpClientExecutor: a worker killed mid-call; another process polls the same remote task to its end', async () => {
      const prefix = newPrefix()
      await migrate(fromPgPool(pool), { prefix })
      const remote = mcpRemote()
      const address = await serveMcpRemote(remote)
      const w = startWorker('mcp', address, { tool: 'hold' }, prefix)
      const { taskId, remoteTaskId } = await w.line
      await w.kill()
      const client = new Client({ name: 'taker', version: '1.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(address)))
      const me = await takeOver(prefix, mcpClientExecutor({ client, pollIntervalMs: 50 }))
      await me.reattach()
      remote.release(remoteTaskId)
      const done = (
        await me.supervisor.wait('s1', taskId, { until: 'terminal', timeoutMs: 20_000 })
      ).task
      expect(done).toMatchObject({ state: 'succeeded', attempt: 2, links: { remoteTaskId } })
      expect(JSON.stringify(done.result)).toContain('released')
      expect(remote.created).toEqual([remoteTaskId])
      await client.close()
      await me.close()
    })
  })
}
