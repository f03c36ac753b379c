import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  type CallToolResult,
  CallToolResultSchema,
  ElicitRequestSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { afterAll, describe, expect, test } from 'vitest'

// The example MCP server (examples/mcp-server) driven over Streamable HTTP
// by the SDK's own client: a long tool call made as a task, its status
// polled, its result fetched, a cancel, and a question answered. With a
// PostgreSQL server, two server processes share one database and one
// serves the tasks of calls the other took.

const children: ChildProcess[] = []
const clients: Client[] = []
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {})
  for (const child of children) {
    if (child.exitCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
})

async function startServer(env: Record<string, string>): Promise<Client> {
  return connect(await launch(env))
}

async function connect(url: string, answer?: (message: string) => boolean): Promise<Client> {
  const client = new Client(
    { name: 'example-test', version: '1.0.0' },
    answer === undefined ? {} : { capabilities: { elicitation: { form: {} } } },
  )
  if (answer !== undefined) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => ({
      action: 'accept',
      content: { confirm: answer(request.params.message) },
    }))
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  clients.push(client)
  return client
}

function launch(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/mcp-server/server.ts'], {
    env: { ...process.env, PORT: '0', STEP_MS: '50', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  return new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the example server exited with ${code}`)))
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url))
  })
}

const textOf = (result: CallToolResult) =>
  result.content.map((c) => (c.type === 'text' ? c.text : '')).join('')

// Calls a task tool and returns its task id once the task exists.
async function startTask(client: Client, name: string, args: Record<string, unknown>) {
  const stream = client.experimental.tasks.callToolStream(
    { name, arguments: args },
    CallToolResultSchema,
    {
      task: { ttl: 600_000 },
    },
  )
  const first = await stream.next()
  if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created')
  return { taskId: first.value.task.taskId, stream }
}

function scenarios(pair: () => Promise<[Client, Client]>) {
  test('a long call made as a task streams its status and ends with its result', async () => {
    const [a] = await pair()
    const seen: string[] = []
    let result: CallToolResult | undefined
    for await (const message of a.experimental.tasks.callToolStream(
      { name: 'count', arguments: { to: 4 } },
      CallToolResultSchema,
      { task: { ttl: 600_000 } },
    )) {
      if (message.type === 'taskStatus') seen.push(message.task.status)
      if (message.type === 'result') result = message.result as CallToolResult
      if (message.type === 'error') throw message.error
    }
    expect(seen).toContain('working')
    expect(result && textOf(result)).toBe('counted to 4')
  })

  test('the other process reports, lists and returns the result of a call this one took', async () => {
    const [a, b] = await pair()
    const { taskId } = await startTask(a, 'count', { to: 6 })
    const status = await b.experimental.tasks.getTask(taskId)
    expect(status.status).toBe('working')
    const listed = await b.experimental.tasks.listTasks()
    expect(listed.tasks.map((t) => t.taskId)).toContain(taskId)
    // tasks/result on the other process blocks until the work here has ended.
    const result = (await b.experimental.tasks.getTaskResult(
      taskId,
      CallToolResultSchema,
    )) as CallToolResult
    expect(textOf(result)).toBe('counted to 6')
    expect((await a.experimental.tasks.getTask(taskId)).status).toBe('completed')
  })

  test('a cancel through the other process stops the work here', async () => {
    const [a, b] = await pair()
    const { taskId } = await startTask(a, 'count', { to: 400 })
    const canceled = await b.experimental.tasks.cancelTask(taskId)
    expect(canceled.status).toBe('cancelled')
    const after = await a.experimental.tasks.getTask(taskId)
    expect(after.status).toBe('cancelled')
    // The work's next step saw the cancel; its writes cannot reopen the task.
    expect(after.statusMessage).toBe('Client cancelled task execution.')
  })

  test('a question is answered through the other process and the call completes', async () => {
    const [a, b] = await pair()
    const { taskId } = await startTask(a, 'deploy', { target: 'staging' })
    let task = await b.experimental.tasks.getTask(taskId)
    for (let i = 0; i < 200 && task.status !== 'input_required'; i++) {
      task = await b.experimental.tasks.getTask(taskId)
    }
    expect(task.status).toBe('input_required')
    expect(task.statusMessage).toContain('Deploy staging?')
    const answered = await b.callTool({ name: 'answer', arguments: { taskId, text: 'yes' } })
    expect(answered.isError).toBeFalsy()
    const result = (await a.experimental.tasks.getTaskResult(
      taskId,
      CallToolResultSchema,
    )) as CallToolResult
    expect(textOf(result)).toBe('deployed staging')
  })
}

describe('the MCP example server, one MCP session', () => {
  test('a question asked by elicitation waits in the durable queue and its answer completes the call', async () => {
    const url = await launch({ DATABASE_URL: '' })
    const asked: string[] = []
    const client = await connect(`${url}/session`, (message) => {
      asked.push(message)
      return true
    })
    let result: CallToolResult | undefined
    const statuses: string[] = []
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'confirm', arguments: { action: 'ship it' } },
      CallToolResultSchema,
      { task: { ttl: 600_000 } },
    )) {
      if (message.type === 'taskStatus') statuses.push(message.task.status)
      if (message.type === 'result') result = message.result as CallToolResult
      if (message.type === 'error') throw message.error
    }
    expect(asked).toEqual(['Really ship it?'])
    expect(statuses).toContain('input_required')
    expect(result && textOf(result)).toBe('did ship it')
  })
})

describe('the MCP example server, one process, tasks in memory', () => {
  let client: Promise<Client> | undefined
  scenarios(async () => {
    client ??= startServer({ DATABASE_URL: '' })
    const c = await client
    return [c, c]
  })
})

const url = process.env.TEST_DATABASE_URL
describe.skipIf(url === undefined || url === '')(
  'the MCP example server, two processes on one PostgreSQL database',
  () => {
    let pair: Promise<[Client, Client]> | undefined
    scenarios(() => {
      const env = {
        DATABASE_URL: url as string,
        TABLE_PREFIX: `mcpx${Math.random().toString(36).slice(2, 8)}_`,
      }
      pair ??= startServer(env).then(async (a) => [a, await startServer(env)])
      return pair
    })
  },
)
