import { deepFreeze } from '../model/freeze.js'
import type { JsonValue } from '../model/json.js'
import type { SessionTask } from '../model/schemas.js'
import { buildTask, fieldsOf } from './record.js'

type JsonObject = { readonly [key: string]: JsonValue }

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** True when the spec holds a secret that events and UIs must not see (SPEC 6). */
export function hasSecret(spec: JsonValue): boolean {
  if (!isObject(spec)) return false
  const configs = spec.push_configs
  if (!Array.isArray(configs)) return false
  for (const config of configs as readonly JsonValue[]) {
    if (isObject(config) && Object.hasOwn(config, 'secret')) return true
  }
  return false
}

function redactPushConfigs(spec: JsonObject): JsonValue {
  const configs = spec.push_configs as readonly JsonValue[]
  const redacted = configs.map((config) => {
    if (!isObject(config) || !Object.hasOwn(config, 'secret')) return config
    const { secret: _secret, ...rest } = config
    return { ...rest, has_secret: true }
  })
  return { ...spec, push_configs: redacted }
}

// One projection per record version: records are immutable, so the first
// projection stays right for as long as anyone holds the record.
const projections = new WeakMap<SessionTask, SessionTask>()

/**
 * The record as events and UIs may see it: the record itself when its spec
 * holds no secret, else a deeply frozen copy whose
 * `spec.push_configs[*].secret` values are replaced by `has_secret: true`
 * (built once per record). The stored spec keeps its secrets for executors.
 */
export function toPublicTask(record: SessionTask): SessionTask {
  // A record the caller built (not one a registry returned) is copied first,
  // so that freezing never reaches the caller's own objects.
  const task = Object.isFrozen(record) ? record : deepFreeze(copyOf(record))
  if (!hasSecret(task.spec)) return task
  let view = projections.get(task)
  if (view === undefined) {
    const fields = fieldsOf(task)
    fields.spec = redactPushConfigs(task.spec as JsonObject)
    view = deepFreeze(buildTask(fields))
    projections.set(task, view)
  }
  return view
}

// Records are JSON (JSON.parse keeps a `__proto__` key as own data).
function copyOf(task: SessionTask): SessionTask {
  return JSON.parse(JSON.stringify(task)) as SessionTask
}
