import * as z from 'zod'
import { type JsonValue, JsonValueIssue, toJsonValue } from './json.js'
import type {
  NewTaskMessage,
  TaskMessage,
  TaskMessagePart,
  TaskOutput,
  TaskWake,
  TaskWakeTransition,
} from './message.js'
import type { DeepReadonly } from './readonly.js'
import {
  SESSION_TASK_STATES,
  TASK_MESSAGE_DIRECTIONS,
  TASK_STEP_STATUSES,
  TASK_WAKE_POLICIES,
} from './state.js'
// Control characters in ids would end up in logs and VFS paths.
import { CONTROL_CHARACTERS, ILL_FORMED, isWellFormed } from './strings.js'
import type {
  CreateSessionTask,
  JsonObject,
  SessionTask,
  SessionTaskFilter,
  SessionTaskUpdate,
  TaskArtifact,
  TaskError,
  TaskInputRequest,
  TaskLinks,
  TaskLinksInput,
  TaskProgress,
  TaskStep,
} from './task.js'
import { isIsoUtc, normalizeIso } from './time.js'

export type {
  NewTaskMessage,
  TaskMessage,
  TaskMessagePart,
  TaskOutput,
  TaskWake,
  TaskWakeTransition,
} from './message.js'
export type { DeepReadonly, Draft } from './readonly.js'
export type {
  CreateSessionTask,
  JsonObject,
  SessionTask,
  SessionTaskFilter,
  SessionTaskUpdate,
  TaskArtifact,
  TaskError,
  TaskInputRequest,
  TaskLinks,
  TaskLinksInput,
  TaskProgress,
  TaskStep,
} from './task.js'

// Every string a caller gives must be well-formed UTF-16 (SPEC 4.1).
/** A well-formed string. @internal */
export const str = () => z.string().refine(isWellFormed, ILL_FORMED)
/** A non-empty well-formed string. @internal */
export const nonEmpty = z.string().min(1, 'must not be empty').refine(isWellFormed, ILL_FORMED)
const boundedId = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL_CHARACTERS.test(s), 'must not contain control characters')
    .refine(isWellFormed, ILL_FORMED)
/** A non-negative integer. @internal */
export const count = z.int('must be an integer').min(0, 'must not be negative')
/** A positive integer. @internal */
export const positive = z.int('must be an integer').min(1, 'must be a positive integer')
/** An ISO-8601 UTC timestamp string. @internal */
export const isoInstant = z.string().refine(isIsoUtc, 'must be an ISO-8601 UTC timestamp')

/** A JSON value (see {@link JsonValue}); the parsed output is a detached deep copy. */
export const JsonValueSchema: z.ZodType<JsonValue, unknown> = z
  .unknown()
  .transform((value, ctx) => {
    try {
      return toJsonValue(value)
    } catch (error) {
      const issue = error instanceof JsonValueIssue ? error : new JsonValueIssue([], String(error))
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path, input: value })
      return z.NEVER
    }
  })

/** A JSON object (task and artifact `metadata`): a {@link JsonValueSchema} that is neither an array nor null. */
export const JsonObjectSchema = JsonValueSchema.refine(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
) as z.ZodType<JsonObject, unknown>

/** A session id: 1-256 characters, no control characters. */
export const SessionIdSchema = boundedId(256)
/** A task id as used in lookups: 1-256 characters, no control characters. */
export const TaskIdSchema = boundedId(256)
/** A caller-chosen task id; it becomes a VFS path segment, so it is restricted. */
export const CallerTaskIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 characters of A-Z, a-z, 0-9, _ or -')
/** An input request id (also `inReplyTo`): 1-256 characters, no control characters. */
export const InputRequestIdSchema = boundedId(256)

