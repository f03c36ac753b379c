import * as z from 'zod'
import { RegistryShapeSchema } from './registry-shape.js'
import {
  count,
  FunctionSchema,
  InputRequestIdSchema,
  messageContent,
  positive,
  str,
} from './schemas.js'

// The supervisor's option shapes; the record and registry shapes are in schemas.ts.

/** Concurrency limits of a supervisor; all apply at once. */
export const ConcurrencyLimitsSchema = z.strictObject({
  global: positive.optional(),
  perSession: positive.optional(),
  perKind: positive.optional(),
})

/** Options of `registry.claim`. */
export const ClaimOptionsSchema = z.strictObject({
  expectedAttempt: positive,
  limits: ConcurrencyLimitsSchema.optional(),
  workerId: str().min(1, 'must not be empty').optional(),
})

/** Options of `registry.claim`. */
export type ClaimOptions = {
  /** The attempt the claimer read queued; another attempt means someone else has it. */
  readonly expectedAttempt: number
  /** Limits counted over the whole registry, checked atomically with the claim. */
  readonly limits?:
    | {
        readonly global?: number | undefined
        readonly perSession?: number | undefined
        readonly perKind?: number | undefined
      }
    | undefined
  /** Recorded as the task's `workerId`. */
  readonly workerId?: string | undefined
}

/** How a supervisor starts queued tasks: only its own (`local`) or any on the registry (`shared`). */
export const DISPATCH_MODES = ['local', 'shared'] as const

/** How a supervisor starts queued tasks (see {@link DISPATCH_MODES}). */
export type DispatchMode = (typeof DISPATCH_MODES)[number]

/** Options of `supervisor.spawn`. */
export const SpawnOptionsSchema = z.strictObject({ timeoutMs: positive.optional() })

/** The body of `supervisor.message`: `text` or `content` (exactly one). */
export const SupervisorMessageSchema = z
  .strictObject({
    text: str().optional(),
    content: messageContent.optional(),
    inReplyTo: InputRequestIdSchema.optional(),
  })
  .refine((m) => (m.text === undefined) !== (m.content === undefined), {
    message: 'give exactly one of text or content',
  })

/** Options of `supervisor.wait`. */
export const WaitOptionsSchema = z.strictObject({
  until: z.enum(['terminal', 'settled']).optional(),
  timeoutMs: positive.optional(),
  signal: z.instanceof(AbortSignal, { message: 'must be an AbortSignal' }).optional(),
})

/** Options of `supervisor.reap`. */
export const ReapOptionsSchema = z.strictObject({
  staleAfterMs: positive.optional(),
  maxAttempts: positive.optional(),
  limit: positive.optional(),
})

/** Options of `supervisor.startHousekeeping`. */
export const HousekeepingOptionsSchema = z.strictObject({
  intervalMs: positive.optional(),
  staleAfterMs: positive.optional(),
  maxAttempts: positive.optional(),
  retainFinishedMs: count.optional(),
  limit: positive.optional(),
  onError: FunctionSchema.optional(),
})

/** Options of `createTaskSupervisor` (the registry and executors are checked by shape). */
export const SupervisorOptionsSchema = z.strictObject({
  registry: RegistryShapeSchema,
  executors: z
    .custom<object>((v) => typeof v === 'object' && v !== null, 'must be a TaskExecutorRegistry')
    .optional(),
  now: FunctionSchema.optional(),
  cancelGraceMs: count.optional(),
  concurrency: ConcurrencyLimitsSchema.optional(),
  dispatch: z.enum(DISPATCH_MODES).optional(),
  sweepIntervalMs: positive.optional(),
  workerId: str().min(1, 'must not be empty').optional(),
  onError: FunctionSchema.optional(),
})
