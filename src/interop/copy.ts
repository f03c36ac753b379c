import type * as z from 'zod'
import type { JsonValue } from '../model/json.js'
import type {
  TaskArtifact,
  TaskArtifactSchema,
  TaskMessagePart,
  TaskMessagePartSchema,
  TaskProgress,
  TaskProgressSchema,
} from '../model/schemas.js'

// Wire values are the caller's to mutate, unlike frozen records, so the wire
// codec copies what it shares with a record. Copying is explicit per field: a
// generic deep clone costs far more.

type Mutable<T extends z.ZodType> = z.infer<T>

/** A mutable deep copy of a JSON value (already known to be JSON: no checks, no cycles). */
export function copyJson(value: JsonValue): JsonValue {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return (value as readonly JsonValue[]).map(copyJson)
  const out: Record<string, JsonValue> = {}
  for (const key of Object.keys(value)) {
    const item = copyJson((value as { readonly [key: string]: JsonValue })[key] as JsonValue)
    // `__proto__` must stay an own data property.
    Object.defineProperty(out, key, {
      value: item,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return out
}

/** A mutable copy of a progress object. */
export function copyProgress(p: TaskProgress): Mutable<typeof TaskProgressSchema> {
  const out: Mutable<typeof TaskProgressSchema> = {}
  if (p.current !== undefined) out.current = p.current
  if (p.total !== undefined) out.total = p.total
  if (p.unit !== undefined) out.unit = p.unit
  if (p.label !== undefined) out.label = p.label
  if (p.steps !== undefined) out.steps = p.steps.map((s) => ({ title: s.title, status: s.status }))
  return out
}

/** A mutable copy of an artifact, keys in one order. */
export function copyArtifact(a: TaskArtifact): Mutable<typeof TaskArtifactSchema> {
  const out: Mutable<typeof TaskArtifactSchema> = {} as Mutable<typeof TaskArtifactSchema>
  if (a.id !== undefined) out.id = a.id
  out.name = a.name
  out.type = a.type
  if (a.description !== undefined) out.description = a.description
  if (a.mediaType !== undefined) out.mediaType = a.mediaType
  if (a.path !== undefined) out.path = a.path
  if (a.url !== undefined) out.url = a.url
  if (a.text !== undefined) out.text = a.text
  if (a.data !== undefined) out.data = copyJson(a.data)
  if (a.metadata !== undefined) out.metadata = copyJson(a.metadata) as typeof out.metadata
  return out
}

/** A mutable copy of a message part. */
export function copyPart(part: TaskMessagePart): Mutable<typeof TaskMessagePartSchema> {
  return part.type === 'text'
    ? { type: 'text', text: part.text }
    : { type: 'data', data: copyJson(part.data) }
}
