import type { Message, Part, Task, TaskState } from '@a2a-js/sdk'
import {
  type AgentExecutionEvent,
  type AgentExecutor,
  DefaultExecutionEventBus,
  RequestContext,
  ServerCallContext,
} from '@a2a-js/sdk/server'
import type { TaskExecutionContext, TaskExecutor } from '../../execution/executor.js'
import type { SessionTask, TaskMessage } from '../../model/schemas.js'
import { A2A_STATE, AUTH_REQUIRED_ID, a2aTask, historyMessage, INPUT_REQUIRED_ID } from './codec.js'
import { A2AEventWriter } from './event-writer.js'

/** What a task run by {@link a2aExecutor} asks of its agent, in `spec`. */
export type A2AExecutorSpec = {
  /** The user's request as text (used when `message` is absent). */
  text?: string
  /** The A2A context id handed to the agent. @default the task's session id */
  contextId?: string
}

/** Options of {@link a2aExecutor}. */
export type A2AExecutorOptions = {
  /** The task kind. @default 'a2a' */
  kind?: string | undefined
  /** The server call context the agent sees (user, tenant). @default an anonymous one */
  callContext?: ((task: SessionTask) => ServerCallContext) | undefined
}

const textPart = (value: string): Part => ({
  content: { $case: 'text', value },
  mediaType: 'text/plain',
  filename: '',
  metadata: {},
})

const ENDS: readonly number[] = [
  A2A_STATE.completed,
  A2A_STATE.failed,
  A2A_STATE.canceled,
  A2A_STATE.rejected,
  A2A_STATE.inputRequired,
  A2A_STATE.authRequired,
]

// True for an event after which the turn has nothing left to cancel.
function endsTurn(event: AgentExecutionEvent): boolean {
  if (event.kind === 'message') return true
  const state =
    event.kind === 'statusUpdate' || event.kind === 'task' ? event.data.status?.state : undefined
  return state !== undefined && ENDS.includes(state)
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

const specOf = (task: SessionTask): A2AExecutorSpec => {
  const spec = task.spec
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec)
    ? (spec as A2AExecutorSpec)
    : {}
}

const contextOf = (task: SessionTask) => specOf(task).contextId ?? task.sessionId

function userMessage(task: SessionTask, id: string, text: string): Message {
  return {
    messageId: id,
    role: 1,
    taskId: task.id,
    contextId: contextOf(task),
    parts: [textPart(text)],
    metadata: {},
    extensions: [],
    referenceTaskIds: [],
  }
}

/**
 * Runs an `@a2a-js/sdk` `AgentExecutor` as a session-tasks executor kind,
 * so a supervisor gives an A2A agent its claims, deadlines, cancel and
 * input requests. `start` sends the task's request (`spec.text`) to the
 * agent; the agent's events become the record: `working` -> `running`,
 * `input-required`/`auth-required` -> an input request (ids
 * `a2a-input-required`/`a2a-auth-required`) whose answer is sent to the
 * agent as the next turn, `completed`/`failed`/`canceled`/`rejected` -> the
 * terminal state with the status message as `result`, status messages ->
 * outbound messages, artifact updates (appends merged) -> artifacts by id.
 * An agent that throws fails the task with `error.kind` `agent_error`.
 * Not re-attachable: an agent in a process that died cannot be resumed.
 */
export function a2aExecutor(agent: AgentExecutor, options: A2AExecutorOptions = {}): TaskExecutor {
  const kind = options.kind ?? 'a2a'
  const callContext = options.callContext ?? (() => new ServerCallContext())
  // The bus of each task's current turn, so a cancel reaches it.
  const turns = new Map<string, DefaultExecutionEventBus>()
  const cancels = new WeakMap<DefaultExecutionEventBus, () => Promise<boolean>>()
  const keyOf = (task: SessionTask) => `${task.sessionId}\u0000${task.id}`

  // One turn: the agent's execute with this message, its events written in order.
  const turn = (task: SessionTask, message: Message, ctx: TaskExecutionContext, prior?: Task) => {
    const bus = new DefaultExecutionEventBus()
    const key = keyOf(task)
    turns.set(key, bus)
    const writer = new A2AEventWriter(task, ctx, {
      failedKind: 'agent_failed',
      unknownState: 'ignore',
    })
    let chain: Promise<void> = Promise.resolve()
    const enqueue = (work: () => Promise<void>) => {
      // A write the registry refuses (a value it cannot hold) fails the task.
      chain = chain
        .then(work)
        .catch((error: unknown) =>
          ctx.sink
            .update({ state: 'failed', error: { kind: 'agent_error', message: errorText(error) } })
            .catch(() => {}),
        )
    }
    let over = false
    bus.on('event', (event) => {
      over ||= endsTurn(event)
      enqueue(() => writer.write(event).then(() => {}))
    })
    // The supervisor both aborts the signal and calls cancel: the agent hears it once per turn.
    // A turn that already ended (its end ends the run, and the supervisor
    // then aborts the signal) is not canceled.
    let told = false
    const cancelTurn = async (): Promise<boolean> => {
      if (over) return false
      if (!told) {
        told = true
        await agent.cancelTask(task.id, bus)
      }
      return true
    }
    cancels.set(bus, cancelTurn)
    const onAbort = () => void cancelTurn().catch(() => {})
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    const request = { tenant: '', message, metadata: {} } as ConstructorParameters<
      typeof RequestContext
    >[0]
    const context = new RequestContext(request, task.id, contextOf(task), callContext(task), prior)
    // Promise.resolve().then: an execute that throws before returning a promise still ends the turn.
    void Promise.resolve()
      .then(() => agent.execute(context, bus))
      .catch((error: unknown) =>
        enqueue(() =>
          ctx.sink.update({
            state: 'failed',
            error: { kind: 'agent_error', message: errorText(error) },
          }),
        ),
      )
      .finally(() => {
        ctx.signal.removeEventListener('abort', onAbort)
        void chain.then(() => {
          if (turns.get(key) === bus) turns.delete(key)
        })
      })
  }

  return {
    kind,
    async start(task, ctx) {
      await ctx.sink.state('running')
      turn(task, userMessage(task, `${task.id}-request`, specOf(task).text ?? ''), ctx)
    },
    async deliver(task: SessionTask, message: TaskMessage, ctx) {
      const answer =
        message.inReplyTo === INPUT_REQUIRED_ID ||
        message.inReplyTo === AUTH_REQUIRED_ID ||
        task.state === 'awaiting_input'
      if (message.direction !== 'inbound' || !answer) {
        throw new Error('an A2A agent takes a message only as the answer to its input request')
      }
      const next = historyMessage(message) ?? userMessage(task, message.id, storedText(message))
      const prior = a2aTask(task, contextOf(task), [])
      prior.status = {
        state: A2A_STATE.inputRequired as TaskState,
        message: prior.status?.message,
        timestamp: prior.status?.timestamp,
      }
      turn(task, { ...next, role: 1, taskId: task.id, contextId: contextOf(task) }, ctx, prior)
    },
    async cancel(task, ctx) {
      const bus = turns.get(keyOf(task))
      const cancelTurn = bus === undefined ? undefined : cancels.get(bus)
      // No turn running (the agent waits for an answer): the task ends here.
      if (cancelTurn === undefined || !(await cancelTurn())) await ctx.sink.state('canceled')
    },
  }
}

const storedText = (m: TaskMessage) =>
  m.content
    .map((p) => (p.type === 'text' ? p.text : ''))
    .filter((t) => t !== '')
    .join('\n')