/** Lifecycle state. */
export const SessionTaskStateSchema = z.enum(SESSION_TASK_STATES)
/** Wake policy. */
export const TaskWakePolicySchema = z.enum(TASK_WAKE_POLICIES)
/** Message direction. */
export const TaskMessageDirectionSchema = z.enum(TASK_MESSAGE_DIRECTIONS)
/** Progress step status. */
export const TaskStepStatusSchema = z.enum(TASK_STEP_STATUSES)

/** One named step of a task's progress. */
export const TaskStepSchema = z.strictObject({ title: nonEmpty, status: TaskStepStatusSchema })

/** Progress of a task; an update replaces the whole object. */
export const TaskProgressSchema = z.strictObject({
  current: count.optional(),
  total: count.optional(),
  unit: str().optional(),
  label: str().optional(),
  steps: z.array(TaskStepSchema).optional(),
})

/** A structured ask from a task that needs input to continue. */
export const TaskInputRequestSchema = z.strictObject({
  id: InputRequestIdSchema,
  prompt: nonEmpty,
  expected: JsonValueSchema.optional(),
})

/** Why a task failed; `kind` is the machine reason (`timeout`, `orphaned`, ...). */
export const TaskErrorSchema = z.strictObject({ kind: nonEmpty, message: str() })

/**
 * Something a task produced: a typed link (`path`, `url`), or content
 * (`text`, JSON `data`), with an optional `id` that later appends with the
 * same id replace in place (SPEC 12.2).
 */
export const TaskArtifactSchema = z.strictObject({
  id: nonEmpty.optional(),
  name: nonEmpty,
  type: nonEmpty,
  description: str().optional(),
  mediaType: str().optional(),
  path: str().optional(),
  url: str().optional(),
  text: str().optional(),
  data: JsonValueSchema.optional(),
  metadata: JsonObjectSchema.optional(),
})

/** Cross-references owned by a task, as stored on the record. */
export const TaskLinksSchema = z.strictObject({
  childSessionId: SessionIdSchema.optional(),
  remoteTaskId: nonEmpty.optional(),
  resourceIds: z.array(nonEmpty),
})

/** Cross-references as given on create or update (merged into the record's links). */
export const TaskLinksInputSchema = z.strictObject({
  childSessionId: SessionIdSchema.optional(),
  remoteTaskId: nonEmpty.optional(),
  resourceIds: z.array(nonEmpty).optional(),
})

/** The task record. */
export const SessionTaskSchema = z.strictObject({
  id: TaskIdSchema,
  sessionId: SessionIdSchema,
  rootSessionId: SessionIdSchema.optional(),
  kind: nonEmpty,
  displayName: nonEmpty,
  spec: JsonValueSchema,
  state: SessionTaskStateSchema,
  stateChangedAt: isoInstant,
  stateDetail: str().optional(),
  progress: TaskProgressSchema.optional(),
  inputRequest: TaskInputRequestSchema.optional(),
  cancelRequestedAt: isoInstant.optional(),
  summary: str().optional(),
  resultPath: str().optional(),
  result: JsonValueSchema.optional(),
  metadata: JsonObjectSchema.optional(),
  artifacts: z.array(TaskArtifactSchema),
  error: TaskErrorSchema.optional(),
  attempt: positive,
  workerId: nonEmpty.optional(),
  heartbeatAt: isoInstant.optional(),
  deadlineAt: isoInstant.optional(),
  expiresAt: isoInstant.optional(),
  links: TaskLinksSchema,
  wakePolicy: TaskWakePolicySchema,
  createdAt: isoInstant,
  startedAt: isoInstant.optional(),
  finishedAt: isoInstant.optional(),
  updatedAt: isoInstant,
})

/** Input of `registry.create`. */
export const CreateSessionTaskSchema = z.strictObject({
  sessionId: SessionIdSchema,
  id: CallerTaskIdSchema.optional(),
  kind: nonEmpty,
  displayName: nonEmpty,
  spec: JsonValueSchema.optional(),
  state: SessionTaskStateSchema.optional(),
  links: TaskLinksInputSchema.optional(),
  wakePolicy: TaskWakePolicySchema.optional(),
  rootSessionId: SessionIdSchema.optional(),
  deadlineAt: isoInstant.transform(normalizeIso).optional(),
  expiresAt: isoInstant.transform(normalizeIso).optional(),
  stateChangedAt: isoInstant.transform(normalizeIso).optional(),
  metadata: JsonObjectSchema.optional(),
  result: JsonValueSchema.optional(),
})

