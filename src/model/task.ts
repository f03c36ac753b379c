import type { JsonValue } from './json.js'
import type { DeepReadonly } from './readonly.js'
import type { SessionTaskState, TaskStepStatus, TaskWakePolicy } from './state.js'

// The record and its inputs, written out by hand so that hovers and type
// errors name them. schemas.ts checks at compile time that each one is
// exactly what its zod schema parses to, so the two cannot drift apart.
// Optional fields are `?: T | undefined` because that is what zod infers.
// Type aliases, not interfaces: an object type alias keeps its name in
// messages and, unlike an interface, stays assignable to index-signature
// types (`Record<string, unknown>`, `JsonValue`), as records were before.

/** A JSON object: task and artifact `metadata`. */
export type JsonObject = { readonly [key: string]: JsonValue }

/** One named step of a task's progress. */
export type TaskStep = {
  readonly title: string
  readonly status: TaskStepStatus
}

/** Progress of a task; an update replaces the whole object. */
export type TaskProgress = {
  readonly current?: number | undefined
  readonly total?: number | undefined
  readonly unit?: string | undefined
  readonly label?: string | undefined
  readonly steps?: readonly TaskStep[] | undefined
}

/** A structured ask from a task that needs input to continue. */
export type TaskInputRequest = {
  readonly id: string
  readonly prompt: string
  readonly expected?: JsonValue | undefined
}

/** Why a task failed; `kind` is the machine reason (`timeout`, `orphaned`, ...). */
export type TaskError = {
  readonly kind: string
  readonly message: string
}

/** Something a task produced: a typed link (`path`, `url`) or content (`text`, `data`). */
export type TaskArtifact = {
  /** Appending an artifact with the same id replaces it in place. */
  readonly id?: string | undefined
  readonly name: string
  /** `file`, `url`, `session`, `pr`, ... */
  readonly type: string
  readonly description?: string | undefined
  readonly mediaType?: string | undefined
  readonly path?: string | undefined
  readonly url?: string | undefined
  readonly text?: string | undefined
  readonly data?: JsonValue | undefined
  readonly metadata?: JsonObject | undefined
}

/** Cross-references on a record (`resourceIds` always present, `[]` when none). */
export type TaskLinks = {
  readonly childSessionId?: string | undefined
  readonly remoteTaskId?: string | undefined
  readonly resourceIds: readonly string[]
}

/** Cross-references as given on create or update (merged into the record's links). */
export type TaskLinksInput = {
  readonly childSessionId?: string | undefined
  readonly remoteTaskId?: string | undefined
  readonly resourceIds?: readonly string[] | undefined
}

/**
 * The task record: a deeply frozen snapshot, yours to keep. `Spec` types
 * `spec` for the executor and readers of one kind (`SessionTask<ReviewSpec>`);
 * it defaults to any JSON value. Declare a spec type readonly (or wrap it in
 * {@link DeepReadonly}): the record is frozen at run time.
 */
export type SessionTask<Spec = JsonValue> = {
  readonly id: string
  readonly sessionId: string
  readonly rootSessionId?: string | undefined
  /** Free-form; picks the executor. */
  readonly kind: string
  readonly displayName: string
  /** What the executor of `kind` needs to do the work (`null` when none was given). */
  // As given, not wrapped in DeepReadonly: a wrapper would hide the name in
  // hovers and make TypeScript compare SessionTask<A> to SessionTask<B>
  // by structure. JsonValue is readonly already; records are frozen.
  readonly spec: Spec
  readonly state: SessionTaskState
  /** When the task entered its current state. */
  readonly stateChangedAt: string
  readonly stateDetail?: string | undefined
  readonly progress?: TaskProgress | undefined
  /** Present while the task is `awaiting_input` because it asked something. */
  readonly inputRequest?: TaskInputRequest | undefined
  readonly cancelRequestedAt?: string | undefined
  readonly summary?: string | undefined
  readonly resultPath?: string | undefined
  /** The machine result. */
  readonly result?: JsonValue | undefined
  readonly metadata?: JsonObject | undefined
  readonly artifacts: readonly TaskArtifact[]
  readonly error?: TaskError | undefined
  /** Starts at 1; writes fenced on an older attempt are dropped. */
  readonly attempt: number
  readonly workerId?: string | undefined
  readonly heartbeatAt?: string | undefined
  /** When the supervisor ends the task. */
  readonly deadlineAt?: string | undefined
  /** After this instant the task is absent to every read. */
  readonly expiresAt?: string | undefined
  readonly links: TaskLinks
  readonly wakePolicy: TaskWakePolicy
  readonly createdAt: string
  /** Stamped once, when the task leaves `queued` (or at create in any other state). */
  readonly startedAt?: string | undefined
  /** Stamped once, when the task enters a terminal state. */
  readonly finishedAt?: string | undefined
  readonly updatedAt: string
}

/** Input of `registry.create`: `sessionId`, `kind` and `displayName` are required. */
export type CreateSessionTask = {
  readonly sessionId: string
  /** A caller id (1-128 of A-Z, a-z, 0-9, _ or -): creating it again returns the stored task. */
  readonly id?: string | undefined
  readonly kind: string
  readonly displayName: string
  readonly spec?: JsonValue | undefined
  /** Default `queued`; any state is allowed. */
  readonly state?: SessionTaskState | undefined
  readonly links?: TaskLinksInput | undefined
  readonly wakePolicy?: TaskWakePolicy | undefined
  readonly rootSessionId?: string | undefined
  readonly deadlineAt?: string | undefined
  readonly expiresAt?: string | undefined
  readonly stateChangedAt?: string | undefined
  readonly metadata?: JsonObject | undefined
  readonly result?: JsonValue | undefined
}

/** A partial update of a record; absent fields stay unchanged. */
export type SessionTaskUpdate = {
  readonly state?: SessionTaskState | undefined
  readonly stateDetail?: string | undefined
  readonly progress?: TaskProgress | undefined
  /** Forces `awaiting_input` on a task that is not finished. */
  readonly inputRequest?: TaskInputRequest | undefined
  readonly summary?: string | undefined
  readonly resultPath?: string | undefined
  readonly result?: JsonValue | undefined
  /** Replaces the metadata whole. */
  readonly metadata?: JsonObject | undefined
  readonly stateChangedAt?: string | undefined
  /** Replaces the list (`[]` clears it). */
  readonly artifacts?: readonly TaskArtifact[] | undefined
  /** Appended after `artifacts`, or replaces the artifact with the same id. */
  readonly appendArtifact?: TaskArtifact | undefined
  readonly error?: TaskError | undefined
  /** Merged into the record's links. */
  readonly links?: TaskLinksInput | undefined
  readonly workerId?: string | undefined
  readonly heartbeatAt?: string | undefined
  readonly deadlineAt?: string | undefined
  readonly expiresAt?: string | undefined
  /** Fence: the whole update is dropped unless the task is on this attempt. */
  readonly expectedAttempt?: number | undefined
  /** Compare-and-set: the whole update is dropped unless the task is in this state. */
  readonly expectedState?: SessionTaskState | undefined
  readonly incrementAttempt?: boolean | undefined
}

/** Filter of `registry.list`; fields combine with AND. */
export type SessionTaskFilter = {
  readonly kind?: string | undefined
  readonly state?: SessionTaskState | undefined
}
