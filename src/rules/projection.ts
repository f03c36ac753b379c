import type { JsonValue } from '../model/json.js'
import type { SessionTask } from '../model/schemas.js'
import { cloneTask } from './snapshot.js'

function redactPushConfigs(spec: JsonValue): JsonValue {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) return spec
  const configs = spec.push_configs
  if (!Array.isArray(configs)) return spec
  const redacted = configs.map((config) => {
    if (typeof config !== 'object' || config === null || Array.isArray(config)) return config
    if (!Object.hasOwn(config, 'secret')) return config
    const { secret: _secret, ...rest } = config
    return { ...rest, has_secret: true }
  })
  return { ...spec, push_configs: redacted }
}

/**
 * The record as events and UIs may see it: a detached copy whose
 * `spec.push_configs[*].secret` values are replaced by `has_secret: true`.
 * The stored spec keeps its secrets for executors.
 */
export function toPublicTask(task: SessionTask): SessionTask {
  // Redact first (a shallow rebuild), then deep-copy: the stored spec is never touched.
  return cloneTask(task, redactPushConfigs(task.spec))
}