/** A partial update; absent fields stay unchanged. */
export const SessionTaskUpdateSchema = z.strictObject({
  state: SessionTaskStateSchema.optional(),
  stateDetail: str().optional(),
  progress: TaskProgressSchema.optional(),
  inputRequest: TaskInputRequestSchema.optional(),
  summary: str().optional(),
  resultPath: str().optional(),
  result: JsonValueSchema.optional(),
  metadata: JsonObjectSchema.optional(),
  stateChangedAt: isoInstant.transform(normalizeIso).optional(),
  artifacts: z.array(TaskArtifactSchema).optional(),
  appendArtifact: TaskArtifactSchema.optional(),
  error: TaskErrorSchema.optional(),
  links: TaskLinksInputSchema.optional(),
  workerId: nonEmpty.optional(),
  // Normalised so that stored heartbeats compare correctly as strings.
  heartbeatAt: isoInstant.transform(normalizeIso).optional(),
  deadlineAt: isoInstant.transform(normalizeIso).optional(),
  expiresAt: isoInstant.transform(normalizeIso).optional(),
  expectedAttempt: positive.optional(),
  expectedState: SessionTaskStateSchema.optional(),
  incrementAttempt: z.boolean().optional(),
})

/** Filter of `registry.list`; fields combine with AND. */
export const SessionTaskFilterSchema = z.strictObject({
  kind: nonEmpty.optional(),
  state: SessionTaskStateSchema.optional(),
})

/** One part of a message: text, or any JSON data. */
export const TaskMessagePartSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: str() }),
  z.strictObject({ type: z.literal('data'), data: JsonValueSchema }),
])

/** A message's parts (at least one). @internal */
export const messageContent = z.array(TaskMessagePartSchema).min(1, 'must have at least one part')

/** A stored message between a session and one of its tasks. */
export const TaskMessageSchema = z.strictObject({
  id: TaskIdSchema,
  taskId: TaskIdSchema,
  direction: TaskMessageDirectionSchema,
  content: messageContent,
  inReplyTo: InputRequestIdSchema.optional(),
  createdAt: isoInstant,
})

/** Input of `registry.recordMessage`. */
export const NewTaskMessageSchema = z.strictObject({
  // Caller-chosen (idempotent); the generated ids' prefix stays theirs.
  id: TaskIdSchema.refine(
    (id) => !id.startsWith('tmsg_'),
    "must not start with 'tmsg_'",
  ).optional(),
  direction: TaskMessageDirectionSchema,
  content: messageContent,
  inReplyTo: InputRequestIdSchema.optional(),
  expectedAttempt: positive.optional(),
})

/** Why a wake was raised. */
export const TaskWakeTransitionSchema = z.enum(['terminal', 'awaiting_input', 'message'])

/** A nudge for the session's agent: something it asked to hear about happened. */
export const TaskWakeSchema = z.strictObject({
  sessionId: SessionIdSchema,
  taskId: TaskIdSchema,
  transition: TaskWakeTransitionSchema,
  text: str(),
  createdAt: isoInstant,
})

/** Any function: listeners, clocks, factories. */
export type AnyFunction = (...args: never[]) => unknown

/** Any function (listeners, clocks, factories). */
export const FunctionSchema = z.custom<AnyFunction>(
  (value) => typeof value === 'function',
  'must be a function',
)

/** Options of `new InMemorySessionTaskRegistry()`. */
export const RegistryOptionsSchema = z.strictObject({
  now: FunctionSchema.optional(),
  onListenerError: FunctionSchema.optional(),
  onEventGap: FunctionSchema.optional(),
  replayBuffer: count.optional(),
  replayBudget: count.optional(),
})

