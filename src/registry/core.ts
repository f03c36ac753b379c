import type { StoredEvent } from '../events/event.js'
import { StaleAttemptError, TaskConflictError, TaskNotFoundError } from '../model/errors.js'
import { deepFreeze, freezeTask } from '../model/freeze.js'
import {
  type ListMessagesOptions,
  ListMessagesOptionsSchema,
  type ListOverdueOptions,
  type ListQueuedOptions,
  type ListStaleOptions,
  type PruneOptions,
  type QueryTasksOptions,
} from '../model/scan-schemas.js'
import {
  type CreateSessionTask,
  CreateSessionTaskSchema,
  type NewTaskMessage,
  SessionIdSchema,
  type SessionTask,
  type SessionTaskFilter,
  SessionTaskFilterSchema,
  type SessionTaskUpdate,
  type TaskMessage,
  type TaskOutput,
  TaskOutputSchema,
} from '../model/schemas.js'
import { type ClaimOptions, ClaimOptionsSchema } from '../model/supervisor-schemas.js'
import { parseInput } from '../model/validate.js'
import { claimDecision, hasLimit, NO_COUNTS, type RunningCounts } from '../rules/claim.js'
import { newSessionTask } from '../rules/create.js'
import { cutoffIso, isExpired } from '../rules/expiry.js'
import { applyTaskUpdateResult } from '../rules/lifecycle.js'
import {
  answersInputRequest,
  newTaskMessage,
  parseNewTaskMessage,
  parseTaskRef,
  parseTaskUpdate,
  withCancelRequested,
} from '../rules/operations.js'
import { wakeForMessage, wakeForUpdate } from '../rules/wake.js'
import { ListeningRegistry } from './listening.js'
import { findTask, type QueryTasksResult, queryTasks } from './queries.js'
import type { ClaimResult, SessionTaskRegistry, TaskUpdateResult } from './registry.js'
import * as scans from './scans.js'
import type { TaskDecision } from './store.js'

export type { SessionTaskRegistryCoreOptions } from './listening.js'

// What a decision on an expired task resolves: the task is absent (SPEC 12.2).
const EXPIRED = Symbol('expired')
type Live<R> = R | typeof EXPIRED

/**
 * The one registry: validation, the lifecycle rules, wakes, event dispatch,
 * streams and the public projection, over any {@link SessionTaskStore}.
 * Every operation validates, computes with the pure rules, commits through
 * the store, then notifies. Records, messages and payloads are deeply frozen
 * and shared: the object stored is the one returned and delivered.
 */
export class SessionTaskRegistryCore extends ListeningRegistry implements SessionTaskRegistry {
  // Expired tasks decide nothing and resolve as absent.
  private unlessExpired<A extends unknown[], R>(
    decide: (task: SessionTask, ...rest: A) => TaskDecision<R>,
  ) {
    return (task: SessionTask, ...rest: A): TaskDecision<Live<R>> =>
      isExpired(task, this.clock) ? { result: EXPIRED } : decide(task, ...rest)
  }

  // Ids of a task the store holds in memory are known good: skip the regex.
  private ids(sessionId: unknown, taskId: unknown): [string, string] {
    const known = this.store.peek?.(taskId as string)
    if (known !== undefined && known.sessionId === sessionId) return [known.sessionId, known.id]
    return parseTaskRef(sessionId, taskId)
  }

  /** Inserts a task; a caller id already in this session returns the stored record unchanged. */
  async create(input: CreateSessionTask): Promise<SessionTask> {
    const parsed = parseInput(CreateSessionTaskSchema, input, 'CreateSessionTask')
    for (;;) {
      const task = freezeTask(newSessionTask(parsed, this.clock()))
      const created: StoredEvent = { type: 'task.created', data: task }
      const outcome = await this.store.insert(task, [created])
      if (outcome.inserted) return task
      // A generated id colliding is ~2^-126: draw another. A caller id that
      // vanished meanwhile (deleted) is tried again.
      const existing = outcome.existing
      if (parsed.id === undefined || existing === undefined) continue
      if (isExpired(existing, this.clock)) {
        throw new TaskConflictError(
          `task id '${parsed.id}' belongs to an expired task that prune has not removed yet`,
        )
      }
      if (existing.sessionId === parsed.sessionId) return freezeTask(existing)
      throw new TaskConflictError(`task id '${parsed.id}' is already used by another session`)
    }
  }

