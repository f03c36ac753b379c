import { jsonEqual } from '../model/json.js'
import type { SessionTask, SessionTaskUpdate, TaskLinks } from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { isoString } from '../model/time.js'
import { mergeLinks } from './create.js'
import { buildTask, fieldsOf } from './record.js'

/** What {@link applyTaskUpdateResult} decided, besides the new record. */
export type TaskUpdateOutcome = {
  /** The resulting record; the input record itself when the update was dropped. */
  task: SessionTask
  /** `fenced` (rule 1, attempt or expected state) or `terminal` (rules 2, 2b) when the whole update was dropped. */
  dropped?: 'fenced' | 'terminal'
  /** True when anything but `updatedAt` differs from the input record. */
  changed: boolean
}

type Json = Parameters<typeof jsonEqual>[0]
const same = (a: unknown, b: unknown): boolean => jsonEqual(a as Json, b as Json)

function sameLinks(a: TaskLinks, b: TaskLinks): boolean {
  return (
    a.childSessionId === b.childSessionId &&
    a.remoteTaskId === b.remoteTaskId &&
    same(a.resourceIds, b.resourceIds)
  )
}

/**
 * Applies SPEC 3 and reports whether the update was dropped or changed
 * anything. Pure: the input record is never mutated.
 */
export function applyTaskUpdateResult(
  task: SessionTask,
  update: SessionTaskUpdate,
  now: Date,
): TaskUpdateOutcome {
  // 1. Fences: the attempt, and (SPEC 12.2) the expected state, a compare-and-set.
  if (update.expectedAttempt !== undefined && update.expectedAttempt !== task.attempt) {
    return { task, dropped: 'fenced', changed: false }
  }
  if (update.expectedState !== undefined && update.expectedState !== task.state) {
    return { task, dropped: 'fenced', changed: false }
  }
  const wasTerminal = isTerminalState(task.state)
  // 2. Terminal finality: a finished task only takes content, never another state.
  if (wasTerminal && update.state !== undefined && update.state !== task.state) {
    return { task, dropped: 'terminal', changed: false }
  }
  // 2b. ... and never a new attempt: a re-attach or an orphan bump that lost
  // the race to a finishing worker must not touch the finished task.
  if (wasTerminal && update.incrementAttempt === true) {
    return { task, dropped: 'terminal', changed: false }
  }
  const next = fieldsOf(task)
  let changed = false

  // 3. Attempt.
  if (update.incrementAttempt === true) {
    next.attempt = task.attempt + 1
    changed = true
  }

  // 4. An input request forces awaiting_input, whatever state was asked for.
  let nextState = update.state
  if (update.inputRequest !== undefined && !wasTerminal) {
    if (!same(task.inputRequest, update.inputRequest)) changed = true
    next.inputRequest = update.inputRequest
    nextState = 'awaiting_input'
  }

  const at = isoString(now)
  // 5. Transition.
  if (nextState !== undefined && !wasTerminal && nextState !== task.state) {
    next.state = nextState
    next.stateChangedAt = at
    changed = true
    if (task.state === 'queued' && next.startedAt === undefined) next.startedAt = at
    if (isTerminalState(nextState) && next.finishedAt === undefined) next.finishedAt = at
    if (nextState !== 'awaiting_input') next.inputRequest = undefined
  }

  // 6. Overwrites; text fields can be overwritten but never cleared.
  if (update.stateDetail !== undefined && update.stateDetail !== task.stateDetail) {
    next.stateDetail = update.stateDetail
    changed = true
  }
  if (update.progress !== undefined && !same(update.progress, task.progress)) {
    next.progress = update.progress
    changed = true
  }
  if (update.summary !== undefined && update.summary !== task.summary) {
    next.summary = update.summary
    changed = true
  }
  if (update.resultPath !== undefined && update.resultPath !== task.resultPath) {
    next.resultPath = update.resultPath
    changed = true
  }
  if (update.result !== undefined && !same(update.result, task.result)) {
    next.result = update.result
    changed = true
  }
  if (update.metadata !== undefined && !same(update.metadata, task.metadata)) {
    next.metadata = update.metadata
    changed = true
  }
  if (update.error !== undefined && !same(update.error, task.error)) {
    next.error = update.error
    changed = true
  }
  if (update.workerId !== undefined && update.workerId !== task.workerId) {
    next.workerId = update.workerId
    changed = true
  }
  if (update.heartbeatAt !== undefined && update.heartbeatAt !== task.heartbeatAt) {
    next.heartbeatAt = update.heartbeatAt
    changed = true
  }
  if (update.deadlineAt !== undefined && update.deadlineAt !== task.deadlineAt) {
    next.deadlineAt = update.deadlineAt
    changed = true
  }
  if (update.expiresAt !== undefined && update.expiresAt !== task.expiresAt) {
    next.expiresAt = update.expiresAt
    changed = true
  }
  // An explicit stamp wins over the transition's `now` (a bridge replaying a remote status).
  if (update.stateChangedAt !== undefined && update.stateChangedAt !== next.stateChangedAt) {
    next.stateChangedAt = update.stateChangedAt
    changed = true
  }

  // 7. Artifacts: replace, then append (in place over an artifact with the same id).
  if (update.artifacts !== undefined || update.appendArtifact !== undefined) {
    const artifacts =
      update.artifacts !== undefined ? update.artifacts.slice() : task.artifacts.slice()
    const added = update.appendArtifact
    if (added !== undefined) {
      const at = added.id === undefined ? -1 : artifacts.findIndex((a) => a.id === added.id)
      if (at === -1) artifacts.push(added)
      else artifacts[at] = added
    }
    if (!same(artifacts, task.artifacts)) {
      next.artifacts = artifacts
      changed = true
    }
  }

  // 8. Links.
  if (update.links !== undefined) {
    const links = mergeLinks(task.links, update.links)
    if (!sameLinks(links, task.links)) {
      next.links = links
      changed = true
    }
  }

  // 9. Every update that was not dropped touches updatedAt.
  next.updatedAt = at
  return { task: buildTask(next), changed }
}

/**
 * Applies a partial update under the lifecycle rules (SPEC 3) and returns the
 * new record. A fenced or terminal-dropped update returns the input record
 * unchanged. Pure and trusting: validate with `SessionTaskUpdateSchema` first.
 */
export function applyTaskUpdate(
  task: SessionTask,
  update: SessionTaskUpdate,
  now: Date,
): SessionTask {
  return applyTaskUpdateResult(task, update, now).task
}
