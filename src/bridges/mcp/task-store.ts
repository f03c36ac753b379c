import type {
  CreateTaskOptions,
  TaskStore,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js'
import { isValidationError } from '../../model/errors.js'
import type { JsonValue } from '../../model/json.js'
import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskState } from '../../model/state.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'

/** Options of {@link SessionTasksMcpTaskStore}. */
export type SessionTasksMcpTaskStoreOptions = {
  /** Where the tasks live: any registry (in memory, PostgreSQL, ...). */
  registry: SessionTaskRegistry
  /**
   * The kind of the records.
   * @default 'mcp'
   */
  kind?: string | undefined
}

type McpStatus = Task['status']

const TO_STATE: Record<McpStatus, SessionTaskState> = {
  working: 'running',
  input_required: 'awaiting_input',
  completed: 'succeeded',
  failed: 'failed',
  cancelled: 'canceled',
}
const TO_STATUS: Record<SessionTaskState, McpStatus> = {
  queued: 'working',
  running: 'working',
  awaiting_input: 'input_required',
  succeeded: 'completed',
  failed: 'failed',
  canceled: 'cancelled',
}

/** The registry session of an MCP session (or of tasks created outside one). */
export const mcpSession = (sessionId: string | undefined): string =>
  sessionId === undefined ? 'mcp' : `mcp/${encodeURIComponent(sessionId)}`

const PAGE_SIZE = 10
// Bounds the compare-and-set loop of one status write under contention.
const FINISH_TRIES = 20

// What the record's spec keeps of the creating call.
type McpSpec = { ttl: number | null; pollInterval: number; requestId: RequestId; request: Request }

/**
 * The `@modelcontextprotocol/sdk` 1.x experimental-tasks `TaskStore` over
 * any session-tasks registry. A task is a record of kind `mcp` in the
 * session `mcp/<sessionId>` (or `mcp` when created outside a session); its
 * status is the record's state and `stateDetail` (the status message), its
 * result the record's `result`, its TTL the record's `expiresAt` (an
 * expired task is absent to every read and `prune` deletes it), counted
 * from creation and again from the moment the task ends, as the SDK's
 * in-memory store does. Nothing is kept in this process: a store in
 * another process over the same registry finds, lists, pages and expires
 * the same tasks. Terminal tasks refuse further results and statuses, by
 * a compare-and-set on the state, so two processes never both finish one.
 */
export class SessionTasksMcpTaskStore implements TaskStore {
  private readonly registry: SessionTaskRegistry
  private readonly kind: string

  constructor(options: SessionTasksMcpTaskStoreOptions) {
    this.registry = options.registry
    this.kind = options.kind ?? 'mcp'
  }

  private expiry(ttl: number | null, from: Date): string | undefined {
    return ttl === null || ttl <= 0 ? undefined : new Date(from.getTime() + ttl).toISOString()
  }

  /** Creates a working task for a request. */
  async createTask(
    taskParams: CreateTaskOptions,
    requestId: RequestId,
    request: Request,
    sessionId?: string,
  ): Promise<Task> {
    const ttl = taskParams.ttl ?? null
    const spec: McpSpec = {
      ttl,
      pollInterval: taskParams.pollInterval ?? 1000,
      requestId,
      request,
    }
    const expiresAt = this.expiry(ttl, this.registry.now())
    const record = await this.registry.create({
      sessionId: mcpSession(sessionId),
      kind: this.kind,
      displayName: `MCP ${request.method}`,
      spec: spec as unknown as JsonValue,
      state: 'running',
      ...(expiresAt === undefined ? {} : { expiresAt }),
    })
    return toTask(record)
  }

  // The record, when visible from `sessionId` (as the SDK scopes: a task
  // created in a session is hidden from other sessions only).
  private async lookup(taskId: string, sessionId: string | undefined) {
    // An id the registry cannot hold names no task; any other failure (a
    // dropped connection) is an error, not "no such task".
    const record = await this.registry.find(taskId).catch((error: unknown) => {
      if (isValidationError(error)) return undefined
      throw error
    })
    if (record === undefined || record.kind !== this.kind) return undefined
    if (sessionId !== undefined && record.sessionId !== 'mcp') {
      if (record.sessionId !== mcpSession(sessionId)) return undefined
    }
    return record
  }

