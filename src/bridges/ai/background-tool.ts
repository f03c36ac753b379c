import { type Tool, type ToolSet, tool } from 'ai'
import type { TaskExecutor } from '../../execution/executor.js'
import type { TaskSupervisor } from '../../execution/task-supervisor.js'
import type { WakeQueue } from '../../execution/wake-queue.js'
import { ValidationError } from '../../model/errors.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask } from '../../model/schemas.js'
import { isTerminalState, type TaskWakePolicy } from '../../model/state.js'
import { toWellFormed } from '../../model/strings.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { type TaskView, taskView } from './task-view.js'

/** The task kind {@link aiToolExecutor} runs by default. */
export const AI_TOOL_KIND = 'ai_tool'

/** What a background tool call stores in the task's `spec`. */
export type AiToolSpec = { tool: string; input: JsonValue }

/** Options of {@link backgroundTools}. */
export type BackgroundToolsOptions = {
  supervisor: TaskSupervisor
  /** The chat session the model's calls spawn tasks in. */
  sessionId: string
  /** The task kind, as registered for {@link aiToolExecutor}. @default 'ai_tool' */
  kind?: string | undefined
  /** Wait this long for a quick call to finish and return its result at once. @default 0 */
  foregroundMs?: number | undefined
  /**
   * Queue the task in this registry instead of starting it here: a
   * supervisor with `dispatch: 'shared'` in another process (the worker,
   * with {@link aiToolExecutor}) claims and runs it.
   */
  enqueue?: SessionTaskRegistry | undefined
  /**
   * The wake queue given to {@link wakeSteps}: a call answered with its
   * outcome in the foreground drops the task's terminal wake from it, so the
   * model is not told twice.
   */
  queue?: WakeQueue | undefined
  /** When the task wakes the model (see {@link wakeSteps}). @default 'on_terminal' (its end; 'on_activity' adds its questions and messages) */
  wakePolicy?: TaskWakePolicy | undefined
}

/** What a background tool takes of a tool: its description and input schema (its code may run elsewhere). */
export type ToolShape = Pick<Tool<unknown, unknown>, 'inputSchema' | 'description'>

/** What the model gets back from a background tool: the task, or its outcome when it was quick. */
export type BackgroundToolOutput = TaskView & { note?: string }

const NOTE =
  'Runs in the background. You will be told when it finishes or needs an answer; task_status shows it now.'

// What a tool threw, as a message the registry can hold: any value (even
// one whose toString throws), well-formed, at most 2000 characters.
function messageOf(error: unknown): string {
  let text: string
  try {
    text = error instanceof Error ? error.message : String(error)
  } catch {
    text = 'the tool threw a value that cannot be printed'
  }
  return toWellFormed(text).slice(0, 2000) || 'the tool failed'
}

// A value as JSON the registry can hold (undefined as null); throws on what JSON cannot carry.
const asJson = (value: unknown): JsonValue =>
  value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue)

const specOf = (task: SessionTask): Partial<AiToolSpec> => {
  const spec = task.spec
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec)
    ? (spec as Partial<AiToolSpec>)
    : {}
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

/**
 * Runs AI SDK tools' `execute` as session tasks (kind `ai_tool` by
 * default): `spec` is `{ tool, input }`, the value it returns becomes
 * `result` (for a tool that yields preliminary results, each is posted as
 * a message and the last is the result), a throw fails the task with
 * `error.kind: 'tool_error'`, and the run's abort signal is the call's
 * `abortSignal`, so a cancel or a deadline reaches the tool. Not
 * re-attachable: the tool's code lives in this process.
 */
