import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  ErrorCode,
  type GetTaskResult,
  McpError,
  type Progress,
  RELATED_TASK_META_KEY,
  ResultSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { pause, untilAborted, withSignal } from '../../execution/abort.js'
import type { TaskExecutionContext, TaskExecutor } from '../../execution/executor.js'
import {
  RemoteFollower,
  type RemoteTurnState,
  type RemoteTurnSteps,
} from '../../execution/remote-follower.js'
import { ValidationError } from '../../model/errors.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask, TaskMessage, TaskProgress } from '../../model/schemas.js'
import { elicitResultOf } from './elicitation.js'
import { elicitationRequestId, McpQuestions, questionSchema } from './questions.js'

/** What a task run by {@link mcpClientExecutor} calls, in `spec`. */
export type McpClientSpec = {
  /** The tool's name. */
  tool: string
  /** The tool's arguments. */
  arguments?: { [key: string]: JsonValue }
  /** The remote task's time to live (ms), asked of the server. */
  ttlMs?: number
}

/** Options of {@link mcpClientExecutor}. */
export type McpClientExecutorOptions = {
  /** A connected SDK client, or a factory; it must declare the `elicitation` capability to answer questions. */
  client: Client | ((task: SessionTask) => Client | Promise<Client>)
  /** The task kind. @default 'mcp_tool' */
  kind?: string | undefined
  /** Between two polls of a remote task. @default the server's `pollInterval`, else 1000 */
  pollIntervalMs?: number | undefined
  /** Between two heartbeats of a followed task. @default 30000 */
  heartbeatMs?: number | undefined
  /** Failed polls in a row before the task fails `unreachable`. @default 5 */
  retries?: number | undefined
  /** How long `cancel` waits for the remote task to end. @default 5000 */
  cancelWaitMs?: number | undefined
  /** A result whose JSON is longer fails the task `invalid_remote`. @default 4194304 */
  maxResultChars?: number | undefined
}

const TERMINAL: readonly string[] = ['completed', 'failed', 'cancelled']

const specOf = (task: SessionTask): Partial<McpClientSpec> => {
  const spec = task.spec
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec)
    ? (spec as Partial<McpClientSpec>)
    : {}
}

// Connection failures that happen before a request leaves this process.
const UNSENT_CODES: ReadonlySet<unknown> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])

/** True when `error` says the request never reached the server (so sending it again is safe). */
export function neverSent(error: unknown): boolean {
  if (error instanceof Error && error.message === 'Not connected') return true
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause
  return UNSENT_CODES.has(cause?.code)
}

/** True for a failure worth another try: the connection, not the server's answer. */
export function isRetryableMcp(error: unknown): boolean {
  if (!(error instanceof McpError)) return true
  return error.code === ErrorCode.ConnectionClosed || error.code === ErrorCode.RequestTimeout
}

/** An MCP progress notification as record progress (whole steps, or percent of a fractional total). */
export function progressOf(p: Progress): TaskProgress | undefined {
  const { progress, total } = p
  if (!Number.isFinite(progress) || progress < 0) return undefined
  const label = typeof p.message === 'string' && p.message !== '' ? { label: p.message } : {}
  if (total !== undefined && Number.isFinite(total) && total > 0) {
    if (Number.isInteger(progress) && Number.isInteger(total)) {
      return { current: progress, total, ...label }
    }
    return { current: Math.round((progress / total) * 100), total: 100, unit: '%', ...label }
  }
  return { current: Math.round(progress), ...label }
}

const textOf = (result: CallToolResult) =>
  (result.content ?? [])
    .map((c) => (c.type === 'text' ? c.text : ''))
    .filter((t) => t !== '')
    .join('\n')

/**
 * Runs a tool call on a remote MCP server as a session task through an
 * `@modelcontextprotocol/sdk` 1.x client (kind `mcp_tool` by default).
 * On a server with task support the call is task-augmented: the remote
 * task id is kept in `links.remoteTaskId`, its status is polled (`working`
 * -> `running` with the status message as detail, progress notifications ->
 * progress), an elicitation becomes an input request (id
 * `mcp-elicitation-<remote id>`, the requested schema as `expected`) whose
 * answer, recorded from any process, is returned to the server by the
 * process that holds the question, the tool result becomes `result`, and
 * `cancel` is `tasks/cancel`; a task with a remote id is re-attachable and
 * is polled again. A server without task support gets a plain call, not
 * re-attachable. `error.kind`: `tool_error` (a result with `isError`),
 * `remote_failed`, `remote_error`, `unreachable`, `invalid_remote`.
 */
