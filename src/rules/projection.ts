import { deepFreeze } from '../model/freeze.js'
import type { JsonValue } from '../model/json.js'
import type { SessionTask } from '../model/schemas.js'
import { buildTask, fieldsOf } from './record.js'

type JsonObject = { readonly [key: string]: JsonValue }

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

// A push config (A2A's included) holds a secret in `secret`, `token` or
// `authentication.credentials`.
function configHasSecret(config: JsonValue): boolean {
  if (!isObject(config)) return false
  if (Object.hasOwn(config, 'secret') || Object.hasOwn(config, 'token')) return true
  const auth = config.authentication
  return isObject(auth) && Object.hasOwn(auth, 'credentials')
}

/** True when the spec holds a secret that events and UIs must not see (SPEC 6, 12.3). */
export function hasSecret(spec: JsonValue): boolean {
  if (!isObject(spec)) return false
  const configs = spec.push_configs
  if (!Array.isArray(configs)) return false
  for (const config of configs as readonly JsonValue[]) if (configHasSecret(config)) return true
  return false
}

// Each secret is replaced by a flag saying it is there: `has_secret`,
// `has_token`, `authentication.has_credentials`.
function redactConfig(config: JsonValue): JsonValue {
  if (!configHasSecret(config)) return config
  const { secret, token, authentication, ...rest } = config as JsonObject
  const out: Record<string, JsonValue> = { ...rest }
  if (secret !== undefined) out.has_secret = true
  if (token !== undefined) out.has_token = true
  if (authentication !== undefined) {
    if (isObject(authentication) && Object.hasOwn(authentication, 'credentials')) {
      const { credentials: _credentials, ...auth } = authentication
      out.authentication = { ...auth, has_credentials: true }
    } else {
      out.authentication = authentication
    }
  }
  return out
}

function redactPushConfigs(spec: JsonObject): JsonValue {
  const configs = spec.push_configs as readonly JsonValue[]
  return { ...spec, push_configs: configs.map(redactConfig) }
}

// One projection per record version: records are immutable, so the first
// projection stays right for as long as anyone holds the record.
const projections = new WeakMap<SessionTask, SessionTask>()

/**
 * The record as events and UIs may see it: the record itself when its spec
 * holds no secret, else a deeply frozen copy whose `spec.push_configs[*]`
 * `secret`, `token` and `authentication.credentials` are replaced by
 * `has_secret`, `has_token` and `authentication.has_credentials: true`
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
