import type { JsonValue } from './json.js'
import type { TaskMessageDirection } from './state.js'

// Messages, wakes and output chunks, written out by hand so that hovers and
// type errors name them; schemas.ts checks each against its zod schema.

/** One part of a message: text, or any JSON data. */
export type TaskMessagePart =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'data'; readonly data: JsonValue }

/** A stored message between a session and one of its tasks. */
export type TaskMessage = {
  /** `tmsg_...` unless the sender chose one. */
  readonly id: string
  readonly taskId: string
  /** `inbound` is session -> task, `outbound` is task -> session. */
  readonly direction: TaskMessageDirection
  /** At least one part. */
  readonly content: readonly TaskMessagePart[]
  /** The input request this message answers. */
  readonly inReplyTo?: string | undefined
  readonly createdAt: string
}

/** Input of `registry.recordMessage`. */
export type NewTaskMessage = {
  /** Caller-chosen and idempotent per task; must not start with `tmsg_`. */
  readonly id?: string | undefined
  readonly direction: TaskMessageDirection
  readonly content: readonly TaskMessagePart[]
  readonly inReplyTo?: string | undefined
  /** Fence on the task's attempt; never stored. */
  readonly expectedAttempt?: number | undefined
}

/** Why a wake was raised. */
export type TaskWakeTransition = 'terminal' | 'awaiting_input' | 'message'

/** A nudge for the session's agent: something it asked to hear about happened. */
export type TaskWake = {
  readonly sessionId: string
  readonly taskId: string
  readonly transition: TaskWakeTransition
  /** A line for the agent's context. */
  readonly text: string
  readonly createdAt: string
}

/** A live output chunk (`task.output`), never stored. */
export type TaskOutput = {
  /** Which stream (`stdout`, `log`, ...). */
  readonly stream: string
  readonly delta: string
  /** Fence on the task's attempt. */
  readonly expectedAttempt?: number | undefined
}
