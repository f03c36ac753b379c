import { type JSONSchema7, jsonSchema, type Tool, tool } from 'ai'
import type { TaskSupervisor } from '../../execution/task-supervisor.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { type TaskView, taskView } from './task-view.js'

/** Options of {@link questionTools}. */
export type QuestionToolsOptions = {
  supervisor: TaskSupervisor
  registry: SessionTaskRegistry
  sessionId: string
  /** A person approves each answer through the SDK's tool-approval flow before it is sent. @default false */
  approveAnswers?: boolean | undefined
}

/** What an answer tool returns: the task after the answer, and whether it was taken. */
export type AnswerOutput = TaskView & { delivered: boolean; why?: string }

/** A JSON object: an answer tool's input. */
export type AnswerInput = { [key: string]: JsonValue }
type Json = AnswerInput

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

// `expected` is free JSON; it is taken for a JSON Schema when it looks like one.
const looksLikeSchema = (v: unknown): v is Json =>
  isObject(v) && (typeof v.type === 'string' || Array.isArray(v.enum) || isObject(v.properties))

// FNV-1a of a string, as 8 hex digits: short names for long ids.
function hash(text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0).toString(16).padStart(8, '0')
}

// Provider tool names: letters, digits, _ and -, at most 64. A task id that
// does not fit as it is gets a hash of it, so two tasks never share a name.
const toolName = (task: SessionTask) => {
  const plain = `answer_${task.id}`
  return /^[A-Za-z0-9_-]{1,64}$/.test(plain) ? plain : `answer_${hash(task.id)}`
}

/**
 * One tool per task of the session that waits for an answer, named
 * `answer_<task id>`, whose input schema is the task's `expected` when
 * that is a JSON Schema: an object schema is the tool's input as it is;
 * any other schema (a string, an enum, a number) becomes the `answer`
 * field. Without one, `answer` is text. Build them before each call of the
 * loop (the questions change between turns).
 */
export async function questionTools(
  options: QuestionToolsOptions,
): Promise<{ [name: string]: Tool<AnswerInput, AnswerOutput> }> {
  const { supervisor, registry, sessionId } = options
  const waiting = (await registry.list(sessionId)).filter(
    (t) => t.state === 'awaiting_input' && t.inputRequest !== undefined,
  )
  const out: { [name: string]: Tool<Json, AnswerOutput> } = {}
  for (const task of waiting) {
    const request = task.inputRequest
    if (request === undefined) continue
    const expected = request.expected as JsonValue | undefined
    const whole = looksLikeSchema(expected) && expected.type === 'object'
    const schema: Json = whole
      ? expected
      : {
          type: 'object',
          properties: { answer: looksLikeSchema(expected) ? expected : { type: 'string' } },
          required: ['answer'],
        }
    let name = toolName(task)
    // Hash collisions are unlikely; a second task of one name gets its own.
    for (let n = 2; name in out; n++) name = `${toolName(task).slice(0, 60)}_${n}`
    out[name] = tool({
      description: `Answers the question of task "${task.displayName}": ${request.prompt}`,
      ...(options.approveAnswers === true ? { needsApproval: true } : {}),
      inputSchema: jsonSchema<Json>(schema as JSONSchema7),
      execute: async (input: Json): Promise<AnswerOutput> => {
        const value = whole ? input : input?.answer
        if (value === undefined) {
          return { ...taskView(task), delivered: false, why: 'the answer is missing' }
        }
        const { delivery } = await supervisor.message(sessionId, task.id, {
          ...(typeof value === 'string'
            ? { text: value }
            : { content: [{ type: 'data' as const, data: value ?? null }] }),
          inReplyTo: request.id,
        })
        const after = (await registry.get(sessionId, task.id)) ?? task
        return delivery === 'delivered'
          ? { ...taskView(after), delivered: true }
          : { ...taskView(after), delivered: false, why: delivery.failed }
      },
    } as Tool<Json, AnswerOutput>)
  }
  return out
}
