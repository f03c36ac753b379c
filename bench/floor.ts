/**
 * The floor: the least this design can do per operation. Records live in a
 * Map and are frozen and shared, as the registry's are. An update is one Map
 * lookup (plus the session check), one object spread, one `Object.freeze`,
 * one `toISOString` (the new `updatedAt`) and one mitt emit on the session's
 * emitter; a get is the Map lookup and the session check, returning the
 * stored record itself (no copy: it is frozen). No validation, no lifecycle
 * rules, no deep freeze, no secondary indexes (a session keeps the list of
 * its own entries, which any session-scoped design needs to list a session
 * without a scan). Every operation returns a promise, like the registry's
 * interface, so the `await` per call costs the same on both sides; none is
 * wrapped in a second async layer.
 */
import mittModule, { type Emitter } from 'mitt'
import { nanoid } from 'nanoid'

// mitt ships CommonJS-style typings; under NodeNext its default import is
// typed as the module namespace (src/events.ts does the same).
const mitt = mittModule as unknown as typeof mittModule.default

type FloorEvents = {
  'task.created': { task: FloorTask }
  'task.updated': { task: FloorTask }
  'task.message': { taskId: string; message: FloorMessage }
}

/** A floor record: the fields a task needs, frozen once built. */
export type FloorTask = {
  id: string
  sessionId: string
  kind: string
  displayName: string
  spec: unknown
  state: string
  progress?: { current?: number; total?: number }
  heartbeatAt?: string
  summary?: string
  createdAt: string
  updatedAt: string
}

/** A floor message (text only). */
export type FloorMessage = {
  id: string
  taskId: string
  direction: 'inbound' | 'outbound'
  content: { type: 'text'; text: string }[]
}

type FloorSession = {
  entries: FloorEntry[]
  emitter: Emitter<FloorEvents>
}

// nanoid builds its id as a rope of ~21 pieces; reading a character flattens
// it in place, as the registry does for its ids (src/model/ids.ts). A rope
// key costs ~300 B more per task and slows every Map lookup by it.
function flatId(prefix: string): string {
  const id = `${prefix}${nanoid()}`
  id.charCodeAt(0)
  return id
}

// The record is replaced in its entry, so a write needs no Map.set.
type FloorEntry = { task: FloorTask; session: FloorSession; messages: FloorMessage[] | undefined }

/** The fields an update may set. */
export type FloorUpdate = Partial<Omit<FloorTask, 'id' | 'sessionId' | 'createdAt'>>

/** The floor registry: Maps, per-session mitt emitters, nothing else. */
export class FloorRegistry {
  private readonly tasks = new Map<string, FloorEntry>()
  private readonly sessions = new Map<string, FloorSession>()
  readonly now: () => Date

  constructor(now: () => Date = () => new Date()) {
    this.now = now
  }

  private session(sessionId: string): FloorSession {
    let session = this.sessions.get(sessionId)
    if (session === undefined) {
      session = { entries: [], emitter: mitt<FloorEvents>() }
      this.sessions.set(sessionId, session)
    }
    return session
  }

  /** Listens to all of one session's events; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: (type: keyof FloorEvents, payload: unknown) => void) {
    const emitter = this.session(sessionId).emitter
    emitter.on('*', listener)
    return () => emitter.off('*', listener)
  }

  /** Inserts a frozen record under a fresh id and emits it. */
  async create(input: {
    sessionId: string
    kind: string
    displayName: string
    spec?: unknown
  }): Promise<FloorTask> {
    const at = this.now().toISOString()
    const task: FloorTask = Object.freeze({
      id: flatId('task_'),
      sessionId: input.sessionId,
      kind: input.kind,
      displayName: input.displayName,
      spec: input.spec ?? null,
      state: 'queued',
      createdAt: at,
      updatedAt: at,
    })
    const session = this.session(task.sessionId)
    const entry: FloorEntry = { task, session, messages: undefined }
    this.tasks.set(task.id, entry)
    session.entries.push(entry)
    session.emitter.emit('task.created', { task })
    return task
  }

  private entry(sessionId: string, taskId: string): FloorEntry | undefined {
    const entry = this.tasks.get(taskId)
    return entry === undefined || entry.task.sessionId !== sessionId ? undefined : entry
  }

  /** One Map lookup, one spread, one freeze, one `toISOString`, one emit. */
  async update(sessionId: string, taskId: string, update: FloorUpdate) {
    const entry = this.entry(sessionId, taskId)
    if (entry === undefined) return undefined
    const task: FloorTask = Object.freeze({
      ...entry.task,
      ...update,
      updatedAt: this.now().toISOString(),
    })
    entry.task = task
    entry.session.emitter.emit('task.updated', { task })
    return task
  }

  /** A heartbeat is an update of `heartbeatAt` (a second clock read). */
  heartbeat(sessionId: string, taskId: string) {
    return this.update(sessionId, taskId, { heartbeatAt: this.now().toISOString() })
  }

  /** One Map lookup and the session check; the frozen record itself. */
  async get(sessionId: string, taskId: string) {
    return this.entry(sessionId, taskId)?.task
  }

  /** The session's records, in creation order (shared, frozen). */
  async list(sessionId: string) {
    const session = this.sessions.get(sessionId)
    if (session === undefined) return []
    return session.entries.map((e) => e.task)
  }

  /** Appends a frozen message to the task's list and emits it. */
  async recordMessage(
    sessionId: string,
    taskId: string,
    message: { direction: 'inbound' | 'outbound'; content: { type: 'text'; text: string }[] },
  ) {
    const entry = this.entry(sessionId, taskId)
    if (entry === undefined) throw new Error(`no task '${taskId}' in session '${sessionId}'`)
    const stored: FloorMessage = Object.freeze({ id: flatId('tmsg_'), taskId, ...message })
    entry.messages ??= []
    entry.messages.push(stored)
    entry.session.emitter.emit('task.message', { taskId, message: stored })
    return stored
  }

  /** The newest `limit` messages, oldest first. */
  async listMessages(sessionId: string, taskId: string, limit: number) {
    return this.entry(sessionId, taskId)?.messages?.slice(-limit) ?? []
  }
}

/**
 * The least a supervisor can do: create, hand the work a sink, and resolve
 * a waiter when the record turns terminal.
 */
export class FloorSupervisor {
  private readonly waiters = new Map<string, (task: FloorTask) => void>()

  constructor(
    private readonly registry: FloorRegistry,
    private readonly start: (
      task: FloorTask,
      sink: { update(update: FloorUpdate): Promise<unknown> },
    ) => Promise<void>,
  ) {}

  private watched = new Set<string>()

  private watch(sessionId: string) {
    if (this.watched.has(sessionId)) return
    this.watched.add(sessionId)
    this.registry.subscribe(sessionId, (type, payload) => {
      if (type !== 'task.updated') return
      const { task } = payload as { task: FloorTask }
      if (task.state !== 'succeeded' && task.state !== 'failed' && task.state !== 'canceled') return
      const resolve = this.waiters.get(task.id)
      if (resolve !== undefined) {
        this.waiters.delete(task.id)
        resolve(task)
      }
    })
  }

  /** Spawns and resolves with the terminal record. */
  async run(input: { sessionId: string; kind: string; displayName: string }): Promise<FloorTask> {
    this.watch(input.sessionId)
    const task = await this.registry.create(input)
    const done = new Promise<FloorTask>((resolve) => this.waiters.set(task.id, resolve))
    const sink = {
      update: (update: FloorUpdate) => this.registry.update(task.sessionId, task.id, update),
    }
    void this.start(task, sink)
    return done
  }
}
