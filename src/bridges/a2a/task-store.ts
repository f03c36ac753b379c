import type { ListTasksRequest, ListTasksResponse, Task } from '@a2a-js/sdk'
import { RequestMalformedError } from '@a2a-js/sdk/errors'
import type { OwnerResolver, ServerCallContext, TaskStore } from '@a2a-js/sdk/server'
import { isSessionTaskError } from '../../model/errors.js'
import {
  type NewTaskMessage,
  NewTaskMessageSchema,
  type SessionTask,
  type SessionTaskUpdate,
  SessionTaskUpdateSchema,
} from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import { parseInput } from '../../model/validate.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import {
  a2aState,
  a2aTask,
  base64ToUtf8,
  messageToJson,
  statusFields,
  storedArtifact,
  storedMessage,
  utf8ToBase64,
} from './codec.js'
import { a2aScope, a2aSessionId, contextIdOf, defaultOwner } from './session.js'

/** Options of {@link SessionTasksA2ATaskStore}. */
export type SessionTasksA2ATaskStoreOptions = {
  /** Where the tasks live: any registry (in memory, PostgreSQL, ...). */
  registry: SessionTaskRegistry
  /**
   * Who owns a call's tasks (each owner sees only theirs), as in the SDK.
   * @default the authenticated user's name, else 'unknown'
   */
  ownerResolver?: OwnerResolver | undefined
  /**
   * The kind of the records, which is also the executor kind a supervisor
   * runs them with (see `a2aExecutor`).
   * @default 'a2a'
   */
  kind?: string | undefined
}

const CALLER_ID = /^[A-Za-z0-9_-]{1,128}$/
const PAGE = 1000
const DEFAULT_PAGE_SIZE = 50

/**
 * The `@a2a-js/sdk` 1.x server `TaskStore` over any session-tasks registry.
 * A task's tenant, owner and context make its session
 * (`a2a/<tenant>/<owner>/<contextId>`, each part URI-encoded, so two never
 * collide); its status is the record's state, `stateChangedAt` and
 * `result` (the status message); artifacts, history and metadata map to
 * the record's artifacts, messages and metadata. Nothing is kept in this
 * process: a store in another process over the same registry loads, lists
 * and pages the same tasks. A `save` is a few registry writes, each
 * idempotent, so a save cut short is completed by the next one.
 */
export class SessionTasksA2ATaskStore implements TaskStore {
  private readonly registry: SessionTaskRegistry
  private readonly ownerOf: OwnerResolver
  private readonly kind: string

  constructor(options: SessionTasksA2ATaskStoreOptions) {
    this.registry = options.registry
    this.ownerOf = options.ownerResolver ?? defaultOwner
    this.kind = options.kind ?? 'a2a'
  }

  private scope(context: ServerCallContext): string {
    return a2aScope(context, this.ownerOf)
  }

  private sessionOf(context: ServerCallContext, contextId: string): string {
    return a2aSessionId(context, this.ownerOf, contextId)
  }

  /** Saves a task, creating or overwriting its record, messages and artifacts. */
  async save(task: Task, context: ServerCallContext): Promise<void> {
    if (!CALLER_ID.test(task.id)) {
      throw new RequestMalformedError(
        `id: '${task.id}' must be 1-128 characters of A-Z, a-z, 0-9, _ or -`,
      )
    }
    const status = task.status
    const fields = statusFields(status?.state ?? 0)
    if (fields === undefined) {
      throw new RequestMalformedError(`status.state: ${String(status?.state)} cannot be stored`)
    }
    const sessionId = this.sessionOf(context, task.contextId)
    let record = await this.registry.find(task.id)
    if (record !== undefined && record.sessionId !== sessionId) {
      throw new RequestMalformedError(`id: task '${task.id}' belongs to another context or owner`)
    }
    // The first terminal status stands: the registry keeps a finished
    // task's state, and the save keeps its time, message and error (failed
    // and rejected share a state), so an agent's late events cannot
    // overwrite a cancel made from another process.
    const finished = record !== undefined && isTerminalState(record.state)
    const update: SessionTaskUpdate = {
      state: fields.state,
      ...(fields.inputRequest === undefined || finished
        ? {}
        : { inputRequest: fields.inputRequest }),
      ...(fields.error === undefined || finished ? {} : { error: fields.error }),
      ...(status?.timestamp === undefined || finished ? {} : { stateChangedAt: status.timestamp }),
      ...(finished
        ? {}
        : { result: status?.message === undefined ? null : messageToJson(status.message) }),
      artifacts: task.artifacts.map(storedArtifact),
      ...(task.metadata !== undefined
        ? { metadata: task.metadata }
        : record?.metadata !== undefined
          ? { metadata: {} }
          : {}),
    }
    const messages = task.history.map(storedMessage)
    // Everything is checked before the first write: a refused save writes nothing.
    this.check(() => {
      parseInput(SessionTaskUpdateSchema, update, 'A2A task')
      for (const m of messages) parseInput(NewTaskMessageSchema, m, 'A2A message')
    })
    let created = false
    await this.wrap(async () => {
      if (record === undefined) {
        record = await this.registry.create({
          sessionId,
          id: task.id,
          kind: this.kind,
          displayName: `A2A task ${task.id}`,
          spec: { contextId: task.contextId },
          state: fields.state,
        })
        created = true
      }
      try {
        await this.recordHistory(record, messages)
        await this.registry.update(sessionId, task.id, update)
      } catch (error) {
        // Refused only now (a message id another task holds): the task this
        // save created goes again, so a refused save leaves nothing behind.
        if (created) await this.registry.delete(sessionId, task.id).catch(() => {})
        throw error
      }
    })
  }

