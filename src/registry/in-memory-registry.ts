import type {
  AllSessionsListener,
  ListenerErrorHandler,
  SessionTaskEmitter,
  SessionTaskListener,
} from '../events/emitter.js'
import { SessionEventHub } from '../events/hub.js'
import { TaskConflictError, TaskNotFoundError } from '../model/errors.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  FunctionSchema,
  type ListMessagesOptions,
  ListMessagesOptionsSchema,
  type ListStaleOptions,
  ListStaleOptionsSchema,
  type NewTaskMessage,
  type PruneOptions,
  PruneOptionsSchema,
  RegistryOptionsSchema,
  SessionIdSchema,
  type SessionTask,
  type SessionTaskFilter,
  SessionTaskFilterSchema,
  type SessionTaskUpdate,
  StreamOptionsSchema,
  type TaskMessage,
  type TaskOutput,
  TaskOutputSchema,
} from '../model/schemas.js'
import { isTerminalState } from '../model/state.js'
import { parseInput } from '../model/validate.js'
import { newSessionTask } from '../rules/create.js'
import { applyTaskUpdateResult } from '../rules/lifecycle.js'
import {
  answersInputRequest,
  newTaskMessage,
  parseNewTaskMessage,
  parseTaskRef,
  parseTaskUpdate,
  withCancelRequested,
} from '../rules/operations.js'
import { toPublicTask } from '../rules/projection.js'
import { cloneMessage, cloneTask } from '../rules/snapshot.js'
import { wakeForMessage, wakeForUpdate } from '../rules/wake.js'
import { createSessionStream, type StreamItem, type StreamOptions } from '../stream/stream.js'
import { MessageLog } from './message-log.js'
import type { SessionTaskRegistry, TaskUpdateResult } from './registry.js'

/** Options of {@link InMemorySessionTaskRegistry}. */
export type InMemorySessionTaskRegistryOptions = {
  /**
   * The clock that stamps records, messages and wakes.
   * @default () => new Date()
   */
  now?: (() => Date) | undefined
  /**
   * Receives errors thrown by event listeners; the operation never fails.
   * @default logs with console.error
   */
  onListenerError?: ListenerErrorHandler | undefined
  /**
   * How many recent events each session keeps for `stream({ since })`.
   * @default 1000
   */
  replayBuffer?: number | undefined
}

type Entry = { task: SessionTask; order: number; messages: MessageLog | undefined }
type SessionData = { tasks: Map<string, Entry>; lastCreatedAt: string; ordered: boolean }

const DEFAULT_SCAN_LIMIT = 100

// Stored records are never mutated (every change builds a new one and every
// reader gets a copy), so a task without artifacts or links can share these
// instead of holding three empty containers of its own.
const NO_ARTIFACTS: SessionTask['artifacts'] = Object.freeze(
  [],
) as unknown as SessionTask['artifacts']
const NO_LINKS: SessionTask['links'] = Object.freeze({
  resourceIds: Object.freeze([]) as unknown as string[],
}) as SessionTask['links']

function internEmpty(task: SessionTask): SessionTask {
  if (task.artifacts.length === 0) task.artifacts = NO_ARTIFACTS
  const links = task.links
  if (
    links.resourceIds.length === 0 &&
    links.childSessionId === undefined &&
    links.remoteTaskId === undefined
  ) {
    task.links = NO_LINKS
  }
  return task
}

