/**
 * Freezes `value` and everything reachable from it, in place, and returns it.
 * An object that is already frozen is taken as deeply frozen and not walked
 * again: records share their unchanged parts with the previous version, so a
 * change only pays for what it built. Only call it on values this library
 * built (validated copies), never on caller-owned objects.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  Object.freeze(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i])
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

type RecordLike = {
  readonly spec: unknown
  readonly progress?: unknown
  readonly inputRequest?: unknown
  readonly artifacts: unknown
  readonly error?: unknown
  readonly links: unknown
}

/**
 * {@link deepFreeze} for a task record: only its object-valued fields are
 * walked (most are shared, already frozen parts of the previous version), so
 * freezing a changed record costs a handful of checks, not one per field.
 */
export function freezeTask<T extends RecordLike>(task: T): T {
  if (Object.isFrozen(task)) return task
  Object.freeze(task)
  deepFreeze(task.spec)
  if (task.progress !== undefined) deepFreeze(task.progress)
  if (task.inputRequest !== undefined) deepFreeze(task.inputRequest)
  deepFreeze(task.artifacts)
  if (task.error !== undefined) deepFreeze(task.error)
  deepFreeze(task.links)
  return task
}
