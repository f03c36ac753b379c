import { ILL_FORMED, isWellFormed } from './strings.js'

/** A JSON value: what `spec`, `expected` and data message parts may hold. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue }

/** How deep arrays and objects may nest inside one JSON value. */
export const MAX_JSON_DEPTH = 64

/**
 * How many nodes (values, each appearance of a shared reference counted) one
 * JSON value may have (SPEC 12.3): `v = [v, v]` twenty times over is a
 * million nodes in a few bytes of input, and copying it would block for seconds.
 */
export const MAX_JSON_NODES = 100_000

/** Where and why a value is not JSON; thrown by {@link toJsonValue}. */
export class JsonValueIssue {
  constructor(
    readonly path: (string | number)[],
    readonly message: string,
  ) {}
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  const proto: unknown = Object.getPrototypeOf(value)
  const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an exotic object'
}

// `__proto__` as a key must land as an own data property; plain assignment
// would set the prototype instead.
function setOwn(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  } else {
    target[key] = value
  }
}

// Proxies, throwing getters and revoked objects fail here, with the path of
// the property that could not be read.
function read<T>(path: (string | number)[], get: () => T): T {
  try {
    return get()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new JsonValueIssue(path, `could not be read: ${reason}`)
  }
}

type Walk = { ancestors: Set<object>; nodes: number }

function copy(value: unknown, path: (string | number)[], depth: number, walk: Walk): JsonValue {
  if (++walk.nodes > MAX_JSON_NODES) {
    throw new JsonValueIssue(path, `must not have more than ${MAX_JSON_NODES} nodes`)
  }
  const ancestors = walk.ancestors
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new JsonValueIssue(path, ILL_FORMED)
      return value
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value))
        throw new JsonValueIssue(path, `must be a finite number, got ${value}`)
      return value
    case 'object':
      break
    default:
      throw new JsonValueIssue(path, `must be a JSON value, got ${describe(value)}`)
  }
  if (value === null) return null
  if (ancestors.has(value)) throw new JsonValueIssue(path, 'must not contain a circular reference')
  if (depth >= MAX_JSON_DEPTH) {
    throw new JsonValueIssue(path, `must not nest more than ${MAX_JSON_DEPTH} levels deep`)
  }
  ancestors.add(value)
  let result: JsonValue
  if (read(path, () => Array.isArray(value))) {
    const array = value as unknown[]
    const length = read(path, () => array.length)
    const out: JsonValue[] = new Array(length)
    for (let i = 0; i < length; i++) {
      const at = [...path, i]
      if (!read(at, () => i in array))
        throw new JsonValueIssue(at, 'must not be a hole in a sparse array')
      const item = read(at, () => array[i])
      if (item === undefined) throw new JsonValueIssue(at, 'must be a JSON value, got undefined')
      out[i] = copy(item, at, depth + 1, walk)
    }
    result = out
  } else {
    const proto = read(path, () => Object.getPrototypeOf(value) as unknown)
    if (proto !== Object.prototype && proto !== null) {
      throw new JsonValueIssue(path, `must be a plain object or array, got ${describe(value)}`)
    }
    const out: Record<string, JsonValue> = {}
    for (const key of read(path, () => Object.keys(value))) {
      const at = [...path, key]
      if (!isWellFormed(key)) throw new JsonValueIssue(at, `key ${ILL_FORMED}`)
      const item = read(at, () => (value as Record<string, unknown>)[key])
      // JSON.stringify drops undefined properties; so do we.
      if (item === undefined) continue
      setOwn(out, key, copy(item, at, depth + 1, walk))
    }
    result = out
  }
  ancestors.delete(value)
  return result
}

/**
 * Checks that `value` is JSON and returns a detached deep copy of it.
 * Throws {@link JsonValueIssue} naming the offending path.
 */
export function toJsonValue(value: unknown, path: (string | number)[] = []): JsonValue {
  try {
    return copy(value, path, 0, { ancestors: new Set(), nodes: 0 })
  } catch (error) {
    if (error instanceof JsonValueIssue) throw error
    // Proxies, throwing getters and revoked objects end up here.
    const reason = error instanceof Error ? error.message : String(error)
    throw new JsonValueIssue(path, `could not be read as JSON: ${reason}`)
  }
}

/** Structural equality of two JSON values (key order ignored). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    const x = a as readonly JsonValue[]
    const y = b as readonly JsonValue[]
    if (!Array.isArray(b) || x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i], y[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as { readonly [key: string]: JsonValue }
  const y = b as { readonly [key: string]: JsonValue }
  const keys = Object.keys(x)
  if (keys.length !== Object.keys(y).length) return false
  for (const key of keys) {
    if (!Object.hasOwn(y, key) || !jsonEqual(x[key], y[key])) return false
  }
  return true
}
