import { freezeTask } from '../model/freeze.js'
import {
  type ListOverdueOptions,
  ListOverdueOptionsSchema,
  type ListQueuedOptions,
  ListQueuedOptionsSchema,
  type ListStaleOptions,
  ListStaleOptionsSchema,
  type PruneOptions,
  PruneOptionsSchema,
} from '../model/scan-schemas.js'
import type { SessionTask } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import { cutoffIso } from '../rules/expiry.js'
import type { SessionTaskStore } from './store.js'

// The registry's reads and deletes across sessions: validated here, run by
// the store, frozen on the way out.

const DEFAULT_SCAN_LIMIT = 100

/** `registry.listStale`. */
export async function listStale(
  store: SessionTaskStore,
  options: ListStaleOptions,
  now: () => Date,
) {
  const o = parseInput(ListStaleOptionsSchema, options, 'ListStaleOptions')
  const limit = o.limit ?? DEFAULT_SCAN_LIMIT
  const found = await store.listStale(cutoffIso(o.heartbeatBefore), limit, cutoffIso(now()))
  return found.map(freezeTask)
}

/** `registry.listQueued`. */
export async function listQueued(
  store: SessionTaskStore,
  options: ListQueuedOptions | undefined,
  now: () => Date,
): Promise<SessionTask[]> {
  const o =
    options === undefined ? {} : parseInput(ListQueuedOptionsSchema, options, 'ListQueuedOptions')
  const limit = o.limit ?? DEFAULT_SCAN_LIMIT
  const found = await store.listQueued(o.kinds, limit, cutoffIso(now()), o.afterId)
  return found.map(freezeTask)
}

/** `registry.listOverdue`. */
export async function listOverdue(
  store: SessionTaskStore,
  options: ListOverdueOptions,
  now: () => Date,
) {
  const o = parseInput(ListOverdueOptionsSchema, options, 'ListOverdueOptions')
  const limit = o.limit ?? DEFAULT_SCAN_LIMIT
  const found = await store.listOverdue(cutoffIso(o.deadlineBefore), limit, cutoffIso(now()))
  return found.map(freezeTask)
}

/** `registry.prune`: finished before the cutoff, or expired at `now`. */
export async function prune(store: SessionTaskStore, options: PruneOptions, now: Date) {
  const o = parseInput(PruneOptionsSchema, options, 'PruneOptions')
  const limit = o.limit ?? DEFAULT_SCAN_LIMIT
  const removed = await store.prune(cutoffIso(o.finishedBefore), limit, cutoffIso(now))
  return removed.map(freezeTask)
}
