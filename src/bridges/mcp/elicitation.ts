import type { ElicitResult } from '@modelcontextprotocol/sdk/types.js'
import type { JsonValue } from '../../model/json.js'
import type { TaskMessage } from '../../model/schemas.js'

// How an answer recorded in the registry becomes the ElicitResult an MCP
// server asked for. Pure, and free of the SDK at run time.

/** The form an MCP elicitation asks for: flat properties of primitive types. */
export type ElicitationSchema = {
  type: 'object'
  properties: { [name: string]: { type?: string; enum?: readonly unknown[] } & object }
  required?: readonly string[] | undefined
}

type Content = NonNullable<ElicitResult['content']>
type Value = Content[string]

const ACTIONS = ['accept', 'decline', 'cancel'] as const
const isObject = (v: unknown): v is { [key: string]: JsonValue } =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const YES = new Set(['yes', 'y', 'true'])
const NO = new Set(['no', 'n', 'false'])

// One answer text as a value of `type`, or an error saying why not.
function coerce(name: string, type: string | undefined, text: string): Value {
  const t = text.trim()
  if (type === 'boolean') {
    if (YES.has(t.toLowerCase())) return true
    if (NO.has(t.toLowerCase())) return false
    throw new Error(`field '${name}': must be yes or no, got ${JSON.stringify(t)}`)
  }
  if (type === 'number' || type === 'integer') {
    const n = Number(t)
    if (t === '' || !Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) {
      throw new Error(`field '${name}': must be a ${type}, got ${JSON.stringify(t)}`)
    }
    return n
  }
  return t
}

function check(schema: ElicitationSchema, content: { [key: string]: JsonValue }): Content {
  const out: Content = {}
  for (const [name, value] of Object.entries(content)) {
    const field = schema.properties[name]
    if (field === undefined) throw new Error(`field '${name}': is not asked for`)
    const type = field.type
    const ok =
      type === 'boolean'
        ? typeof value === 'boolean'
        : type === 'number' || type === 'integer'
          ? typeof value === 'number' && (type === 'number' || Number.isInteger(value))
          : type === 'array'
            ? Array.isArray(value) && value.every((v) => typeof v === 'string')
            : typeof value === 'string'
    if (!ok) throw new Error(`field '${name}': must be of type ${type ?? 'string'}`)
    if (field.enum !== undefined && typeof value === 'string' && !field.enum.includes(value)) {
      throw new Error(`field '${name}': must be one of ${field.enum.map(String).join(', ')}`)
    }
    out[name] = value as Value
  }
  for (const name of schema.required ?? []) {
    if (!(name in out)) throw new Error(`field '${name}': is required`)
  }
  return out
}

/**
 * The ElicitResult an answer stands for: a data part `{ action, content }`
 * as it is, a data part or JSON text with the fields, `decline`/`cancel` as
 * those actions, or, when the form has one field, the text as its value
 * (`yes`/`no` for a boolean). Throws an `Error` naming the field and the
 * problem when the answer does not fit the form.
 */
export function elicitResultOf(message: TaskMessage, schema: ElicitationSchema): ElicitResult {
  for (const part of message.content) {
    if (part.type !== 'data' || !isObject(part.data)) continue
    const data = part.data
    const action = data.action
    if (typeof action === 'string' && (ACTIONS as readonly string[]).includes(action)) {
      if (action !== 'accept') return { action: action as ElicitResult['action'] }
      return {
        action: 'accept',
        content: check(schema, isObject(data.content) ? data.content : {}),
      }
    }
    return { action: 'accept', content: check(schema, data) }
  }
  const text = message.content
    .map((p) => (p.type === 'text' ? p.text : ''))
    .join('')
    .trim()
  if (text === 'decline' || text === 'cancel') return { action: text }
  if (text.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new Error('answer: looks like JSON but does not parse')
    }
    if (isObject(parsed)) return { action: 'accept', content: check(schema, parsed) }
  }
  const names = Object.keys(schema.properties)
  if (names.length === 0) return { action: 'accept', content: {} }
  const only = names.length === 1 ? names[0] : undefined
  if (only === undefined) {
    throw new Error(
      `answer: the form has ${names.length} fields (${names.join(', ')}); answer with a JSON object of them, or decline`,
    )
  }
  const field = schema.properties[only]
  return { action: 'accept', content: check(schema, { [only]: coerce(only, field?.type, text) }) }
}
