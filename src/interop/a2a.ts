import * as z from 'zod'
import { SessionTaskStateSchema, type TaskError, TaskErrorSchema } from '../model/schemas.js'
import type { SessionTaskState } from '../model/state.js'
import { parseInput } from '../model/validate.js'

/** The A2A protocol task states (v0.3 JSON spelling), in protocol order. */
export const A2A_TASK_STATES = [
  'submitted',
  'working',
  'input-required',
  'completed',
  'canceled',
  'failed',
  'rejected',
  'auth-required',
  'unknown',
] as const

/** An A2A protocol task state (v0.3 JSON spelling). */
export type A2ATaskState = (typeof A2A_TASK_STATES)[number]

/** What a remote A2A state means here: a task state, plus an error for `rejected`. */
export type A2AStateMapping = { state: SessionTaskState; error?: TaskError }

const REJECTED_MESSAGE = 'rejected by the remote agent'

// Kebab-case names are the A2A v0.3 JSON-RPC values. The TASK_STATE_* names
// and the numbers are the protobuf enum of A2A v1.0 as @a2a-js/sdk 1.x types
// it (`TaskState.TASK_STATE_WORKING === 2`, proto JSON "TASK_STATE_WORKING");
// the A2A v0.3 gRPC binding spells the cancelled state with two Ls.
// A Map, so that names such as "constructor" or "__proto__" never match.
const KNOWN: ReadonlyMap<string | number, A2ATaskState> = new Map<string | number, A2ATaskState>([
  ...A2A_TASK_STATES.map((s) => [s, s] as const),
  ['TASK_STATE_UNSPECIFIED', 'unknown'],
  ['TASK_STATE_SUBMITTED', 'submitted'],
  ['TASK_STATE_WORKING', 'working'],
  ['TASK_STATE_COMPLETED', 'completed'],
  ['TASK_STATE_FAILED', 'failed'],
  ['TASK_STATE_CANCELED', 'canceled'],
  ['TASK_STATE_CANCELLED', 'canceled'],
  ['TASK_STATE_INPUT_REQUIRED', 'input-required'],
  ['TASK_STATE_REJECTED', 'rejected'],
  ['TASK_STATE_AUTH_REQUIRED', 'auth-required'],
  [0, 'unknown'],
  [1, 'submitted'],
  [2, 'working'],
  [3, 'completed'],
  [4, 'failed'],
  [5, 'canceled'],
  [6, 'input-required'],
  [7, 'rejected'],
  [8, 'auth-required'],
])

const TO_SESSION: Readonly<Record<Exclude<A2ATaskState, 'unknown'>, SessionTaskState>> = {
  submitted: 'queued',
  working: 'running',
  'input-required': 'awaiting_input',
  'auth-required': 'awaiting_input',
  completed: 'succeeded',
  canceled: 'canceled',
  failed: 'failed',
  rejected: 'failed',
}

const TO_A2A: Readonly<Record<SessionTaskState, A2ATaskState>> = {
  queued: 'submitted',
  running: 'working',
  awaiting_input: 'input-required',
  succeeded: 'completed',
  canceled: 'canceled',
  failed: 'failed',
}

const A2AStateInputSchema = z.unknown().transform((value, ctx): A2AStateMapping => {
  const known =
    typeof value === 'string' || typeof value === 'number' ? KNOWN.get(value) : undefined
  if (known === undefined) {
    const shown =
      typeof value === 'string'
        ? JSON.stringify(value)
        : typeof value === 'number' || value === null
          ? String(value)
          : typeof value
    ctx.addIssue({
      code: 'custom',
      input: value,
      message: `must be an A2A task state such as "working" or "TASK_STATE_WORKING", got ${shown}`,
    })
    return z.NEVER
  }
  if (known === 'unknown') {
    ctx.addIssue({
      code: 'custom',
      input: value,
      message:
        'is "unknown": the remote agent cannot tell the task\'s state, so no task state follows from it',
    })
    return z.NEVER
  }
  const state = TO_SESSION[known]
  return known === 'rejected'
    ? { state, error: { kind: 'rejected', message: REJECTED_MESSAGE } }
    : { state }
})

/**
 * Maps a remote A2A task state to a session task state (and an error for `rejected`).
 *
 * Accepts the v0.3 JSON names (`input-required`), the proto names of
 * `@a2a-js/sdk` 1.x (`TASK_STATE_INPUT_REQUIRED`; also `TASK_STATE_CANCELLED`
 * of the v0.3 gRPC binding) and that SDK's numeric `TaskState` enum values.
 * Exact spelling only. `auth-required` maps to `awaiting_input` (the caller
 * must act before the remote agent goes on); `rejected` maps to `failed` with
 * `error {kind: 'rejected', message: 'rejected by the remote agent'}`.
 *
 * `unknown` (and `TASK_STATE_UNSPECIFIED`, `0`) throws `ValidationError`
 * rather than guessing: failed is terminal here and could never be undone if
 * the remote task is in fact still working, so the caller decides (poll again,
 * or fail the task with its own `error.kind`). Anything else that is not a
 * known state also throws `ValidationError`.
 */
export function fromA2ATaskState(state: string | number): A2AStateMapping {
  return parseInput(A2AStateInputSchema, state, 'A2A task state')
}

const ToA2AInputSchema = z.strictObject({
  state: SessionTaskStateSchema,
  error: TaskErrorSchema.optional(),
})

/**
 * Maps a session task state to its A2A task state (v0.3 JSON spelling).
 *
 * `failed` with `error.kind === 'rejected'` gives `rejected`; every other
 * error leaves `failed` as it is, and the error is ignored for other states.
 * Never returns `auth-required` or `unknown`. Throws `ValidationError` on a
 * state that is not a `SessionTaskState` or a malformed error.
 */
export function toA2ATaskState(state: SessionTaskState, error?: TaskError): A2ATaskState {
  const input = parseInput(ToA2AInputSchema, { state, error }, 'A2A state conversion')
  if (input.state === 'failed' && input.error?.kind === 'rejected') return 'rejected'
  return TO_A2A[input.state]
}
