import * as z from 'zod'
import {
  type DeepReadonly,
  isoInstant,
  nonEmpty,
  positive,
  SessionIdSchema,
  SessionTaskStateSchema,
  TaskIdSchema,
} from './schemas.js'
import { isIsoUtc, normalizeIso } from './time.js'

// The options of the registry's reads and scans: what to list and where to
// continue. Records and inputs are in schemas.ts.

/** Options of `registry.listMessages`. */
export const ListMessagesOptionsSchema = z.strictObject({
  limit: positive.optional(),
  afterId: TaskIdSchema.optional(),
})

const instant = z.date().refine((d) => !Number.isNaN(d.getTime()), 'must be a valid Date')

/** Options of `registry.listStale`. */
export const ListStaleOptionsSchema = z.strictObject({
  heartbeatBefore: instant,
  limit: positive.optional(),
})

/** Options of `registry.prune`. */
export const PruneOptionsSchema = z.strictObject({
  finishedBefore: instant,
  limit: positive.optional(),
})

/** Options of `registry.listOverdue`. */
export const ListOverdueOptionsSchema = z.strictObject({
  deadlineBefore: instant,
  limit: positive.optional(),
})

/** The cursor `registry.query` hands out: `<insertion order>~<createdAt>`. @internal */
// At most 15 digits: a safe integer, and a PostgreSQL bigint.
export const QUERY_CURSOR = /^(\d{1,15})~(.+)$/

/** Options of `registry.query`; filters combine with AND. */
export const QueryTasksOptionsSchema = z.strictObject({
  sessionIds: z
    .array(SessionIdSchema)
    .max(1000, 'must hold at most 1000 ids')
    .readonly()
    .optional(),
  kind: nonEmpty.optional(),
  state: SessionTaskStateSchema.optional(),
  /** Only tasks updated after this instant (a Date or an ISO-8601 UTC string). */
  updatedAfter: z.union([instant, isoInstant.transform(normalizeIso)]).optional(),
  limit: z
    .int('must be an integer')
    .min(1, 'must be a positive integer')
    .max(1000, 'must be at most 1000')
    .optional(),
  cursor: z
    .string()
    .refine(
      (c) => QUERY_CURSOR.test(c) && isIsoUtc(c.slice(c.indexOf('~') + 1)),
      'is not a cursor this registry returned',
    )
    .optional(),
})

/** Options of `registry.listQueued`. */
export const ListQueuedOptionsSchema = z.strictObject({
  kinds: z.array(nonEmpty).readonly().optional(),
  limit: positive.optional(),
  afterId: TaskIdSchema.optional(),
})

/** Options of `registry.listMessages`. */
export type ListMessagesOptions = DeepReadonly<z.infer<typeof ListMessagesOptionsSchema>>
/** Options of `registry.listStale`. */
export type ListStaleOptions = z.infer<typeof ListStaleOptionsSchema>
/** Options of `registry.listOverdue`. */
export type ListOverdueOptions = z.infer<typeof ListOverdueOptionsSchema>
/** Options of `registry.listQueued`. */
export type ListQueuedOptions = DeepReadonly<z.infer<typeof ListQueuedOptionsSchema>>
/** Options of `registry.prune`. */
export type PruneOptions = z.infer<typeof PruneOptionsSchema>
/** Options of `registry.query`. */
export type QueryTasksOptions = DeepReadonly<z.input<typeof QueryTasksOptionsSchema>>
