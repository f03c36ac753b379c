import type { Message, StreamResponse, Task, TaskState } from '@a2a-js/sdk'
import { type Client, ClientFactory } from '@a2a-js/sdk/client'
import type { AgentExecutionEvent } from '@a2a-js/sdk/server'
import { pause, untilAborted } from '../../execution/abort.js'
import type { TaskExecutionContext, TaskExecutor } from '../../execution/executor.js'
import type { RemoteTurnState } from '../../execution/remote-follower.js'
import { RemoteFollower } from '../../execution/remote-follower.js'
import { ValidationError } from '../../model/errors.js'
import type { SessionTask, TaskMessage } from '../../model/schemas.js'
import { TASK_KIND_EXTERNAL_AGENT } from '../../model/state.js'
import { A2A_STATE, AUTH_REQUIRED_ID, historyMessage, INPUT_REQUIRED_ID } from './codec.js'
import { A2AEventWriter } from './event-writer.js'
import {
  eventOf,
  isRetryable,
  messageOf,
  remoteIdOf,
  requestOf,
  TERMINAL,
  textPart,
} from './remote-request.js'

/** Options of {@link a2aClientExecutor}. */
export type A2AClientExecutorOptions = {
  /** The SDK client of the remote agent, or a factory (say, one agent per task); or give `agentUrl`. */
  client?: Client | ((task: SessionTask) => Client | Promise<Client>) | undefined
  /** The agent's base URL (its card at `/.well-known/agent-card.json`), when no `client` is given. */
  agentUrl?: string | undefined
  /** Makes the client of `agentUrl`. @default new ClientFactory() */
  clientFactory?: ClientFactory | undefined
  /** The task kind. @default 'external_agent' */
  kind?: string | undefined
  /** Stream (send and resubscribe) or poll. @default the agent card's `capabilities.streaming` */
  streaming?: boolean | undefined
  /** Between two polls of a remote task. @default 1000 */
  pollIntervalMs?: number | undefined
  /** Between two heartbeats of a followed task. @default 30000 */
  heartbeatMs?: number | undefined
  /** Reconnects in a row (a dropped stream, a failed poll) before the task fails `unreachable`. @default 5 */
  retries?: number | undefined
  /** How long `cancel` waits for the remote task to end (every call of it included). @default 5000 */
  cancelWaitMs?: number | undefined
  /** The longest a request other than a stream may take (a poll, a lookup, a check). @default 30000 */
  requestTimeoutMs?: number | undefined
  /** An artifact whose JSON grows past this fails the task `invalid_remote`. @default 4194304 */
  maxArtifactChars?: number | undefined
  /** The A2A tenant of every request. @default '' */
  tenant?: string | undefined
}

/**
 * Runs a remote A2A agent as a session task through an `@a2a-js/sdk` client
 * (kind `external_agent` by default). `start` sends `spec.text` (message id
 * `<task id>-request`, context `spec.contextId` or the session id), streamed
 * when the agent streams, else polled; the remote task id is kept in
 * `links.remoteTaskId` from its first event. Statuses, messages and
 * artifacts are mirrored as by {@link a2aExecutor}; `input-required` and
 * `auth-required` become input requests whose answer goes back as a
 * follow-up on the same remote task; `cancel` is the remote cancel. Always
 * re-attachable: a re-attached task follows its remote task again, or, when
 * the worker died before the agent's first reply, looks for the request
 * among the agent's tasks of that context and sends it only if it is not
 * there. Remote failures end the task `failed` with `error.kind`
 * `remote_failed`, `rejected`, `remote_error` (an A2A error answer),
 * `unreachable`, `lost` or `invalid_remote` (a value the record cannot hold).
 */