  private async found(taskId: string, sessionId: string | undefined): Promise<SessionTask> {
    const record = await this.lookup(taskId, sessionId)
    if (record === undefined) throw new Error(`Task with ID ${taskId} not found`)
    return record
  }

  /** The task, or null. */
  async getTask(taskId: string, sessionId?: string): Promise<Task | null> {
    const record = await this.lookup(taskId, sessionId)
    return record === undefined ? null : toTask(record)
  }

  /** Stores the result and ends the task; once only. */
  async storeTaskResult(
    taskId: string,
    status: 'completed' | 'failed',
    result: Result,
    sessionId?: string,
  ): Promise<void> {
    const record = await this.found(taskId, sessionId)
    await this.finish(record, {
      state: TO_STATE[status],
      result: result as unknown as JsonValue,
      ...this.restartTtl(record),
    })
  }

  /** The stored result; throws when there is none. */
  async getTaskResult(taskId: string, sessionId?: string): Promise<Result> {
    const record = await this.found(taskId, sessionId)
    if (record.result === undefined) throw new Error(`Task ${taskId} has no result stored`)
    return record.result as unknown as Result
  }

  /** Moves a task that has not ended to `status`, with an optional status message. */
  async updateTaskStatus(
    taskId: string,
    status: McpStatus,
    statusMessage?: string,
    sessionId?: string,
  ): Promise<void> {
    const record = await this.found(taskId, sessionId)
    const state = TO_STATE[status]
    await this.finish(record, {
      state,
      ...(statusMessage ? { stateDetail: statusMessage } : {}),
      ...(isTerminalState(state) ? this.restartTtl(record) : {}),
    })
  }

  // The TTL runs again from the end of the task, as in the SDK's store.
  private restartTtl(record: SessionTask): { expiresAt?: string } {
    const expiresAt = this.expiry((record.spec as McpSpec).ttl, this.registry.now())
    return expiresAt === undefined ? {} : { expiresAt }
  }

  // A compare-and-set on the state read: of two racing writers one wins,
  // the other sees the task ended and throws, as the SDK's store does.
  private async finish(
    first: SessionTask,
    update: { state: SessionTaskState; [key: string]: unknown },
  ): Promise<void> {
    let record = first
    for (let tries = 0; tries < FINISH_TRIES; tries++) {
      if (isTerminalState(record.state)) {
        throw new Error(
          `Cannot update task ${record.id} from terminal status '${TO_STATUS[record.state]}'. Terminal states (completed, failed, cancelled) cannot transition to other states.`,
        )
      }
      const outcome = await this.registry.updateWithOutcome(record.sessionId, record.id, {
        ...update,
        expectedState: record.state,
      })
      if (outcome === undefined) throw new Error(`Task with ID ${record.id} not found`)
      if (outcome.applied) return
      // Another writer moved it first: decide again on what it wrote.
      record = outcome.task
    }
    throw new Error(`Task ${first.id} kept changing under ${FINISH_TRIES} status writes`)
  }

  /**
   * Lists the tasks visible from `sessionId`, oldest first, 10 at a time
   * (the SDK's page size); `nextCursor` continues.
   */
  async listTasks(
    cursor?: string,
    sessionId?: string,
  ): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const page = await this.registry.query({
      kind: this.kind,
      limit: PAGE_SIZE,
      ...(sessionId === undefined ? {} : { sessionIds: ['mcp', mcpSession(sessionId)] }),
      ...(cursor === undefined ? {} : { cursor }),
    })
    const tasks = page.tasks.map(toTask)
    return page.nextCursor === undefined ? { tasks } : { tasks, nextCursor: page.nextCursor }
  }
}

/** The MCP task a record stands for. */
function toTask(record: SessionTask): Task {
  const spec = record.spec as McpSpec
  const task: Task = {
    taskId: record.id,
    status: TO_STATUS[record.state],
    ttl: spec.ttl,
    createdAt: record.createdAt,
    lastUpdatedAt: record.updatedAt,
    pollInterval: spec.pollInterval,
  }
  if (record.stateDetail !== undefined) task.statusMessage = record.stateDetail
  return task
}
