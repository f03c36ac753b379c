/**
 * The peers, driven through their nearest equivalents of the registry's
 * operations:
 *
 * - A2A (`@a2a-js/sdk/server` InMemoryTaskStore): a store of whole `Task`
 *   objects with `save`/`load`/`list`, each copying with `structuredClone`.
 *   An update is what A2A's own ResultManager does for a status update:
 *   load, replace the status (state + a status message carrying the
 *   progress), save. No events, no lifecycle rules beyond the caller's.
 * - MCP (`@modelcontextprotocol/sdk` experimental InMemoryTaskStore):
 *   `createTask`/`getTask`/`updateTaskStatus`/`storeTaskResult`/`listTasks`.
 *   Records are mutated in place; an update is a status plus a status
 *   message; there is no progress object, no history and no events.
 */
import { randomUUID } from 'node:crypto'
import { type Message, Role, type Task, TaskState } from '@a2a-js/sdk'
import { InMemoryTaskStore as A2ATaskStore, ServerCallContext } from '@a2a-js/sdk/server'
import { InMemoryTaskStore as McpTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks'

/** An A2A text message, as a status message or a history entry. */
export function a2aMessage(taskId: string, contextId: string, text: string): Message {
  return {
    messageId: randomUUID(),
    contextId,
    taskId,
    role: Role.ROLE_AGENT,
    parts: [
      { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: '' },
    ],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  }
}

/** The A2A SDK's in-memory store, with create, update (load, set status, save), get and list. */
export class A2APeer {
  readonly store = new A2ATaskStore()
  readonly context = new ServerCallContext()

  /** Saves a new submitted task whose metadata is the spec. */
  async create(
    sessionId: string,
    metadata: Record<string, unknown>,
    history: (taskId: string) => Message[] = () => [],
  ): Promise<Task> {
    const id = randomUUID()
    const task: Task = {
      id,
      contextId: sessionId,
      status: {
        state: TaskState.TASK_STATE_SUBMITTED,
        message: undefined,
        timestamp: new Date().toISOString(),
      },
      artifacts: [],
      history: history(id),
      metadata,
    }
    await this.store.save(task, this.context)
    return task
  }

  /** A status update the way A2A's ResultManager applies one: load, set status, save. */
  async update(taskId: string, state: TaskState, text?: string): Promise<Task | undefined> {
    const task = await this.store.load(taskId, this.context)
    if (task === undefined) return undefined
    task.status = {
      state,
      message: text === undefined ? undefined : a2aMessage(taskId, task.contextId, text),
      timestamp: new Date().toISOString(),
    }
    await this.store.save(task, this.context)
    return task
  }

  /** `load`: a structuredClone of the stored task. */
  get(taskId: string): Promise<Task | undefined> {
    return this.store.load(taskId, this.context)
  }

  /** One session (A2A context) in one page: A2A caps a page at 100 tasks. */
  async list(sessionId: string): Promise<Task[]> {
    const page = await this.store.list(
      {
        tenant: '',
        contextId: sessionId,
        status: TaskState.TASK_STATE_UNSPECIFIED,
        pageSize: 100,
        pageToken: '',
        statusTimestampAfter: undefined,
      },
      this.context,
    )
    return page.tasks
  }

  /** Create, working, 10 progress updates, completed. */
  async lifecycle(sessionId: string): Promise<void> {
    const task = await this.create(sessionId, { n: 1 })
    await this.update(task.id, TaskState.TASK_STATE_WORKING)
    for (let k = 1; k <= 10; k++)
      await this.update(task.id, TaskState.TASK_STATE_WORKING, `${k}/10`)
    await this.update(task.id, TaskState.TASK_STATE_COMPLETED, 'done')
  }
}

/** The MCP SDK's experimental in-memory task store. */
export class McpPeer {
  readonly store = new McpTaskStore()
  private requestId = 0

  /** A task for a `tools/call` request whose arguments are the spec. */
  async create(sessionId: string, args: Record<string, unknown>): Promise<string> {
    const task = await this.store.createTask(
      { ttl: null },
      ++this.requestId,
      { method: 'tools/call', params: { name: 'job', arguments: args } },
      sessionId,
    )
    return task.taskId
  }

  /** `updateTaskStatus(working, text)`: mutates the record in place. */
  update(sessionId: string, taskId: string, text: string): Promise<void> {
    return this.store.updateTaskStatus(taskId, 'working', text, sessionId)
  }

  /** `getTask`: a shallow copy of the record. */
  get(sessionId: string, taskId: string) {
    return this.store.getTask(taskId, sessionId)
  }

  /** Every page of one session (MCP pages 10 tasks at a time). */
  async list(sessionId: string) {
    const tasks = []
    let cursor: string | undefined
    do {
      const page = await this.store.listTasks(cursor, sessionId)
      tasks.push(...page.tasks)
      cursor = page.nextCursor
    } while (cursor !== undefined)
    return tasks
  }

  /** Create (MCP tasks start `working`), working, 10 progress updates, completed with a result. */
  async lifecycle(sessionId: string): Promise<void> {
    const id = await this.create(sessionId, { n: 1 })
    await this.store.updateTaskStatus(id, 'working', undefined, sessionId)
    for (let k = 1; k <= 10; k++) await this.update(sessionId, id, `${k}/10`)
    await this.store.storeTaskResult(
      id,
      'completed',
      { content: [{ type: 'text', text: 'done' }] },
      sessionId,
    )
  }

  /** Clears the store's TTL timers (none with `ttl: null`, but be sure). */
  close(): void {
    this.store.cleanup()
  }
}