  private check(body: () => void): void {
    try {
      body()
    } catch (error) {
      if (isSessionTaskError(error)) throw new RequestMalformedError(error.message)
      throw error
    }
  }

  // History only grows: messages not stored yet are appended, in order.
  private async recordHistory(
    record: SessionTask,
    messages: readonly NewTaskMessage[],
  ): Promise<void> {
    if (messages.length === 0) return
    const stored = await this.registry.listMessages(record.sessionId, record.id)
    const known = new Set(stored.map((m) => m.id))
    for (const message of messages) {
      if (message.id === undefined || known.has(message.id)) continue
      await this.registry.recordMessage(record.sessionId, record.id, message)
      known.add(message.id)
    }
  }

  // Registry refusals met while writing (a message id another task holds) reach the caller as the SDK's own error.
  private async wrap(body: () => Promise<void>): Promise<void> {
    try {
      await body()
    } catch (error) {
      if (isSessionTaskError(error) && error.code !== 'stale_attempt') {
        throw new RequestMalformedError(error.message)
      }
      throw error
    }
  }

  /** Loads a task of the caller's, or undefined. */
  async load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    if (!CALLER_ID.test(taskId)) return undefined
    const record = await this.registry.find(taskId)
    if (record === undefined || !record.sessionId.startsWith(this.scope(context))) return undefined
    return this.rebuild(record)
  }

  private async rebuild(record: SessionTask): Promise<Task> {
    const messages = await this.registry.listMessages(record.sessionId, record.id)
    return a2aTask(record, contextIdOf(record.sessionId), messages)
  }

  /**
   * Lists the caller's tasks as the SDK's in-memory store does: newest
   * status first (then id, descending), filtered by context, state and
   * status time, `pageSize` at a time (default 50). It reads the
   * caller's records of this kind to sort them, so it costs time in
   * proportion to them.
   */
  async list(params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    const scope = this.scope(context)
    const sessionIds = params.contextId ? [this.sessionOf(context, params.contextId)] : undefined
    const records: SessionTask[] = []
    let cursor: string | undefined
    do {
      const page = await this.registry.query({
        kind: this.kind,
        limit: PAGE,
        ...(sessionIds === undefined ? {} : { sessionIds }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      for (const task of page.tasks) if (task.sessionId.startsWith(scope)) records.push(task)
      cursor = page.nextCursor
    } while (cursor !== undefined)
    const wanted = params.status
    const after =
      params.statusTimestampAfter === undefined || params.statusTimestampAfter === ''
        ? undefined
        : Date.parse(params.statusTimestampAfter)
    let matching = records.filter(
      (record) =>
        (wanted === undefined || wanted === 0 || a2aState(record) === wanted) &&
        (after === undefined || Date.parse(record.stateChangedAt) > after),
    )
    matching.sort((a, b) =>
      a.stateChangedAt !== b.stateChangedAt
        ? b.stateChangedAt.localeCompare(a.stateChangedAt)
        : b.id.localeCompare(a.id),
    )
    const totalSize = matching.length
    if (params.pageToken) {
      const token = base64ToUtf8(params.pageToken)
      const bar = token.indexOf('|')
      const at = matching.findIndex(
        (r) => r.stateChangedAt === token.slice(0, bar) && r.id === token.slice(bar + 1),
      )
      matching = at === -1 ? [] : matching.slice(at + 1)
    }
    const pageSize = params.pageSize ?? DEFAULT_PAGE_SIZE
    const page = matching.slice(0, pageSize)
    const tasks: Task[] = []
    for (const record of page) {
      const task = await this.rebuild(record)
      if (params.includeArtifacts !== true) task.artifacts = []
      tasks.push(task)
    }
    const last = page.at(-1)
    const nextPageToken =
      last !== undefined && matching.length > page.length
        ? utf8ToBase64(`${last.stateChangedAt}|${last.id}`)
        : ''
    return { tasks, nextPageToken, pageSize, totalSize }
  }
}
