import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import {
  type CallToolResult,
  CallToolResultSchema,
  ElicitRequestSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { afterEach, describe, expect, test } from 'vitest'
import { buildServer } from '../examples/mcp-server/tools.js'
import { backends } from './fixtures/a2a-handlers.js'

// The MCP SDK's server (its own tasks/get, tasks/result, tasks/list and
// tasks/cancel handlers) over SessionTasksMcpTaskStore and
// SessionTasksMcpMessageQueue, with the SDK's client linked in process, on
// every registry: two servers over one set of tables stand for two processes.

const open: Client[] = []
afterEach(async () => {
  for (const c of open.splice(0)) await c.close()
})

async function connect(
  registry: Parameters<typeof buildServer>[0]['registry'],
  answer?: (message: string) => boolean,
) {
  const server = buildServer({ registry, stepMs: 1 })
  const client = new Client(
    { name: 'test', version: '1.0.0' },
    answer === undefined ? {} : { capabilities: { elicitation: { form: {} } } },
  )
  if (answer !== undefined) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => ({
      action: 'accept',
      content: { confirm: answer(request.params.message) },
    }))
  }
  const [a, b] = InMemoryTransport.createLinkedPair()
  await server.connect(a)
  await client.connect(b)
  open.push(client)
  return client
}

const textOf = (result: CallToolResult) =>
  result.content.map((c) => (c.type === 'text' ? c.text : '')).join('')

async function startTask(client: Client, name: string, args: Record<string, unknown>) {
  const stream = client.experimental.tasks.callToolStream(
    { name, arguments: args },
    CallToolResultSchema,
    { task: { ttl: 600_000 } },
  )
  const first = await stream.next()
  if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created')
  return first.value.task.taskId
}

describe.each(backends)('the MCP server over the bridge on $name', ({ pair }) => {
  test('a task call streams to its result, and the other server lists and returns it', async () => {
    const [ra, rb] = await pair()
    const a = await connect(ra)
    const b = await connect(rb)
    const taskId = await startTask(a, 'count', { to: 3 })
    expect((await b.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(taskId)
    const result = (await b.experimental.tasks.getTaskResult(
      taskId,
      CallToolResultSchema,
    )) as CallToolResult
    expect(textOf(result)).toBe('counted to 3')
    expect((await a.experimental.tasks.getTask(taskId)).status).toBe('completed')
  })

  test('a cancel on the other server ends the task, and a second cancel is refused', async () => {
    const [ra, rb] = await pair()
    const a = await connect(ra)
    const b = await connect(rb)
    const taskId = await startTask(a, 'count', { to: 1000 })
    expect((await b.experimental.tasks.cancelTask(taskId)).status).toBe('cancelled')
    await expect(a.experimental.tasks.cancelTask(taskId)).rejects.toThrow(/terminal status/)
    await expect(b.experimental.tasks.getTask('task_missing')).rejects.toThrow(/not found/i)
  })

  test('an elicitation waits in the durable queue and its answer completes the call', async () => {
    const [r] = await pair()
    const asked: string[] = []
    const client = await connect(r, (message) => {
      asked.push(message)
      return false
    })
    let result: CallToolResult | undefined
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'confirm', arguments: { action: 'drop the table' } },
      CallToolResultSchema,
      { task: { ttl: 600_000 } },
    )) {
      if (message.type === 'result') result = message.result as CallToolResult
      if (message.type === 'error') throw message.error
    }
    expect(asked).toEqual(['Really drop the table?'])
    expect(result && textOf(result)).toBe('did not drop the table')
  })

  test('an answer through the other server resumes work waiting for it', async () => {
    const [ra, rb] = await pair()
    const a = await connect(ra)
    const b = await connect(rb)
    const taskId = await startTask(a, 'deploy', { target: 'prod' })
    let status = (await b.experimental.tasks.getTask(taskId)).status
    for (let i = 0; i < 500 && status !== 'input_required'; i++) {
      status = (await b.experimental.tasks.getTask(taskId)).status
    }
    expect(status).toBe('input_required')
    await b.callTool({ name: 'answer', arguments: { taskId, text: 'no' } })
    const result = (await a.experimental.tasks.getTaskResult(
      taskId,
      CallToolResultSchema,
    )) as CallToolResult
    expect(textOf(result)).toBe('did not deploy prod')
  })
})
