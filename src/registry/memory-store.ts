import type { StoredEvent } from '../events/event.js'
import type { SessionTask, TaskMessage } from '../model/schemas.js'
import type { SessionTaskState } from '../model/state.js'
import { isTerminalState } from '../model/state.js'
import type { RunningCounts } from '../rules/claim.js'
import { isLiveAt } from '../rules/expiry.js'
import { MessageLog } from './message-log.js'
import { newSessionLog, ReplayLog, type SessionLog, SessionTombstones } from './replay-log.js'
import { TaskStateIndex } from './state-index.js'
import {
  GENERATED_MESSAGE_PREFIX,
  type SessionTaskStore,
  type StoreEventSink,
  type StoreInsert,
  type StoreMessageQuery,
  type StoreModified,
  type StoreQueryRow,
  type StoreSnapshot,
  type StoreTaskQuery,
  type TaskDecision,
} from './store.js'

/** Options of {@link InMemoryTaskStore}. */
export type InMemoryTaskStoreOptions = {
  /**
   * Most recent events of one session kept for `stream({ since })`.
   * @default 1000
   */
  replayBuffer?: number | undefined
  /**
   * Most events kept for replay across all sessions, the oldest evicted first.
   * @default 50000
   */
  replayBudget?: number | undefined
}

type Entry = {
  task: SessionTask
  readonly order: number
  readonly session: SessionData
  messages: MessageLog | undefined
  // Caller-chosen message ids of this task (rare), released with it.
  chosen: string[] | undefined
}
type SessionData = {
  readonly id: string
  readonly tasks: Map<string, Entry>
  lastCreatedAt: string
  ordered: boolean
  readonly log: SessionLog
}

