/** Every lifecycle state, in lifecycle order. */
export const SESSION_TASK_STATES = [
  'queued',
  'running',
  'awaiting_input',
  'succeeded',
  'failed',
  'canceled',
] as const

/** Lifecycle state of a task. Timeouts, rejections and orphans are `failed` with an `error.kind`. */
export type SessionTaskState = (typeof SESSION_TASK_STATES)[number]

/** The states a task never leaves. */
export const TERMINAL_TASK_STATES = ['succeeded', 'failed', 'canceled'] as const

/** A state a task never leaves. */
export type TerminalTaskState = (typeof TERMINAL_TASK_STATES)[number]

/** True when `state` is succeeded, failed or canceled. */
export function isTerminalState(state: SessionTaskState): state is TerminalTaskState {
  return state === 'succeeded' || state === 'failed' || state === 'canceled'
}

/** Parses a wire string strictly: anything that is not exactly a state gives `undefined`. */
export function parseTaskState(state: string): SessionTaskState | undefined {
  return (SESSION_TASK_STATES as readonly string[]).includes(state)
    ? (state as SessionTaskState)
    : undefined
}

/** When a task's activity wakes its session's agent, quietest first. */
export const TASK_WAKE_POLICIES = ['silent', 'on_terminal', 'on_activity'] as const

/** When a task's activity wakes its session's agent (default `silent`). */
export type TaskWakePolicy = (typeof TASK_WAKE_POLICIES)[number]

/** Message directions: `inbound` is session -> task, `outbound` is task -> session. */
export const TASK_MESSAGE_DIRECTIONS = ['inbound', 'outbound'] as const

/** Direction of a task message. */
export type TaskMessageDirection = (typeof TASK_MESSAGE_DIRECTIONS)[number]

/** Status values of one progress step. */
export const TASK_STEP_STATUSES = ['pending', 'in_progress', 'done', 'skipped'] as const

/** Status of one progress step. */
export type TaskStepStatus = (typeof TASK_STEP_STATUSES)[number]

/** A child agent session working for its parent. */
export const TASK_KIND_SUBAGENT = 'subagent'
/** An agent outside this runtime (for example over A2A). */
export const TASK_KIND_EXTERNAL_AGENT = 'external_agent'
/** A tool call that runs in the background. */
export const TASK_KIND_BACKGROUND_TOOL = 'background_tool'
/** Long-lived: stays running until its schedule is exhausted or it is canceled. */
export const TASK_KIND_MONITOR = 'monitor'
/** A whole session run as a task. */
export const TASK_KIND_SESSION = 'session'
/** Work handed over to another agent. */
export const TASK_KIND_AGENT_HANDOFF = 'agent_handoff'