export function mcpClientExecutor(options: McpClientExecutorOptions): TaskExecutor {
  const kind = options.kind ?? 'mcp_tool'
  const maxResultChars = options.maxResultChars ?? 4 * 1024 * 1024
  const follower = new RemoteFollower({
    heartbeatMs: options.heartbeatMs ?? 30_000,
    retries: options.retries ?? 5,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    isRetryable: isRetryableMcp,
    // The SDK client checks every answer against its schema and throws the zod error.
    isInvalid: (error) =>
      error instanceof Error && Array.isArray((error as { issues?: unknown }).issues),
  })
  const questions = new McpQuestions()

  const clientOf = async (task: SessionTask): Promise<Client> => {
    const client =
      typeof options.client === 'function' ? await options.client(task) : options.client
    try {
      questions.wire(client)
    } catch {
      // A client without the elicitation capability cannot answer; the server's questions fail.
    }
    return client
  }

  const finish = async (ctx: TaskExecutionContext, answer: CallToolResult) => {
    // The related-task mark is the protocol's, not the tool's.
    const { [RELATED_TASK_META_KEY]: _related, ...meta } = answer._meta ?? {}
    const { _meta, ...rest } = answer
    const result: CallToolResult = Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest
    const json = JSON.stringify(result)
    if (json.length > maxResultChars) {
      const problem = `is ${json.length} characters of JSON, more than the limit of ${maxResultChars}`
      throw new ValidationError(`tool result ${problem}`, [{ path: ['result'], message: problem }])
    }
    const value = JSON.parse(json) as JsonValue
    if (result.isError === true) {
      await ctx.sink.update({
        state: 'failed',
        result: value,
        error: { kind: 'tool_error', message: textOf(result) || 'the tool reported an error' },
      })
    } else {
      await ctx.sink.update({ state: 'succeeded', result: value })
    }
  }

  /** The tool result of a remote task: one tasks/result call, shared while it lasts. */
  type Asking = { result?: Promise<CallToolResult> | undefined }
  const resultOf = (client: Client, remoteId: string, asking: Asking, signal?: AbortSignal) => {
    if (asking.result === undefined) {
      const get = (s?: AbortSignal) =>
        client.experimental.tasks.getTaskResult(
          remoteId,
          CallToolResultSchema,
          s === undefined ? {} : { signal: s },
        )
      const call = (signal === undefined ? get() : withSignal(signal, get)).then(
        (r) => r as CallToolResult,
      )
      asking.result = call
      // A failed call is made again at the next look.
      call.catch(() => {
        if (asking.result === call) asking.result = undefined
      })
    }
    return asking.result
  }

  // Mirrors one status; fetches the result at the end.
  const mirror = async (
    client: Client,
    ctx: TaskExecutionContext,
    status: GetTaskResult,
    asking: Asking,
    signal?: AbortSignal,
  ): Promise<RemoteTurnState> => {
    const detail = status.statusMessage
    switch (status.status as string) {
      case 'working':
        await ctx.sink.update({ state: 'running', ...(detail ? { stateDetail: detail } : {}) })
        return 'going'
      case 'input_required':
        // tasks/result hands over the server's queued questions, then waits for the end.
        void resultOf(client, status.taskId, asking, signal).catch(() => {})
        return 'going'
      case 'completed':
        await finish(ctx, await resultOf(client, status.taskId, asking, signal))
        return 'finished'
      case 'failed':
        await ctx.sink.update({
          state: 'failed',
          error: { kind: 'remote_failed', message: detail || 'the remote task failed' },
        })
        return 'finished'
      case 'cancelled':
        await ctx.sink.update({ state: 'canceled', ...(detail ? { stateDetail: detail } : {}) })
        return 'finished'
      default:
        throw new ValidationError(
          `remote task status ${JSON.stringify(status.status)} is not an MCP task status`,
          [{ path: ['status'], message: 'is not an MCP task status' }],
        )
    }
  }

  const run = (task: SessionTask, ctx: TaskExecutionContext) =>
    follower.run(task, ctx, async (signal) => {
      const client = await clientOf(task)
      const spec = specOf(task)
      let remoteId = task.links.remoteTaskId
      let interval = options.pollIntervalMs
      const asking: Asking = {}
      const follow = (id: string) => questions.follow(id, { task, ctx, signal })
      signal.addEventListener('abort', () => {
        if (remoteId !== undefined) questions.unfollow(remoteId, task)
      })
      if (remoteId !== undefined) follow(remoteId)
      const onprogress = (p: Progress) => {
        const progress = progressOf(p)
        if (progress !== undefined) void ctx.sink.progress(progress).catch(() => {})
      }
      // True when the last call failed before it reached the server.
      let unsent = false
      const steps: RemoteTurnSteps = {
        fail: (k, message) => ctx.sink.update({ state: 'failed', error: { kind: k, message } }),
        first: async () => {
          if (remoteId !== undefined) return 'going'
          const params = { name: spec.tool ?? '', arguments: spec.arguments ?? {} }
          const tasks = client.getServerCapabilities()?.tasks?.requests?.tools?.call !== undefined
          if (!tasks) {
            // No task support: one plain call, which a restart cannot resume
            // and which names no remote task (a cancel need not wait).
            follower.named(task)
            const result = await client.callTool(params, undefined, {
              signal,
              onprogress,
              resetTimeoutOnProgress: true,
            })
            await finish(ctx, result as CallToolResult)
            return 'finished'
          }
          let created: Awaited<ReturnType<typeof client.request>>
          try {
            created = await withSignal(signal, (s) =>
              client.request({ method: 'tools/call', params }, ResultSchema, {
                signal: s,
                onprogress,
                task: spec.ttlMs === undefined ? {} : { ttl: spec.ttlMs },
              }),
            )
          } catch (error) {
            unsent = neverSent(error)
            throw error
          }
          if (!('task' in created)) {
            // A server may run a tool without a task even when asked for one.
            await finish(ctx, CallToolResultSchema.parse(created))
            return 'finished'
          }
          const remote: GetTaskResult = CreateTaskResultSchema.parse(created).task
          // First: a worker that dies from here on is re-attached by this id.
          await ctx.sink.update({ links: { remoteTaskId: remote.taskId } })
          remoteId = remote.taskId
          follow(remote.taskId)
          follower.named(task)
          interval ??= remote.pollInterval ?? undefined
          return mirror(client, ctx, remote, asking, signal)
        },
        next: async () => {
          const id = remoteId
          if (id === undefined && unsent) {
            // The call never left this process: making it again cannot do the work twice.
            unsent = false
            await pause(interval ?? 1000, signal)
            return signal.aborted ? 'finished' : steps.first()
          }
          if (id === undefined) {
            // The call failed before its answer: it may have created a remote
            // task this client can never name, and a second call could do the work twice.
            await ctx.sink.update({
              state: 'failed',
              error: {
                kind: 'lost',
                message: 'the tool call may have reached the server, and its answer was lost',
              },
            })
            return 'finished'
          }
          await pause(interval ?? 1000, signal)
          if (signal.aborted) return 'finished'
          const status = await withSignal(signal, (s) =>
            client.experimental.tasks.getTask(id, { signal: s }),
          )
          interval ??= status.pollInterval ?? undefined
          return mirror(client, ctx, status, asking, signal)
        },
      }
      return steps
    })

  return {
    kind,
    canReattach: (task) => task.links.remoteTaskId !== undefined,
    async start(task, ctx) {
      // Running from here on: the reaper watches running tasks only.
      if (task.state === 'queued') {
        // With a heartbeat in the same write: a worker that dies before its first beat is reaped too.
        await ctx.sink.update({
          state: 'running',
          stateDetail: 'calling the remote tool',
          heartbeatAt: ctx.registry.now().toISOString(),
        })
      }
      await run(task, ctx)
    },
    async deliver(task: SessionTask, message: TaskMessage, ctx) {
      const remoteId = task.links.remoteTaskId
      const id = remoteId === undefined ? undefined : elicitationRequestId(remoteId)
      if (message.direction !== 'inbound' || id === undefined || message.inReplyTo !== id) {
        throw new Error('a remote MCP tool takes a message only as the answer to its elicitation')
      }
      // The answer is checked here against the newest question of that id;
      // the process that holds the question reads the answer from the registry.
      const schema = await questionSchema(ctx.registry, task, id)
      if (schema === undefined) throw new Error(`no question '${id}' is on record for this task`)
      // No check with the server here: the asking process takes the answer
      // as soon as it is recorded, so the server may already be working on it.
      elicitResultOf(message, schema)
    },
    async cancel(task, ctx) {
      // A call on its way may still create a remote task: wait for its id, then cancel it.
      await follower.whenNamed(task, options.cancelWaitMs ?? 5000)
      follower.stop(task)
      const reason = (ctx.signal.reason as { kind?: unknown } | undefined)?.kind
      const end = () =>
        reason === 'timeout'
          ? ctx.sink.update({
              state: 'failed',
              error: { kind: 'timeout', message: 'the remote task was canceled at its deadline' },
            })
          : ctx.sink.state('canceled')
      const remoteId = ((await ctx.registry.get(task.sessionId, task.id)) ?? task).links
        .remoteTaskId
      if (remoteId === undefined) return end()
      const client = await clientOf(task)
      // Every call of the cancel shares one bound: a server that never answers cannot hold it.
      const signal = AbortSignal.timeout(options.cancelWaitMs ?? 5000)
      try {
        await untilAborted(signal, client.experimental.tasks.cancelTask(remoteId, { signal }))
      } catch (error) {
        if (signal.aborted || isRetryableMcp(error)) throw error
      }
      const look = () =>
        untilAborted(signal, client.experimental.tasks.getTask(remoteId, { signal }))
      let status = await look()
      while (!TERMINAL.includes(status.status) && !signal.aborted) {
        await pause(50, signal)
        if (signal.aborted) break
        status = await look()
      }
      if (status.status === 'cancelled') return end()
      if (TERMINAL.includes(status.status)) await mirror(client, ctx, status, {})
    },
    async reconcile(task, ctx) {
      const remoteId = task.links.remoteTaskId
      if (remoteId === undefined) return
      const client = await clientOf(task)
      const status = await client.experimental.tasks.getTask(remoteId)
      if (status.status !== 'input_required') await mirror(client, ctx, status, {})
    },
  }
}
