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