const byKey = (a: string | undefined, b: string | undefined) =>
  (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0

/**
 * The embedded default registry: everything in memory, no setup. Lookups by
 * id are O(1), listing a session is O(its tasks), and reading the newest N
 * messages is O(N).
 */
export class InMemorySessionTaskRegistry implements SessionTaskRegistry {
  private readonly tasks = new Map<string, Entry>()
  private readonly sessions = new Map<string, SessionData>()
  private readonly hub: SessionEventHub
  private readonly clock: () => Date
  private insertions = 0

  constructor(options: InMemorySessionTaskRegistryOptions = {}) {
    // Read the validated copy only: a getter must not answer differently twice.
    const o = parseInput(RegistryOptionsSchema, options, 'registry options')
    this.clock = (o.now as (() => Date) | undefined) ?? (() => new Date())
    this.hub = new SessionEventHub({
      onListenerError: o.onListenerError as ListenerErrorHandler | undefined,
      replayBuffer: o.replayBuffer,
    })
  }

  /** The registry's clock. */
  now(): Date {
    return this.clock()
  }

  private entry(sessionId: string, taskId: string): Entry | undefined {
    const entry = this.tasks.get(taskId)
    return entry !== undefined && entry.task.sessionId === sessionId ? entry : undefined
  }

  private ids(sessionId: unknown, taskId: unknown): [string, string] {
    return parseTaskRef(sessionId, taskId)
  }

  /** Inserts a task; a caller id already in this session returns the stored record unchanged. */
  async create(input: CreateSessionTask): Promise<SessionTask> {
    const parsed = parseInput(CreateSessionTaskSchema, input, 'CreateSessionTask')
    if (parsed.id !== undefined) {
      const existing = this.tasks.get(parsed.id)
      if (existing !== undefined) {
        if (existing.task.sessionId === parsed.sessionId) return cloneTask(existing.task)
        throw new TaskConflictError(`task id '${parsed.id}' is already used by another session`)
      }
    }
    let task = newSessionTask(parsed, this.clock())
    // A generated id colliding is ~2^-126; a caller id was checked above.
    while (parsed.id === undefined && this.tasks.has(task.id))
      task = newSessionTask(parsed, this.clock())
    task = internEmpty(task)
    let session = this.sessions.get(task.sessionId)
    if (session === undefined) {
      session = { tasks: new Map(), lastCreatedAt: task.createdAt, ordered: true }
      this.sessions.set(task.sessionId, session)
    }
    if (task.createdAt < session.lastCreatedAt) session.ordered = false
    else session.lastCreatedAt = task.createdAt
    const entry: Entry = { task, order: this.insertions++, messages: undefined }
    this.tasks.set(task.id, entry)
    session.tasks.set(task.id, entry)
    this.hub.emit(task.sessionId, { type: 'task.created', data: task })
    return cloneTask(task)
  }

  /** Applies an update under the lifecycle rules; emits only when the record changed. */
  async update(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<SessionTask | undefined> {
    return this.applyUpdate(sessionId, taskId, update)?.task
  }

  /** Like `update`, and also reports whether the update was applied and changed the record. */
  async updateWithOutcome(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<TaskUpdateResult | undefined> {
    return this.applyUpdate(sessionId, taskId, update)
  }

  private applyUpdate(
    sessionId: unknown,
    taskId: unknown,
    update: unknown,
  ): TaskUpdateResult | undefined {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseTaskUpdate(update)
    const entry = this.entry(sid, tid)
    if (entry === undefined) return undefined
    const result = this.commit(entry, parsed)
    this.hub.flush()
    return { ...result, task: cloneTask(result.task) }
  }

  // Compute and commit, then enqueue the record event and any wake right
  // behind it; the caller flushes once the whole operation is done.
  private commit(entry: Entry, update: SessionTaskUpdate): TaskUpdateResult {
    const before = entry.task
    const now = this.clock()
    const outcome = applyTaskUpdateResult(before, update, now)
    if (outcome.dropped !== undefined) return { task: before, applied: false, changed: false }
    if (!outcome.changed) return { task: before, applied: true, changed: false }
    const after = outcome.task
    entry.task = after
    this.hub.enqueue(after.sessionId, { type: 'task.updated', data: after })
    const wake = wakeForUpdate(before, after, update, now)
    if (wake !== undefined) this.hub.enqueue(after.sessionId, { type: 'task.wake', data: wake })
    return { task: after, applied: true, changed: true }
  }

  /** Reads one task of a session. */
  async get(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const entry = this.entry(sid, tid)
    return entry === undefined ? undefined : cloneTask(entry.task)
  }

  private sessionEntries(sessionId: string): Entry[] {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return []
    const entries = [...session.tasks.values()]
    if (!session.ordered) {
      entries.sort((a, b) => byKey(a.task.createdAt, b.task.createdAt) || a.order - b.order)
    }
    return entries
  }

  /** Lists a session's tasks, oldest first (createdAt, then insertion order). */
  async list(sessionId: string, filter?: SessionTaskFilter): Promise<SessionTask[]> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const f =
      filter === undefined ? {} : parseInput(SessionTaskFilterSchema, filter, 'SessionTaskFilter')
    const out: SessionTask[] = []
    for (const { task } of this.sessionEntries(sid)) {
      if (f.kind !== undefined && task.kind !== f.kind) continue
      if (f.state !== undefined && task.state !== f.state) continue
      out.push(cloneTask(task))
    }
    return out
  }

  /** Stamps `cancelRequestedAt` once; never changes the state. */
  async requestCancel(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const entry = this.entry(sid, tid)
    if (entry === undefined) return undefined
    const after = withCancelRequested(entry.task, this.clock())
    if (after === undefined) return cloneTask(entry.task)
    entry.task = after
    this.hub.emit(sid, { type: 'task.updated', data: after })
    return cloneTask(after)
  }

  /** Stores a message; an inbound answer to the pending input request resumes the task. */
  async recordMessage(
    sessionId: string,
    taskId: string,
    message: NewTaskMessage,
  ): Promise<TaskMessage> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseNewTaskMessage(message)
    const entry = this.entry(sid, tid)
    if (entry === undefined)
      throw new TaskNotFoundError(`task '${tid}' not found in session '${sid}'`)
    const task = entry.task
    const now = this.clock()
    const stored = newTaskMessage(task, parsed, now)
    entry.messages ??= new MessageLog()
    entry.messages.add(stored)
    const inbound = stored.direction === 'inbound'
    // The whole operation (store, resume) happens before any listener runs,
    // so a listener's write-back can neither interleave nor be resumed by mistake.
    this.hub.enqueue(sid, {
      type: inbound ? 'task.message.sent' : 'task.message.received',
      data: stored,
    })
    if (answersInputRequest(task, stored)) {
      this.commit(entry, { state: 'running' })
    } else if (!inbound) {
      const wake = wakeForMessage(task, stored, now)
      if (wake !== undefined) this.hub.enqueue(sid, { type: 'task.wake', data: wake })
    }
    this.hub.flush()
    return cloneMessage(stored)
  }

  /** Reads messages oldest first: the newest `limit`, or the first `limit` after `afterId`. */
  async listMessages(
    sessionId: string,
    taskId: string,
    options?: ListMessagesOptions,
  ): Promise<TaskMessage[]> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o =
      options === undefined
        ? {}
        : parseInput(ListMessagesOptionsSchema, options, 'ListMessagesOptions')
    const entry = this.entry(sid, tid)
    if (entry?.messages === undefined) return []
    return entry.messages.list(o.limit, o.afterId).map(cloneMessage)
  }

  /** Emits a `task.output` chunk; false (and silent) for an unknown, foreign or stale task. */
  async publishOutput(sessionId: string, taskId: string, output: TaskOutput): Promise<boolean> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o = parseInput(TaskOutputSchema, output, 'TaskOutput')
    const entry = this.entry(sid, tid)
    if (entry === undefined) return false
    if (o.expectedAttempt !== undefined && o.expectedAttempt !== entry.task.attempt) return false
    this.hub.emit(sid, {
      type: 'task.output',
      data: { taskId: tid, stream: o.stream, delta: o.delta },
    })
    return true
  }

  /** The session's mitt emitter (created on first use). */
  events(sessionId: string): SessionTaskEmitter {
    return this.hub.emitter(parseInput(SessionIdSchema, sessionId, 'sessionId'))
  }

  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: SessionTaskListener): () => void {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    parseInput(FunctionSchema, listener, 'listener')
    return this.hub.subscribe(sid, listener)
  }

  /** Listens to every session's events; returns the unsubscribe function. */
  subscribeAll(listener: AllSessionsListener): () => void {
    parseInput(FunctionSchema, listener, 'listener')
    return this.hub.subscribeAll(listener)
  }

  /** Runs `hook` after a session is deleted. */
  onSessionDeleted(hook: (sessionId: string) => void): () => void {
    parseInput(FunctionSchema, hook, 'hook')
    return this.hub.onSessionDeleted(hook)
  }

  /** A replayable stream of one session's events: a snapshot (or a replay from `since`), then live events. */
  stream(sessionId: string, options?: StreamOptions): AsyncIterable<StreamItem> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const o = options === undefined ? {} : parseInput(StreamOptionsSchema, options, 'StreamOptions')
    const hub = this.hub
    // Everything is in memory: the start is read at once, from the hub's
    // buffer when it can serve `since`, else as a snapshot at the latest seq.
    return createSessionStream(
      hub,
      sid,
      {
        start: async (since) => {
          const replay = since === undefined ? undefined : hub.replay(sid, since)
          if (replay !== undefined) return { kind: 'replay', seq: since ?? 0, events: replay }
          const tasks = this.sessionEntries(sid).map((e) => toPublicTask(e.task))
          return { kind: 'snapshot', seq: hub.lastSeq(sid), tasks }
        },
        events: async (from, to) => (hub.replay(sid, from - 1) ?? []).filter((e) => e.seq <= to),
      },
      o,
    )
  }

  /** Queued or running tasks of every session whose heartbeat is older than the cutoff, oldest heartbeat first. */
  async listStale(options: ListStaleOptions): Promise<SessionTask[]> {
    const o = parseInput(ListStaleOptionsSchema, options, 'ListStaleOptions')
    const cutoff = o.heartbeatBefore.toISOString()
    const found: Entry[] = []
    for (const entry of this.tasks.values()) {
      const { state, heartbeatAt } = entry.task
      if (
        (state === 'queued' || state === 'running') &&
        heartbeatAt !== undefined &&
        heartbeatAt < cutoff
      ) {
        found.push(entry)
      }
    }
    found.sort(
      (a, b) =>
        byKey(a.task.heartbeatAt, b.task.heartbeatAt) ||
        byKey(a.task.createdAt, b.task.createdAt) ||
        a.order - b.order,
    )
    return found.slice(0, o.limit ?? DEFAULT_SCAN_LIMIT).map((e) => cloneTask(e.task))
  }

  /** Deletes terminal tasks finished before the cutoff (oldest first) with their messages; returns them. */
  async prune(options: PruneOptions): Promise<SessionTask[]> {
    const o = parseInput(PruneOptionsSchema, options, 'PruneOptions')
    const cutoff = o.finishedBefore.toISOString()
    const found: Entry[] = []
    for (const entry of this.tasks.values()) {
      const { state, finishedAt } = entry.task
      if (isTerminalState(state) && finishedAt !== undefined && finishedAt < cutoff)
        found.push(entry)
    }
    found.sort(
      (a, b) =>
        byKey(a.task.finishedAt, b.task.finishedAt) ||
        byKey(a.task.createdAt, b.task.createdAt) ||
        a.order - b.order,
    )
    const removed = found.slice(0, o.limit ?? DEFAULT_SCAN_LIMIT)
    const bySession = new Map<string, Set<string>>()
    for (const { task } of removed) {
      this.tasks.delete(task.id)
      const session = this.sessions.get(task.sessionId)
      session?.tasks.delete(task.id)
      if (session !== undefined && session.tasks.size === 0) this.sessions.delete(task.sessionId)
      const ids = bySession.get(task.sessionId)
      if (ids === undefined) bySession.set(task.sessionId, new Set([task.id]))
      else ids.add(task.id)
    }
    for (const [sessionId, ids] of bySession) this.hub.forgetTasks(sessionId, ids)
    return removed.map((e) => cloneTask(e.task))
  }

  /** Drops a session's tasks, messages, emitter, listeners and buffers; emits nothing. */
  async deleteSession(sessionId: string): Promise<number> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const session = this.sessions.get(sid)
    const count = session?.tasks.size ?? 0
    if (session !== undefined) {
      for (const id of session.tasks.keys()) this.tasks.delete(id)
      this.sessions.delete(sid)
    }
    this.hub.deleteSession(sid)
    return count
  }

  /** Counts of what the registry holds, for leak checks and metrics. */
  stats(): { tasks: number; sessions: number; eventSessions: number } {
    return {
      tasks: this.tasks.size,
      sessions: this.sessions.size,
      eventSessions: this.hub.sessionCount,
    }
  }
}
