import { generateTaskId } from './ids.js'
import type { CreateSessionTask, SessionTask, TaskLinks, TaskLinksInput } from './schemas.js'
import { isTerminalState } from './state.js'

/** Appends `extra` to `base` without duplicates, first occurrence first. */
export function mergeResourceIds(base: readonly string[], extra: readonly string[]): string[] {
  const seen = new Set(base)
  const out = base.slice()
  for (const id of extra) {
    if (!seen.has(id)) {
      seen.add(id)
      out.push(id)
    }
  }
  return out
}

/** Merges input links into record links: ids overwrite when given, resource ids append. */
export function mergeLinks(base: TaskLinks, input: TaskLinksInput): TaskLinks {
  const links: TaskLinks = { ...base, resourceIds: base.resourceIds }
  if (input.childSessionId !== undefined) links.childSessionId = input.childSessionId
  if (input.remoteTaskId !== undefined) links.remoteTaskId = input.remoteTaskId
  if (input.resourceIds !== undefined && input.resourceIds.length > 0) {
    links.resourceIds = mergeResourceIds(base.resourceIds, input.resourceIds)
  }
  return links
}

/**
 * Builds a new record from creation input (trusted: validate with
 * `CreateSessionTaskSchema` first). Starts at attempt 1 with no artifacts.
 */
export function newSessionTask(input: CreateSessionTask, now: Date): SessionTask {
  const at = now.toISOString()
  const state = input.state ?? 'queued'
  const task: SessionTask = {
    id: input.id ?? generateTaskId(),
    sessionId: input.sessionId,
    kind: input.kind,
    displayName: input.displayName,
    spec: input.spec ?? null,
    state,
    artifacts: [],
    attempt: 1,
    links: mergeLinks({ resourceIds: [] }, input.links ?? {}),
    wakePolicy: input.wakePolicy ?? 'silent',
    createdAt: at,
    updatedAt: at,
  }
  if (input.rootSessionId !== undefined) task.rootSessionId = input.rootSessionId
  if (state !== 'queued') task.startedAt = at
  if (isTerminalState(state)) task.finishedAt = at
  return task
}
