import { generateTaskId } from '../model/ids.js'
import type {
  CreateSessionTask,
  Draft,
  SessionTask,
  TaskLinks,
  TaskLinksInput,
} from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { isoString } from '../model/time.js'
import { buildTask } from './record.js'

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
  const links = {} as Draft<TaskLinks>
  const child = input.childSessionId ?? base.childSessionId
  const remote = input.remoteTaskId ?? base.remoteTaskId
  if (child !== undefined) links.childSessionId = child
  if (remote !== undefined) links.remoteTaskId = remote
  links.resourceIds =
    input.resourceIds !== undefined && input.resourceIds.length > 0
      ? mergeResourceIds(base.resourceIds, input.resourceIds)
      : base.resourceIds
  return links
}

// Records are frozen and never mutated, so every task without artifacts or
// links shares these instead of holding empty containers of its own.
const NO_ARTIFACTS: SessionTask['artifacts'] = Object.freeze([])
const NO_RESOURCES: readonly string[] = Object.freeze([])
const NO_LINKS: TaskLinks = Object.freeze({ resourceIds: NO_RESOURCES })

function initialLinks(input: TaskLinksInput | undefined): TaskLinks {
  if (
    input === undefined ||
    (input.childSessionId === undefined &&
      input.remoteTaskId === undefined &&
      (input.resourceIds === undefined || input.resourceIds.length === 0))
  ) {
    return NO_LINKS
  }
  return mergeLinks(NO_LINKS, input)
}

/**
 * Builds a new record from creation input (trusted: validate with
 * `CreateSessionTaskSchema` first). Starts at attempt 1 with no artifacts.
 */
export function newSessionTask(input: CreateSessionTask, now: Date): SessionTask {
  const at = isoString(now)
  const state = input.state ?? 'queued'
  return buildTask({
    id: input.id ?? generateTaskId(),
    sessionId: input.sessionId,
    rootSessionId: input.rootSessionId,
    kind: input.kind,
    displayName: input.displayName,
    spec: input.spec ?? null,
    state,
    stateChangedAt: input.stateChangedAt ?? at,
    stateDetail: undefined,
    progress: undefined,
    inputRequest: undefined,
    cancelRequestedAt: undefined,
    summary: undefined,
    resultPath: undefined,
    result: input.result,
    metadata: input.metadata,
    artifacts: NO_ARTIFACTS,
    error: undefined,
    attempt: 1,
    workerId: undefined,
    heartbeatAt: undefined,
    deadlineAt: input.deadlineAt,
    expiresAt: input.expiresAt,
    links: initialLinks(input.links),
    wakePolicy: input.wakePolicy ?? 'silent',
    createdAt: at,
    startedAt: state === 'queued' ? undefined : at,
    finishedAt: isTerminalState(state) ? at : undefined,
    updatedAt: at,
  })
}
