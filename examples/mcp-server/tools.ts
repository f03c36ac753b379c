import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { type CallToolResult, ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import {
  mcpSession,
  SessionTasksMcpMessageQueue,
  SessionTasksMcpTaskStore,
} from '../../src/bridges/mcp/index.js'
import type { SessionTaskRegistry } from '../../src/registry/registry.js'

// The example MCP server's tools, each call of `count` and `deploy` run as
// an MCP task kept in session-tasks. The work runs in the process that
// took the call; every other request (tasks/get, tasks/result, tasks/list,
// tasks/cancel, and `answer`) may reach any process on the same registry.

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What the tools need: the registry, and how long one counting step takes. */
export type ToolOptions = { registry: SessionTaskRegistry; stepMs?: number }

/**
 * Builds an MCP server over the shared registry: one per HTTP request when
 * stateless, one per MCP session when not. Only a session's server can ask
 * its client a question (`confirm`): the SDK keeps the pending question in
 * that server object, so its answer must come back to it.
 */
export function buildServer(options: ToolOptions): McpServer {
  const { registry } = options
  const stepMs = options.stepMs ?? 200
  const store = new SessionTasksMcpTaskStore({ registry })
  const server = new McpServer(
    { name: 'session-tasks-mcp-example', version: '0.2.0' },
    {
      capabilities: {
        tools: {},
        tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      },
      taskStore: store,
      taskMessageQueue: new SessionTasksMcpMessageQueue({ registry }),
    },
  )

  // Counts to `to`, one step every stepMs, with the count as the status
  // message; a cancel from any process is seen before the next step.
  const count = async (taskId: string, to: number) => {
    try {
      for (let i = 1; i <= to; i++) {
        await sleep(stepMs)
        const task = await store.getTask(taskId)
        if (task === null || task.status === 'cancelled') return
        await store.updateTaskStatus(taskId, 'working', `counted ${i} of ${to}`)
      }
      await store.storeTaskResult(taskId, 'completed', text(`counted to ${to}`))
    } catch {
      // Canceled (or expired) between the check and the write: the task has ended.
    }
  }

  // Waits for the answer to the task's question, posted by `answer` from any process.
  const answerOf = (taskId: string) =>
    new Promise<string>((resolve) => {
      const off = registry.subscribe(mcpSession(undefined), (type, payload) => {
        const sent = payload as { taskId?: string; message?: { content: { text?: string }[] } }
        if (type === 'task.message.sent' && sent.taskId === taskId) {
          off()
          resolve(sent.message?.content[0]?.text ?? '')
        }
      })
    })

  const deploy = async (taskId: string, target: string) => {
    try {
      const answered = answerOf(taskId)
      await store.updateTaskStatus(
        taskId,
        'input_required',
        `Deploy ${target}? Call answer with this task id and yes or no.`,
      )
      const answer = (await answered).trim().toLowerCase()
      await store.storeTaskResult(
        taskId,
        'completed',
        text(answer === 'yes' ? `deployed ${target}` : `did not deploy ${target}`),
      )
    } catch {
      // Canceled while waiting.
    }
  }

  server.experimental.tasks.registerToolTask(
    'count',
    {
      description: 'Counts slowly to a number, as a task',
      inputSchema: { to: z.number().int().min(1).max(1000) },
      execution: { taskSupport: 'required' },
    },
    {
      createTask: async ({ to }, extra) => {
        const task = await extra.taskStore.createTask({ ttl: 600_000, pollInterval: 100 })
        void count(task.taskId, to)
        return { task }
      },
      getTask: (_args, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: async (_args, extra) =>
        (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
    },
  )

  server.experimental.tasks.registerToolTask(
    'deploy',
    {
      description: 'Asks whether to deploy a target, then does what the answer says',
      inputSchema: { target: z.string().min(1).max(200) },
      execution: { taskSupport: 'required' },
    },
    {
      createTask: async ({ target }, extra) => {
        const task = await extra.taskStore.createTask({ ttl: 600_000, pollInterval: 100 })
        void deploy(task.taskId, target)
        return { task }
      },
      getTask: (_args, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: async (_args, extra) =>
        (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
    },
  )

  // Asks the client through MCP elicitation: the question waits in the task's
  // message queue until the client calls tasks/result, and the answer resumes the work.
  server.experimental.tasks.registerToolTask(
    'confirm',
    {
      description: 'Asks the user (by elicitation) to confirm an action, as a task',
      inputSchema: { action: z.string().min(1).max(200) },
      execution: { taskSupport: 'required' },
    },
    {
      createTask: async ({ action }, extra) => {
        // Elicitation needs the server object that keeps the pending question (a session's).
        const task = await extra.taskStore.createTask({ ttl: 600_000, pollInterval: 100 })
        void (async () => {
          try {
            // The client fetches the question with tasks/result once it sees input_required.
            await store.updateTaskStatus(task.taskId, 'input_required', `Really ${action}?`)
            const answer = await server.server.request(
              {
                method: 'elicitation/create',
                params: {
                  mode: 'form',
                  message: `Really ${action}?`,
                  requestedSchema: {
                    type: 'object',
                    properties: { confirm: { type: 'boolean' } },
                    required: ['confirm'],
                  },
                },
              },
              ElicitResultSchema,
              { relatedTask: { taskId: task.taskId } },
            )
            await store.updateTaskStatus(task.taskId, 'working')
            const yes = answer.action === 'accept' && answer.content?.confirm === true
            await store.storeTaskResult(
              task.taskId,
              'completed',
              text(yes ? `did ${action}` : `did not ${action}`),
            )
          } catch (error) {
            await store
              .storeTaskResult(task.taskId, 'failed', { ...text(String(error)), isError: true })
              .catch(() => {})
          }
        })()
        return { task }
      },
      getTask: (_args, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: async (_args, extra) =>
        (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
    },
  )

  server.registerTool(
    'answer',
    {
      description: 'Answers the question of a task that is input_required',
      inputSchema: { taskId: z.string().min(1).max(128), text: z.string().min(1).max(2000) },
    },
    async ({ taskId, text: answer }) => {
      const task = await store.getTask(taskId)
      if (task?.status !== 'input_required') {
        return { ...text(`task ${taskId} is not waiting for an answer`), isError: true }
      }
      await store.updateTaskStatus(taskId, 'working', 'answered')
      await registry.recordMessage(mcpSession(undefined), taskId, {
        direction: 'inbound',
        content: [{ type: 'text', text: answer }],
      })
      return text(`answered ${taskId}`)
    },
  )
  return server
}
