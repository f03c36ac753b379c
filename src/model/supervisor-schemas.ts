import * as z from 'zod'
import { RegistryShapeSchema } from './registry-shape.js'
import {
  count,
  FunctionSchema,
  InputRequestIdSchema,
  messageContent,
  nonEmpty,
  positive,
  SessionIdSchema,
  str,
  TaskIdSchema,
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

const signal = z.instanceof(AbortSignal, { message: 'must be an AbortSignal' })

/** Options of `supervisor.spawn`. */
export const SpawnOptionsSchema = z.strictObject({
  timeoutMs: positive.optional(),
  signal: signal.optional(),
})

/** Options of `supervisor.cancel`. */
export const CancelOptionsSchema = z.strictObject({
  reason: nonEmpty.optional(),
  signal: signal.optional(),
})

/** Options of `supervisor.message`. */
export const MessageOptionsSchema = z.strictObject({ signal: signal.optional() })

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
  signal: signal.optional(),
})

/** Options of `wakeQueue.next` and `wakeQueue.wakes`. */
export const WakeWaitOptionsSchema = z.strictObject({
  timeoutMs: positive.optional(),
  signal: signal.optional(),
})

const TaskRefSchema = z.strictObject({ sessionId: SessionIdSchema, taskId: TaskIdSchema })

/** The tasks of `supervisor.waitAny` and `waitAll`, under `refs`: at least one, none twice. */
export const WaitRefsSchema = z.strictObject({
  refs: z
    .array(TaskRefSchema)
    .min(1, 'must list at least one task')
    .superRefine((refs, ctx) => {
      const first = new Map<string, number>()
      refs.forEach((ref, i) => {
        // Both ids are free text: a pair, not a joined string, is the key.
        const key = JSON.stringify([ref.sessionId, ref.taskId])
        const earlier = first.get(key)
        if (earlier === undefined) first.set(key, i)
        else ctx.addIssue({ code: 'custom', path: [i], message: `repeats refs[${earlier}]` })
      })
    }),
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
  timers: z
    .custom<object>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as { startTimer?: unknown }).startTimer === 'function',
      'must be a TimerSource (with startTimer)',
    )
    .optional(),
})