export function a2aClientExecutor(options: A2AClientExecutorOptions): TaskExecutor {
  const kind = options.kind ?? TASK_KIND_EXTERNAL_AGENT
  const tenant = options.tenant ?? ''
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000
  const cancelWaitMs = options.cancelWaitMs ?? 5000
  // A request that would otherwise hang holds the run forever, heartbeating.
  const timed = (signal?: AbortSignal) => {
    const timeout = AbortSignal.timeout(requestTimeoutMs)
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout])
  }
  const follower = new RemoteFollower({
    heartbeatMs: options.heartbeatMs ?? 30_000,
    retries: options.retries ?? 5,
    pollIntervalMs,
    isRetryable,
  })
  const given = options.client
  const agentUrl = options.agentUrl
  if ((given === undefined) === (agentUrl === undefined)) {
    const problem = 'give exactly one of client and agentUrl'
    throw new ValidationError(`invalid A2AClientExecutorOptions: client: ${problem}`, [
      { path: ['client'], message: problem },
    ])
  }
  // One client for the URL, made at first use (a failed attempt is made again).
  let made: Promise<Client> | undefined
  const fromUrl = (url: string) => {
    made ??= (options.clientFactory ?? new ClientFactory()).createFromUrl(url)
    made.catch(() => {
      made = undefined
    })
    return made
  }
  const clientOf = async (task: SessionTask): Promise<Client> =>
    given === undefined
      ? fromUrl(agentUrl as string)
      : typeof given === 'function'
        ? given(task)
        : given
  const streamingOf = async (client: Client): Promise<boolean> =>
    options.streaming ??
    (await client.getAgentCard({ signal: timed() })).capabilities?.streaming === true

  /** Everything one run needs to talk to its remote task. */
  type Turn = {
    client: Client
    streaming: boolean
    writer: A2AEventWriter
    remoteId: string | undefined
    see: (event: AgentExecutionEvent) => Promise<RemoteTurnState>
  }
  // `follow`: the turn streams or polls, so the agent card is read (not for a cancel or a check).
  const turnOf = async (
    task: SessionTask,
    ctx: TaskExecutionContext,
    follow = false,
  ): Promise<Turn> => {
    const client = await clientOf(task)
    const writer = new A2AEventWriter(task, ctx, {
      failedKind: 'remote_failed',
      unknownState: 'fail',
      maxArtifactChars: options.maxArtifactChars ?? 4 * 1024 * 1024,
    })
    const turn: Turn = {
      client,
      streaming: follow && (await streamingOf(client)),
      writer,
      remoteId: task.links.remoteTaskId,
      see: async (event) => {
        const id = remoteIdOf(event)
        if (turn.remoteId === undefined && id !== undefined) {
          // First: a worker that dies from here on is re-attached by this id.
          await ctx.sink.update({ links: { remoteTaskId: id } })
          turn.remoteId = id
          follower.named(task)
        }
        return writer.write(event)
      },
    }
    return turn
  }

  // Reads a stream until the turn is no longer going; says where it stands.
  // A stream left early is closed in the background: its clean-up may wait
  // on the server, and the follower aborts the request when the turn ends.
  const read = async (
    turn: Turn,
    stream: AsyncGenerator<StreamResponse>,
    acked?: () => void,
  ): Promise<RemoteTurnState> => {
    let seen = false
    for (;;) {
      const item = await stream.next()
      // A stream that ends before saying anything is a failure to retry, not a step taken.
      if (item.done === true && !seen) throw new Error('the stream ended before its first event')
      if (item.done === true) return 'going'
      seen = true
      acked?.()
      const event = eventOf(item.value)
      if (event === undefined) continue
      const state = await turn.see(event)
      if (state !== 'going') {
        void stream.return(undefined).catch(() => {})
        return state
      }
    }
  }

  const send = async (turn: Turn, message: Message, signal: AbortSignal, acked?: () => void) => {
    const request = { tenant, message, configuration: undefined, metadata: {} }
    if (turn.streaming) {
      return read(turn, turn.client.sendMessageStream(request, { signal }), acked)
    }
    const configuration = {
      acceptedOutputModes: [],
      taskPushNotificationConfig: undefined,
      returnImmediately: true,
    }
    const result = await turn.client.sendMessage(
      { ...request, configuration },
      { signal: timed(signal) },
    )
    acked?.()
    return turn.see(
      'messageId' in result ? { kind: 'message', data: result } : { kind: 'task', data: result },
    )
  }

  // One look at the remote task, then its stream (or one poll interval).
  const watch = async (turn: Turn, remoteId: string, signal: AbortSignal) => {
    const task = await turn.client.getTask({ tenant, id: remoteId }, { signal: timed(signal) })
    const state = await turn.see({ kind: 'task', data: task })
    if (state !== 'going' || !turn.streaming) return state
    return read(turn, turn.client.resubscribeTask({ tenant, id: remoteId }, { signal }))
  }

  // The agent's task that holds the request, if the request ever reached it.
  const find = async (turn: Turn, task: SessionTask, signal: AbortSignal) => {
    const request = requestOf(task)
    let pageToken = ''
    for (let page = 0; page < 20; page++) {
      const list = await turn.client.listTasks(
        {
          tenant,
          contextId: request.contextId,
          status: 0 as TaskState,
          pageSize: 100,
          pageToken,
          statusTimestampAfter: undefined,
          includeArtifacts: false,
        },
        { signal: timed(signal) },
      )
      const found = list.tasks.find((t) => t.history.some((m) => m.messageId === request.messageId))
      if (found !== undefined) return found.id
      if (list.nextPageToken === '') return undefined
      pageToken = list.nextPageToken
    }
    return undefined
  }

  const run = (
    task: SessionTask,
    ctx: TaskExecutionContext,
    first: Message | undefined,
    acknowledge = false,
  ) =>
    follower.run(
      task,
      ctx,
      async (signal, acked) => {
        const turn = await turnOf(task, ctx, true)
        // Without a remote id the agent never named a task for the request:
        // look for it among the agent's tasks, and send it only if absent.
        const findOrSend = async (): Promise<RemoteTurnState> => {
          let found: string | undefined
          try {
            found = await find(turn, task, signal)
          } catch (error) {
            if (isRetryable(error)) throw error
            await turn.writer.fail(
              'lost',
              `the request may have reached the agent, and its task cannot be found: ${messageOf(error)}`,
            )
            return 'finished'
          }
          if (found === undefined) return send(turn, requestOf(task), signal)
          await ctx.sink.update({ links: { remoteTaskId: found } })
          turn.remoteId = found
          follower.named(task)
          return 'going'
        }
        return {
          fail: (kind, message) => turn.writer.fail(kind, message),
          first: async () => {
            if (first !== undefined) return send(turn, first, signal, acked)
            return turn.remoteId === undefined ? findOrSend() : 'going'
          },
          next: async () => {
            await pause(pollIntervalMs, signal)
            if (signal.aborted) return 'finished'
            const remoteId = turn.remoteId
            return remoteId === undefined ? findOrSend() : watch(turn, remoteId, signal)
          },
        }
      },
      acknowledge,
    )

  return {
    kind,
    canReattach: () => true,
    async start(task, ctx) {
      const fresh = task.links.remoteTaskId === undefined && task.attempt === 1
      // Running from here on, whatever the remote says: the reaper watches
      // running tasks only, and a worker may die before the agent replies.
      if (task.state === 'queued') {
        // With a heartbeat in the same write: a worker that dies before its first beat is reaped too.
        await ctx.sink.update({
          state: 'running',
          stateDetail: 'sending to the remote agent',
          heartbeatAt: ctx.registry.now().toISOString(),
        })
      }
      await run(task, ctx, fresh ? requestOf(task) : undefined)
    },
    async deliver(task: SessionTask, message: TaskMessage, ctx) {
      const answer =
        message.inReplyTo === INPUT_REQUIRED_ID ||
        message.inReplyTo === AUTH_REQUIRED_ID ||
        task.state === 'awaiting_input'
      const remoteId = task.links.remoteTaskId
      if (message.direction !== 'inbound' || !answer || remoteId === undefined) {
        throw new Error(
          'a remote A2A agent takes a message only as the answer to its input request',
        )
      }
      // Only a remote task that waits takes an answer: a second answer to a
      // request already answered (the record cannot tell) is refused here.
      const check = await turnOf(task, ctx)
      const now = await check.client.getTask({ tenant, id: remoteId }, { signal: timed() })
      const waiting = now.status?.state
      if (waiting !== A2A_STATE.inputRequired && waiting !== A2A_STATE.authRequired) {
        throw new Error(
          `the remote task is not waiting for an answer (its state is ${String(waiting)})`,
        )
      }
      const kept = historyMessage(message)
      const text = message.content
        .map((p) => (p.type === 'text' ? p.text : ''))
        .filter((t) => t !== '')
        .join('\n')
      const followUp: Message = {
        messageId: message.id,
        role: 1,
        taskId: remoteId,
        contextId: '',
        parts: kept?.parts ?? [textPart(text)],
        metadata: {},
        extensions: [],
        referenceTaskIds: [],
      }
      // Resolves once the agent took the answer; the rest is followed in the background.
      await run(task, ctx, followUp, true)
    },
    async cancel(task, ctx) {
      // A request on its way may still create a remote task: wait for its name, then cancel it.
      await follower.whenNamed(task, cancelWaitMs)
      follower.stop(task)
      const reason = (ctx.signal.reason as { kind?: unknown } | undefined)?.kind
      const current = (await ctx.registry.get(task.sessionId, task.id)) ?? task
      const remoteId = current.links.remoteTaskId
      const end = () =>
        reason === 'timeout'
          ? ctx.sink.update({
              state: 'failed',
              error: { kind: 'timeout', message: 'the remote task was canceled at its deadline' },
            })
          : ctx.sink.state('canceled')
      if (remoteId === undefined) return end()
      const turn = await turnOf(current, ctx)
      // Every call of the cancel shares one bound: a remote that never answers cannot hold it.
      const signal = AbortSignal.timeout(cancelWaitMs)
      let remote: Task
      try {
        remote = await untilAborted(
          signal,
          turn.client.cancelTask({ tenant, id: remoteId, metadata: {} }, { signal }),
        )
      } catch (error) {
        if (signal.aborted || isRetryable(error)) throw error
        // Not cancelable (say, it just finished): mirror where it is.
        remote = await untilAborted(
          signal,
          turn.client.getTask({ tenant, id: remoteId }, { signal }),
        )
      }
      while (!TERMINAL.includes(remote.status?.state ?? 0) && !signal.aborted) {
        await pause(Math.min(pollIntervalMs, 250), signal)
        if (signal.aborted) break
        remote = await untilAborted(
          signal,
          turn.client.getTask({ tenant, id: remoteId }, { signal }),
        )
      }
      const state = remote.status?.state ?? 0
      if (state === A2A_STATE.canceled) return end()
      // It ended otherwise (or not yet: the supervisor's grace ends it).
      if (TERMINAL.includes(state)) await turn.see({ kind: 'task', data: remote })
    },
    async reconcile(task, ctx) {
      const remoteId = task.links.remoteTaskId
      if (remoteId === undefined) return
      const turn = await turnOf(task, ctx)
      const remote = await turn.client.getTask({ tenant, id: remoteId }, { signal: timed() })
      await turn.see({ kind: 'task', data: remote })
    },
  }
}