  /** Applies an update under the lifecycle rules; emits only when the record changed. */
  async update(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<SessionTask | undefined> {
    // Inlined rather than shared with updateWithOutcome: every async layer
    // costs a microtask on the hottest path.
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseTaskUpdate(update)
    const done = await this.store.modify(
      sid,
      tid,
      this.unlessExpired((before) => this.decideUpdate(before, parsed)),
    )
    const result = done?.result
    return result === undefined || result === EXPIRED ? undefined : result.task
  }

  /** Like `update`, and also reports whether the update was applied and changed the record. */
  async updateWithOutcome(
    sessionId: string,
    taskId: string,
    update: SessionTaskUpdate,
  ): Promise<TaskUpdateResult | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseTaskUpdate(update)
    const done = await this.store.modify(
      sid,
      tid,
      this.unlessExpired((before) => this.decideUpdate(before, parsed)),
    )
    return done === undefined || done.result === EXPIRED ? undefined : done.result
  }

  /** Starts a queued task in one fenced compare-and-set, within `limits` counted across the registry. */
  async claim(sessionId: string, taskId: string, options: ClaimOptions) {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o = parseInput(ClaimOptionsSchema, options, 'ClaimOptions')
    const decide = this.unlessExpired((record: SessionTask, running: RunningCounts) => {
      const task = freezeTask(record)
      const { update, refusal } = claimDecision(task, running, o, this.clock())
      const decided = update === undefined ? undefined : this.decideUpdate(task, update)
      const after = decided?.result.task ?? task
      const result: ClaimResult =
        refusal === undefined
          ? { claimed: true, task: after }
          : { claimed: false, reason: refusal, task: after }
      return { write: decided?.write, result }
    })
    // Without a limit nothing needs counting: a plain compare-and-set will do.
    const done = hasLimit(o.limits)
      ? await this.store.claim(sid, tid, decide, cutoffIso(this.clock()))
      : await this.store.modify(sid, tid, (record) => decide(record, NO_COUNTS))
    return done === undefined || done.result === EXPIRED ? undefined : done.result
  }

  /** Queued tasks of every session (of `kinds` when given), oldest first. */
  listQueued(options?: ListQueuedOptions): Promise<SessionTask[]> {
    return scans.listQueued(this.store, options, this.clock)
  }

  /** Unfinished tasks of every session whose `deadlineAt` is before the cutoff, earliest first. */
  listOverdue(options: ListOverdueOptions): Promise<SessionTask[]> {
    return scans.listOverdue(this.store, options, this.clock)
  }

  // The record event first, then any wake.
  private decideUpdate(
    task: SessionTask,
    update: SessionTaskUpdate,
    events: StoredEvent[] = [],
  ): TaskDecision<TaskUpdateResult> {
    const before = freezeTask(task)
    const now = this.clock()
    const outcome = applyTaskUpdateResult(before, update, now)
    if (outcome.dropped !== undefined) {
      return { write: decided(events), result: { task: before, applied: false, changed: false } }
    }
    if (!outcome.changed) {
      return { write: decided(events), result: { task: before, applied: true, changed: false } }
    }
    const after = freezeTask(outcome.task)
    events.push({ type: 'task.updated', data: after })
    const wake = wakeForUpdate(before, after, update, now)
    if (wake !== undefined) events.push({ type: 'task.wake', data: deepFreeze(wake) })
    return { write: { task: after, events }, result: { task: after, applied: true, changed: true } }
  }

  /** Reads one task of a session. */
  async get(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    // A store that holds the task in memory answers without a round trip.
    const known = this.store.peek?.(taskId)
    if (known !== undefined && known.sessionId === sessionId) {
      return isExpired(known, this.clock) ? undefined : known
    }
    const [sid, tid] = this.ids(sessionId, taskId)
    const task = await this.store.read(sid, tid)
    return task === undefined || isExpired(task, this.clock) ? undefined : freezeTask(task)
  }

  /** A task by id in any session (for trusted server code: protocol adapters, admin tools). */
  find(taskId: string): Promise<SessionTask | undefined> {
    return findTask(this.store, taskId, this.clock)
  }

  /** Tasks across sessions, oldest first, a page at a time (`nextCursor` continues). */
  query(options?: QueryTasksOptions): Promise<QueryTasksResult> {
    return queryTasks(this.store, options, this.clock)
  }

