import * as z from 'zod'

/** A registry checked by shape: an object with these methods, before anything calls them. */
export const registryWith = (methods: readonly string[]) =>
  z.custom<object>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    `must be a SessionTaskRegistry (with ${methods.join(', ')})`,
  )

/** What the supervisor calls on its registry. */
export const RegistryShapeSchema = registryWith([
  'create',
  'update',
  'updateWithOutcome',
  'get',
  'requestCancel',
  'recordMessage',
  'subscribe',
  'subscribeAll',
  'listStale',
  'prune',
  'now',
])
