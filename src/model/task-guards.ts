import type { JsonValue } from './json.js'
import { isTerminalState, type SessionTaskState, type TerminalTaskState } from './state.js'
import type { SessionTask } from './task.js'

// What the lifecycle guarantees per state (SPEC 2 and 3, rule 5): a task that
// is not queued has left queued (or was created in another state), so it has
// `startedAt`; a finished one also has `finishedAt`. Both are stamped once and
// never cleared. `SessionTask` itself stays one object type, not a union on
// `state`, so code that builds, spreads or assigns records keeps compiling;
// these guards narrow where a caller wants the stamps.

/** A finished task: in a terminal state, with `startedAt` and `finishedAt`. */
export type TerminalSessionTask<Spec = JsonValue> = SessionTask<Spec> & {
  readonly state: TerminalTaskState
  readonly startedAt: string
  readonly finishedAt: string
}

/**
 * A task in one of the states `S`, with the stamps the lifecycle guarantees
 * there: `startedAt` in every state but `queued`, and `finishedAt` as well in
 * the terminal ones.
 */
export type SessionTaskIn<
  S extends SessionTaskState,
  Spec = JsonValue,
> = S extends TerminalTaskState
  ? TerminalSessionTask<Spec> & { readonly state: S }
  : S extends 'queued'
    ? SessionTask<Spec> & { readonly state: S }
    : SessionTask<Spec> & { readonly state: S; readonly startedAt: string }

// Checked rather than assumed: every registry record holds the stamps, but a
// record converted with `fromWireTask` carries whatever its source sent.
const hasStamps = (task: SessionTask<unknown>): boolean =>
  task.state === 'queued' ||
  (task.startedAt !== undefined && (!isTerminalState(task.state) || task.finishedAt !== undefined))

/**
 * True when the task is finished (succeeded, failed or canceled); narrows it
 * to {@link TerminalSessionTask}, so `task.finishedAt` is a string. False for
 * a finished record without its stamps, which only `fromWireTask` can give.
 */
export function isTerminalTask<Spec>(task: SessionTask<Spec>): task is TerminalSessionTask<Spec> {
  return isTerminalState(task.state) && hasStamps(task)
}

/**
 * True when the task is in one of `states`; narrows it to
 * {@link SessionTaskIn} (`isTaskInState(task, 'running', 'awaiting_input')`
 * gives `startedAt: string`). Like {@link isTerminalTask}, false for a record
 * without the stamps of its state.
 */
export function isTaskInState<Spec, S extends SessionTaskState>(
  task: SessionTask<Spec>,
  ...states: readonly [S, ...S[]]
): task is SessionTaskIn<S, Spec> {
  return (states as readonly SessionTaskState[]).includes(task.state) && hasStamps(task)
}
