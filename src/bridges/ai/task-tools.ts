import { jsonSchema, type Tool, tool } from 'ai'
import type { TaskSupervisor } from '../../execution/task-supervisor.js'
import type { JsonValue } from '../../model/json.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { type TaskView, taskView } from './task-view.js'

/** Options of {@link taskTools}. */
export type TaskToolsOptions = {
  supervisor: TaskSupervisor
  registry: SessionTaskRegistry
  /** The chat session whose tasks the model manages (it sees no other). */
  sessionId: string
  /** The longest `task_wait` may wait. @default 30000 */
  maxWaitMs?: number | undefined
  /**
   * A person approves each answer the model gives a task, through the SDK's
   * tool-approval flow (`needsApproval`), before it is sent; a denied answer
   * is not sent and the task keeps waiting. @default false
   */
  approveAnswers?: boolean | undefined
}

/** What a task tool answers when it cannot do what was asked. */
export type TaskToolRefusal = { error: string }

const TASK_ID = { type: 'string', description: 'The task id, as a background tool returned it' }

/**
 * Tools for the model to manage its session's tasks: `task_status` (one
 * task, or all that are not finished), `task_cancel`, `task_answer` (the
 * answer to a task's question: text, or a JSON object of the fields its
 * `expected` schema asks for) and `task_wait` (up to `maxWaitMs`). A task
 * of another session is answered as unknown.
 */
export function taskTools(options: TaskToolsOptions): {
  task_status: Tool<{ taskId?: string }, TaskView | { tasks: TaskView[] } | TaskToolRefusal>
  task_cancel: Tool<{ taskId: string }, TaskView | TaskToolRefusal>
  task_answer: Tool<
    { taskId: string; answer: string | { [key: string]: JsonValue } },
    (TaskView & { delivered: boolean; why?: string }) | TaskToolRefusal
  >
  task_wait: Tool<
    { taskId: string; seconds?: number },
    (TaskView & { waiting: boolean }) | TaskToolRefusal
  >
} {
  const { supervisor, registry, sessionId } = options
  const maxWaitMs = options.maxWaitMs ?? 30_000
  const unknown = (taskId: string): TaskToolRefusal => ({
    error: `no task '${taskId}' in this conversation`,
  })
  const read = (taskId: string) => registry.get(sessionId, taskId).catch(() => undefined)

  return {
    task_status: tool({
      description: 'Shows one background task, or every one that is not finished yet',
      inputSchema: jsonSchema<{ taskId?: string }>({
        type: 'object',
        properties: { taskId: TASK_ID },
        additionalProperties: false,
      }),
      execute: async ({ taskId }) => {
        if (taskId === undefined) {
          const all = await registry.list(sessionId)
          return { tasks: all.filter((t) => !isTerminalState(t.state)).map(taskView) }
        }
        const task = await read(taskId)
        return task === undefined ? unknown(taskId) : taskView(task)
      },
    }),
    task_cancel: tool({
      description: 'Cancels a background task',
      inputSchema: jsonSchema<{ taskId: string }>({
        type: 'object',
        properties: { taskId: TASK_ID },
        required: ['taskId'],
        additionalProperties: false,
      }),
      execute: async ({ taskId }) => {
        if ((await read(taskId)) === undefined) return unknown(taskId)
        const task = await supervisor.cancel(sessionId, taskId)
        return task === undefined ? unknown(taskId) : taskView(task)
      },
    }),
    task_answer: tool({
      description: "Answers a background task's question (see its question.expected for the shape)",
      ...(options.approveAnswers === true ? { needsApproval: true } : {}),
      inputSchema: jsonSchema<{ taskId: string; answer: string | { [key: string]: JsonValue } }>({
        type: 'object',
        properties: {
          taskId: TASK_ID,
          answer: {
            description: 'Text, or a JSON object with the fields the question expects',
            anyOf: [{ type: 'string' }, { type: 'object' }],
          },
        },
        required: ['taskId', 'answer'],
        additionalProperties: false,
      }),
      execute: async ({
        taskId,
        answer,
      }): Promise<(TaskView & { delivered: boolean; why?: string }) | TaskToolRefusal> => {
        if (
          typeof answer !== 'string' &&
          (typeof answer !== 'object' || answer === null || Array.isArray(answer))
        ) {
          return { error: 'answer must be text or a JSON object' }
        }
        const task = await read(taskId)
        if (task === undefined) return unknown(taskId)
        const question = task.state === 'awaiting_input' ? task.inputRequest : undefined
        if (question === undefined)
          return { error: `task '${taskId}' is ${task.state}, not asking anything` }
        const { delivery } = await supervisor.message(sessionId, taskId, {
          ...(typeof answer === 'string'
            ? { text: answer }
            : { content: [{ type: 'data' as const, data: answer }] }),
          inReplyTo: question.id,
        })
        const after = (await read(taskId)) ?? task
        return delivery === 'delivered'
          ? { ...taskView(after), delivered: true }
          : { ...taskView(after), delivered: false, why: delivery.failed }
      },
    }),
    task_wait: tool({
      description: 'Waits a little for a background task to finish or to ask something',
      inputSchema: jsonSchema<{ taskId: string; seconds?: number }>({
        type: 'object',
        properties: {
          taskId: TASK_ID,
          seconds: {
            type: 'number',
            minimum: 1,
            maximum: Math.max(1, Math.floor(maxWaitMs / 1000)),
          },
        },
        required: ['taskId'],
        additionalProperties: false,
      }),
      execute: async ({ taskId, seconds }) => {
        if ((await read(taskId)) === undefined) return unknown(taskId)
        // The SDK does not check inputs against a plain JSON schema: a model's odd value is taken as 5.
        const asked = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : 5
        const ms = Math.min(maxWaitMs, Math.max(1, Math.round(asked * 1000)))
        const { task, timedOut } = await supervisor.wait(sessionId, taskId, {
          until: 'settled',
          timeoutMs: ms,
        })
        return { ...taskView(task), waiting: timedOut }
      },
    }),
  }
}