  /** Lists a session's tasks, oldest first (createdAt, then insertion order). */
  async list(sessionId: string, filter?: SessionTaskFilter): Promise<SessionTask[]> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const f =
      filter === undefined ? {} : parseInput(SessionTaskFilterSchema, filter, 'SessionTaskFilter')
    const tasks = await this.store.list(sid, f.state)
    const out: SessionTask[] = []
    for (const task of tasks) {
      // Kinds may hold any character, so they are compared here, not in a store.
      if ((f.kind === undefined || task.kind === f.kind) && !isExpired(task, this.clock)) {
        out.push(freezeTask(task))
      }
    }
    return out
  }

  /** Stamps `cancelRequestedAt` once; never changes the state. */
  async requestCancel(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const decide = this.unlessExpired((task): TaskDecision<SessionTask> => {
      const before = freezeTask(task)
      const after = withCancelRequested(before, this.clock())
      if (after === undefined) return { result: before }
      const frozen = freezeTask(after)
      return {
        write: { task: frozen, events: [{ type: 'task.updated', data: frozen }] },
        result: frozen,
      }
    })
    const done = await this.store.modify(sid, tid, decide)
    return done === undefined || done.result === EXPIRED ? undefined : done.result
  }

  /** Stores a message; an inbound answer to the pending input request resumes the task. */
  async recordMessage(
    sessionId: string,
    taskId: string,
    message: NewTaskMessage,
  ): Promise<TaskMessage> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const parsed = parseNewTaskMessage(message)
    const decide = this.unlessExpired((record): TaskDecision<TaskMessage> => {
      const task = freezeTask(record)
      const now = this.clock()
      const stored = deepFreeze(newTaskMessage(task, parsed, now))
      const inbound = stored.direction === 'inbound'
      const events: StoredEvent[] = [
        { type: inbound ? 'task.message.sent' : 'task.message.received', data: stored },
      ]
      let next: SessionTask | undefined
      if (answersInputRequest(task, stored)) {
        next = this.decideUpdate(task, { state: 'running' }, events).write?.task
      } else if (!inbound) {
        const wake = wakeForMessage(task, stored, now)
        if (wake !== undefined) events.push({ type: 'task.wake', data: deepFreeze(wake) })
      }
      return { write: { task: next, message: stored, events }, result: stored }
    })
    const done = await this.store.modify(sid, tid, decide).catch(async (error: unknown) => {
      // A retry of a message stored before its attempt moved on: the stored one.
      const id = parsed.id
      if (id === undefined || !(error instanceof StaleAttemptError)) throw error
      const stored = await this.store.listMessages(sid, tid, {
        liveAt: cutoffIso(this.clock()),
      })
      const duplicate = stored.find((m) => m.id === id)
      if (duplicate === undefined) throw error
      return { result: duplicate, duplicate }
    })
    if (done === undefined || done.result === EXPIRED)
      throw new TaskNotFoundError(`task '${tid}' not found in session '${sid}'`)
    // A caller-chosen id seen before: the stored message, nothing new.
    const duplicate = done.duplicate
    if (duplicate === undefined) return done.result
    if (duplicate.taskId !== tid) {
      throw new TaskConflictError(`message id '${duplicate.id}' is already used by another task`)
    }
    return deepFreeze(duplicate)
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
    const messages = await this.store.listMessages(sid, tid, {
      limit: o.limit,
      afterId: o.afterId,
      liveAt: cutoffIso(this.clock()),
    })
    return messages.map(deepFreeze)
  }

  /** Emits a `task.output` chunk; false (and silent) for an unknown, foreign or stale task. */
  async publishOutput(sessionId: string, taskId: string, output: TaskOutput): Promise<boolean> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const o = parseInput(TaskOutputSchema, output, 'TaskOutput')
    const decide = this.unlessExpired((task): TaskDecision<boolean> => {
      if (o.expectedAttempt !== undefined && o.expectedAttempt !== task.attempt) {
        return { result: false }
      }
      const data = Object.freeze({ taskId: tid, stream: o.stream, delta: o.delta })
      return { write: { events: [{ type: 'task.output', data }] }, result: true }
    })
    const done = await this.store.modify(sid, tid, decide)
    return done?.result === true
  }

  /** Removes one task with its messages and emits `task.deleted`; false when there is no such task. */
  async delete(sessionId: string, taskId: string): Promise<boolean> {
    const [sid, tid] = this.ids(sessionId, taskId)
    const gone: StoredEvent = { type: 'task.deleted', data: Object.freeze({ taskId: tid }) }
    const decide = this.unlessExpired(
      (): TaskDecision<boolean> => ({ write: { deleted: true, events: [gone] }, result: true }),
    )
    const done = await this.store.modify(sid, tid, decide)
    return done?.result === true
  }

  /** Queued or running tasks of every session whose heartbeat is older than the cutoff, oldest heartbeat first. */
  listStale(options: ListStaleOptions): Promise<SessionTask[]> {
    return scans.listStale(this.store, options, this.clock)
  }

  /** Deletes terminal tasks finished before the cutoff (oldest first) with their messages; returns them. */
  prune(options: PruneOptions): Promise<SessionTask[]> {
    return scans.prune(this.store, options, this.clock())
  }

  /** Drops a session's tasks, messages, emitter, listeners and buffers; emits nothing. */
  async deleteSession(sessionId: string): Promise<number> {
    const sid = parseInput(SessionIdSchema, sessionId, 'sessionId')
    const removed = await this.store.deleteSession(sid)
    this.hub.deleteSession(sid)
    return removed
  }
}

// A dropped update still commits the events an enclosing operation staged.
function decided(events: StoredEvent[]) {
  return events.length === 0 ? undefined : { events }
}