/** Options of `registry.stream`. */
export const StreamOptionsSchema = z.strictObject({
  since: count.optional(),
  signal: z.instanceof(AbortSignal, { message: 'must be an AbortSignal' }).optional(),
  maxQueue: positive.optional(),
})

/** A task executor plugin: a kind and a factory. */
export const TaskExecutorPluginSchema = z.object({
  kind: nonEmpty,
  executor: FunctionSchema,
})

/** A positive whole number of milliseconds. */
export const DurationMsSchema = positive

/** A task kind: any non-empty string. */
export const TaskKindSchema = nonEmpty

/** Input of `registry.publishOutput`: one chunk of live output. */
export const TaskOutputSchema = z.strictObject({
  stream: nonEmpty,
  delta: str(),
  expectedAttempt: positive.optional(),
})

/** An attempt number: a positive integer. */
export const AttemptSchema = positive

/** A message as a sink posts it (direction, when given, must be outbound). */
export const NewSinkMessageSchema = z.strictObject({
  direction: z.literal('outbound', 'a sink posts outbound messages only').optional(),
  content: messageContent,
  inReplyTo: InputRequestIdSchema.optional(),
  expectedAttempt: positive.optional(),
})

// Compile-time guard against drift: each hand-written type must be exactly
// (same keys, optionality, readonly-ness and field types) what its schema
// parses to. An error below is on the line of the pair that differs; compare
// the two in an editor to see which field.
type Exactly<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Parsed<S extends z.ZodType> = DeepReadonly<z.output<S>>
type Expect<T extends true> = T
/** Compiles only while every named type matches its schema. @internal */
export type SchemaDrift = [
  TaskStep: Expect<Exactly<TaskStep, Parsed<typeof TaskStepSchema>>>,
  TaskProgress: Expect<Exactly<TaskProgress, Parsed<typeof TaskProgressSchema>>>,
  TaskInputRequest: Expect<Exactly<TaskInputRequest, Parsed<typeof TaskInputRequestSchema>>>,
  TaskError: Expect<Exactly<TaskError, Parsed<typeof TaskErrorSchema>>>,
  TaskArtifact: Expect<Exactly<TaskArtifact, Parsed<typeof TaskArtifactSchema>>>,
  TaskLinks: Expect<Exactly<TaskLinks, Parsed<typeof TaskLinksSchema>>>,
  TaskLinksInput: Expect<Exactly<TaskLinksInput, Parsed<typeof TaskLinksInputSchema>>>,
  SessionTask: Expect<Exactly<SessionTask, Parsed<typeof SessionTaskSchema>>>,
  CreateSessionTask: Expect<Exactly<CreateSessionTask, Parsed<typeof CreateSessionTaskSchema>>>,
  SessionTaskUpdate: Expect<Exactly<SessionTaskUpdate, Parsed<typeof SessionTaskUpdateSchema>>>,
  SessionTaskFilter: Expect<Exactly<SessionTaskFilter, Parsed<typeof SessionTaskFilterSchema>>>,
  TaskMessagePart: Expect<Exactly<TaskMessagePart, Parsed<typeof TaskMessagePartSchema>>>,
  TaskMessage: Expect<Exactly<TaskMessage, Parsed<typeof TaskMessageSchema>>>,
  NewTaskMessage: Expect<Exactly<NewTaskMessage, Parsed<typeof NewTaskMessageSchema>>>,
  TaskWakeTransition: Expect<Exactly<TaskWakeTransition, Parsed<typeof TaskWakeTransitionSchema>>>,
  TaskWake: Expect<Exactly<TaskWake, Parsed<typeof TaskWakeSchema>>>,
  TaskOutput: Expect<Exactly<TaskOutput, Parsed<typeof TaskOutputSchema>>>,
]