const byKey = (a: string | undefined, b: string | undefined) =>
  (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0

/**
 * The in-memory {@link SessionTaskStore}: Maps, one process, no setup.
 * Lookups by id are O(1), listing a session is O(its tasks), reading the
 * newest N messages is O(N). Each operation runs synchronously inside its
 * promise, so it is atomic by construction.
 */
export class InMemoryTaskStore implements SessionTaskStore {
  private readonly tasks = new Map<string, Entry>()
  private readonly sessions = new Map<string, SessionData>()
  private readonly replay: ReplayLog
  private readonly tombstones = new SessionTombstones()
  private readonly index = new TaskStateIndex<Entry>()
  private sink: StoreEventSink | undefined
  private insertions = 0
  // Caller-chosen message ids, registry-wide: generated ids never collide.
  private readonly chosenMessages = new Map<string, TaskMessage>()

  constructor(options: InMemoryTaskStoreOptions = {}) {
    this.replay = new ReplayLog(options.replayBuffer ?? 1000, options.replayBudget ?? 50_000)
  }

  /** Receives the sink committed events go to. */
  attach(sink: StoreEventSink): void {
    this.sink = sink
  }

  private deliver(sessionId: string, log: SessionLog, events: readonly StoredEvent[]): void {
    if (events.length === 0) return
    this.sink?.deliver(sessionId, this.replay.append(log, events))
  }

  /** The task by id, synchronously (lets the core skip re-validating known ids). */
  peek(taskId: string): SessionTask | undefined {
    return this.tasks.get(taskId)?.task
  }

  /** Inserts unless the id exists in any session. */
  async insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert> {
    const existing = this.tasks.get(task.id)
    if (existing !== undefined) return { inserted: false, existing: existing.task }
    let session = this.sessions.get(task.sessionId)
    if (session === undefined) {
      session = {
        id: task.sessionId,
        tasks: new Map(),
        lastCreatedAt: task.createdAt,
        ordered: true,
        log: newSessionLog(this.tombstones.exhume(task.sessionId)),
      }
      this.sessions.set(task.sessionId, session)
    }
    if (task.createdAt < session.lastCreatedAt) session.ordered = false
    else session.lastCreatedAt = task.createdAt
    const entry: Entry = {
      task,
      order: this.insertions++,
      session,
      messages: undefined,
      chosen: undefined,
    }
    this.tasks.set(task.id, entry)
    session.tasks.set(task.id, entry)
    this.index.add(entry)
    this.deliver(task.sessionId, session.log, events)
    return { inserted: true }
  }

  private entry(sessionId: string, taskId: string): Entry | undefined {
    const entry = this.tasks.get(taskId)
    return entry !== undefined && entry.task.sessionId === sessionId ? entry : undefined
  }

  /** One task of a session. */
  async read(sessionId: string, taskId: string): Promise<SessionTask | undefined> {
    return this.entry(sessionId, taskId)?.task
  }

  /** A task by id in any session. */
  async find(taskId: string): Promise<SessionTask | undefined> {
    return this.tasks.get(taskId)?.task
  }

  /** Tasks matching `filter`, oldest first, with their insertion order. */
  async query(filter: StoreTaskQuery, limit: number): Promise<StoreQueryRow[]> {
    const { kind, state, updatedAfter, after, liveAt } = filter
    const afterOrder = after === undefined ? 0 : Number(after.order)
    const all =
      filter.sessionIds === undefined
        ? [...this.tasks.values()]
        : [...new Set(filter.sessionIds)].flatMap((id) => [
            ...(this.sessions.get(id)?.tasks.values() ?? []),
          ])
    // Positions before the cursor are dropped first: later pages sort less.
    const from =
      after === undefined
        ? all
        : all.filter(
            (e) =>
              e.task.createdAt > after.createdAt ||
              (e.task.createdAt === after.createdAt && e.order > afterOrder),
          )
    return this.scan(
      (task) =>
        (kind === undefined || task.kind === kind) &&
        (state === undefined || task.state === state) &&
        (updatedAfter === undefined || task.updatedAt > updatedAfter) &&
        isLiveAt(task, liveAt),
      () => undefined,
      limit,
      from,
    ).map((e) => ({ task: e.task, order: String(e.order) }))
  }

  /** Reads, decides and commits one task's change, then delivers its events. */
  async modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<StoreModified<R> | undefined> {
    const entry = this.entry(sessionId, taskId)
    if (entry === undefined) return undefined
    return this.commit(entry, decide(entry.task))
  }

  /** Like `modify`, with the running counts; atomic like every operation here. */
  async claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
    liveAt: string,
  ): Promise<{ readonly result: R } | undefined> {
    const entry = this.entry(sessionId, taskId)
    if (entry === undefined) return undefined
    return this.commit(entry, decide(entry.task, this.index.counts(entry.task, liveAt)))
  }

  private commit<R>(entry: Entry, { write, result }: TaskDecision<R>): StoreModified<R> {
    if (write?.deleted === true) {
      this.remove([entry])
      this.deliver(entry.task.sessionId, entry.session.log, write.events)
      // Its task.deleted says what went: the next life goes on right after it.
      if (entry.session.tasks.size === 0) this.dropSession(entry.session, true)
      return { result }
    }
    const message = write?.message
    if (message !== undefined && !message.id.startsWith(GENERATED_MESSAGE_PREFIX)) {
      const duplicate = this.chosenMessages.get(message.id)
      if (duplicate !== undefined) return { result, duplicate }
      this.chosenMessages.set(message.id, message)
      entry.chosen ??= []
      entry.chosen.push(message.id)
    }
    if (write !== undefined) {
      if (write.task !== undefined) {
        const before = entry.task
        entry.task = write.task
        this.index.changed(entry, before)
      }
      if (write.message !== undefined) {
        entry.messages ??= new MessageLog()
        entry.messages.add(write.message)
      }
      this.deliver(entry.task.sessionId, entry.session.log, write.events)
    }
    return { result }
  }

  private ordered(session: SessionData | undefined): Entry[] {
    if (session === undefined) return []
    const entries = [...session.tasks.values()]
    if (!session.ordered) {
      entries.sort((a, b) => byKey(a.task.createdAt, b.task.createdAt) || a.order - b.order)
    }
    return entries
  }

  /** A session's tasks, oldest first, optionally of one state. */
  async list(sessionId: string, state?: SessionTaskState): Promise<SessionTask[]> {
    const out: SessionTask[] = []
    for (const { task } of this.ordered(this.sessions.get(sessionId))) {
      if (state === undefined || task.state === state) out.push(task)
    }
    return out
  }

  /** A task's messages, oldest first. */
  async listMessages(
    sessionId: string,
    taskId: string,
    query: StoreMessageQuery,
  ): Promise<readonly TaskMessage[]> {
    const entry = this.entry(sessionId, taskId)
    if (entry?.messages === undefined || !isLiveAt(entry.task, query.liveAt)) {
      return []
    }
    return entry.messages.list(query.limit, query.afterId)
  }

  /** Buffered events after `after`, or undefined when evicted. */
  async readEvents(sessionId: string, after: number, through?: number) {
    const log = this.sessions.get(sessionId)?.log
    if (log === undefined) {
      // A session that lived before: only a cursor at its current head is served.
      const head = this.tombstones.head(sessionId)
      if (head > 0) return after === head ? [] : undefined
    }
    return this.replay.read(log, after, through)
  }

  /** The session's tasks and last seq. */
  async snapshot(sessionId: string): Promise<StoreSnapshot> {
    const session = this.sessions.get(sessionId)
    return {
      seq: session?.log.seq ?? this.tombstones.head(sessionId),
      tasks: this.ordered(session).map((e) => e.task),
    }
  }

  private scan(
    match: (task: SessionTask) => boolean,
    key: (task: SessionTask) => string | undefined,
    limit: number,
    from: Iterable<Entry> = this.tasks.values(),
  ): Entry[] {
    const found: Entry[] = []
    for (const entry of from) if (match(entry.task)) found.push(entry)
    found.sort(
      (a, b) =>
        byKey(key(a.task), key(b.task)) ||
        byKey(a.task.createdAt, b.task.createdAt) ||
        a.order - b.order,
    )
    return found.slice(0, limit)
  }

  /** Queued or running tasks whose heartbeat is older than `before`. */
  async listStale(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return this.scan(
      (task) =>
        (task.state === 'queued' || task.state === 'running') &&
        task.heartbeatAt !== undefined &&
        task.heartbeatAt < before &&
        isLiveAt(task, liveAt),
      (task) => task.heartbeatAt,
      limit,
    ).map((e) => e.task)
  }

  /** Queued tasks of every session (of `kinds`, when given), oldest first. */
  async listQueued(
    kinds: readonly string[] | undefined,
    limit: number,
    liveAt: string,
    afterId?: string,
  ): Promise<SessionTask[]> {
    const wanted = kinds === undefined ? undefined : new Set(kinds)
    const after = afterId === undefined ? undefined : this.tasks.get(afterId)
    if (afterId !== undefined && after === undefined) return []
    const later = (e: Entry) =>
      after === undefined ||
      e.task.createdAt > after.task.createdAt ||
      (e.task.createdAt === after.task.createdAt && e.order > after.order)
    const from = after === undefined ? this.index.queued : [...this.index.queued].filter(later)
    return this.scan(
      (task) => (wanted === undefined || wanted.has(task.kind)) && isLiveAt(task, liveAt),
      () => undefined,
      limit,
      from,
    ).map((e) => e.task)
  }

  /** Unfinished tasks whose `deadlineAt` is before `before`, earliest deadline first. */
  async listOverdue(before: string, limit: number, liveAt: string): Promise<SessionTask[]> {
    return this.scan(
      (task) => task.deadlineAt !== undefined && task.deadlineAt < before && isLiveAt(task, liveAt),
      (task) => task.deadlineAt,
      limit,
      this.index.timed,
    ).map((e) => e.task)
  }

  /** Deletes terminal tasks finished before `before`, and expired ones, with their messages and events. */
  async prune(before: string, limit: number, expiredBefore: string): Promise<SessionTask[]> {
    const removed = this.scan(
      (task) =>
        (isTerminalState(task.state) &&
          task.finishedAt !== undefined &&
          task.finishedAt < before) ||
        !isLiveAt(task, expiredBefore),
      (task) => task.finishedAt,
      limit,
    )
    const sessions = this.remove(removed)
    for (const session of sessions) if (session.tasks.size === 0) this.dropSession(session)
    return removed.map((e) => e.task)
  }

  // Unlinks tasks and what hangs off them; returns their sessions (their replay logs forgot them).
  private remove(entries: readonly Entry[]): Set<SessionData> {
    const bySession = new Map<SessionData, Set<string>>()
    for (const entry of entries) {
      this.index.remove(entry)
      this.tasks.delete(entry.task.id)
      entry.session.tasks.delete(entry.task.id)
      for (const id of entry.chosen ?? []) this.chosenMessages.delete(id)
      const ids = bySession.get(entry.session)
      if (ids === undefined) bySession.set(entry.session, new Set([entry.task.id]))
      else ids.add(entry.task.id)
    }
    for (const [session, ids] of bySession) this.replay.forget(session.log, ids)
    return new Set(bySession.keys())
  }

  // A session without tasks keeps nothing: memory follows live data.
  // `announced`: the last event said what went, so no number is left out.
  private dropSession(session: SessionData, announced = false): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id)
    this.tombstones.bury(session.id, announced ? session.log.seq - 1 : session.log.seq)
    this.replay.close(session.log)
  }

  /** Deletes a session's tasks, messages and events. */
  async deleteSession(sessionId: string): Promise<number> {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return 0
    const count = session.tasks.size
    for (const [id, entry] of session.tasks) {
      this.tasks.delete(id)
      this.index.remove(entry)
      for (const chosen of entry.chosen ?? []) this.chosenMessages.delete(chosen)
    }
    this.dropSession(session)
    return count
  }

  /** Counts of what the store holds, for leak checks and metrics. */
  stats(): { tasks: number; sessions: number; bufferedEvents: number } {
    return {
      tasks: this.tasks.size,
      sessions: this.sessions.size,
      bufferedEvents: this.replay.size,
    }
  }
}