export function aiToolExecutor(tools: ToolSet, options: { kind?: string } = {}): TaskExecutor {
  const kind = options.kind ?? AI_TOOL_KIND
  return {
    kind,
    async start(task, ctx) {
      const { tool: name, input } = specOf(task)
      const chosen =
        typeof name === 'string' && Object.hasOwn(tools, name) ? tools[name] : undefined
      const execute = chosen?.execute
      if (execute === undefined) {
        await ctx.sink.update({
          state: 'failed',
          error: { kind: 'no_such_tool', message: `no tool '${String(name)}' runs here` },
        })
        return
      }
      await ctx.sink.state('running')
      void (async () => {
        try {
          let value: unknown = await execute(input, {
            toolCallId: task.id,
            messages: [],
            abortSignal: ctx.signal,
            context: {},
          } as unknown as Parameters<typeof execute>[1])
          if (isAsyncIterable(value)) {
            let last: unknown
            for await (const part of value) {
              // A canceled run stops reading (which also ends the iterator).
              if (ctx.signal.aborted) return
              last = part
              await ctx.sink.post({ content: [{ type: 'data', data: asJson(part) }] })
            }
            value = last
          }
          if (ctx.signal.aborted) return
          await ctx.sink.update({ state: 'succeeded', result: asJson(value) })
        } catch (error) {
          // A cancel or deadline aborted the tool: `cancel` ends the task.
          if (ctx.signal.aborted) return
          const failed = (message: string) =>
            ctx.sink.update({ state: 'failed', error: { kind: 'tool_error', message } })
          // Should the registry refuse the message still, the task fails all the same.
          await failed(messageOf(error)).catch(() => failed('the tool failed'))
        }
      })().catch(() => {
        // Only a registry that is gone gets here: the reaper or a deadline ends the task.
      })
    },
    async cancel(_task, ctx) {
      const reason = (ctx.signal.reason as { kind?: unknown } | undefined)?.kind
      if (reason === 'timeout') {
        await ctx.sink.update({
          state: 'failed',
          error: { kind: 'timeout', message: 'the tool was stopped at its deadline' },
        })
        return
      }
      await ctx.sink.state('canceled')
    },
  }
}

/**
 * The same tools for the model, each call spawning a task (run by
 * {@link aiToolExecutor}) and answering at once with a small handle: the
 * task id, its state and a note that it runs in the background. With
 * `foregroundMs`, a call that ends within it answers with its outcome.
 */
export function backgroundTools<T extends { [name: string]: ToolShape }>(
  tools: T,
  options: BackgroundToolsOptions,
): { [K in keyof T]: Tool<unknown, BackgroundToolOutput> } {
  const { supervisor, sessionId } = options
  const kind = options.kind ?? AI_TOOL_KIND
  const foregroundMs = options.foregroundMs ?? 0
  if (!Number.isSafeInteger(foregroundMs) || foregroundMs < 0) {
    const problem = 'must be a whole number of milliseconds, 0 or more'
    throw new ValidationError(`invalid BackgroundToolsOptions: foregroundMs: ${problem}`, [
      { path: ['foregroundMs'], message: problem },
    ])
  }
  const out: { [name: string]: Tool<unknown, BackgroundToolOutput> } = {}
  for (const [name, original] of Object.entries(tools)) {
    out[name] = tool({
      description: original.description,
      inputSchema: original.inputSchema,
      execute: async (input: unknown): Promise<BackgroundToolOutput> => {
        const create = {
          sessionId,
          kind,
          displayName: name,
          spec: { tool: name, input: asJson(input) },
          wakePolicy: options.wakePolicy ?? 'on_terminal',
        } as const
        let task =
          options.enqueue === undefined
            ? await supervisor.spawn(create)
            : await options.enqueue.create(create)
        if (foregroundMs > 0) {
          task = (
            await supervisor.wait(sessionId, task.id, { until: 'settled', timeoutMs: foregroundMs })
          ).task
        }
        const view = taskView(task)
        if (!isTerminalState(task.state)) return { ...view, note: NOTE }
        options.queue?.discardTerminal(sessionId, task.id)
        return view
      },
    } as Tool<unknown, BackgroundToolOutput>)
  }
  return out as { [K in keyof T]: Tool<unknown, BackgroundToolOutput> }
}
