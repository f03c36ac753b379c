import type { Message, TaskState } from '@a2a-js/sdk'
import {
  type AgentExecutionEvent,
  type AgentExecutor,
  DefaultExecutionEventBus,
  type ExecutionEventBus,
  type ExecutionEventBusManager,
  type OwnerResolver,
  type RequestContext,
  ServerCallContext,
} from '@a2a-js/sdk/server'
import type { SessionTask } from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { A2A_STATE } from './codec.js'
import { RegistryMirrorBus } from './mirror-bus.js'
import { a2aScope, a2aSessionId, contextIdOf, defaultOwner } from './session.js'

/** Options of {@link SessionTasksA2AEventBusManager}. */
export type SessionTasksA2AEventBusManagerOptions = {
  /** The registry the task store writes to; start it so other processes' events arrive. */
  registry: SessionTaskRegistry
  /** The same owner rule as the task store's. @default the authenticated user's name, else 'unknown' */
  ownerResolver?: OwnerResolver | undefined
}

const TERMINAL: readonly number[] = [
  A2A_STATE.completed,
  A2A_STATE.failed,
  A2A_STATE.canceled,
  A2A_STATE.rejected,
]
const UNSCOPED = new ServerCallContext()

// One execution of the wrapped agent in this process.
type Run = { bus: ExecutionEventBus; ended: boolean; canceled: boolean }

/**
 * The `@a2a-js/sdk` 1.x `ExecutionEventBusManager` that makes streams,
 * resubscribes and cancels work from any process over one registry. A task
 * executing here gets an in-process bus, as with the SDK's manager; for a
 * task executing elsewhere, `getByTaskId` returns a bus fed by the
 * registry's events for it, so `resubscribe` follows it live and `cancel`
 * waits for its end. Pair it with {@link SessionTasksA2AEventBusManager.agentExecutor},
 * which makes a cancel reach the process that runs the agent.
 */
export class SessionTasksA2AEventBusManager implements ExecutionEventBusManager {
  private readonly registry: SessionTaskRegistry
  private readonly ownerOf: OwnerResolver
  private readonly local = new Map<string, ExecutionEventBus>()
  private readonly runs = new Map<string, Run>()

  constructor(options: SessionTasksA2AEventBusManagerOptions) {
    this.registry = options.registry
    this.ownerOf = options.ownerResolver ?? defaultOwner
  }

  private key(taskId: string, context: ServerCallContext | undefined): string {
    return a2aScope(context ?? UNSCOPED, this.ownerOf) + taskId
  }

  /** The in-process bus of a task, created on first use. */
  createOrGetByTaskId(taskId: string, context?: ServerCallContext): ExecutionEventBus {
    const key = this.key(taskId, context)
    let bus = this.local.get(key)
    if (bus === undefined) {
      bus = new DefaultExecutionEventBus()
      this.local.set(key, bus)
    }
    return bus
  }

  /** The in-process bus, else one that mirrors the task from the registry. */
  getByTaskId(taskId: string, context?: ServerCallContext): ExecutionEventBus {
    const bus = this.local.get(this.key(taskId, context))
    if (bus !== undefined) return bus
    return new RegistryMirrorBus(this.registry, taskId, a2aScope(context ?? UNSCOPED, this.ownerOf))
  }

  /** Drops the in-process bus of a task. */
  cleanupByTaskId(taskId: string, context?: ServerCallContext): void {
    const key = this.key(taskId, context)
    this.local.get(key)?.removeAllListeners()
    this.local.delete(key)
  }

  /**
   * Closes a bus whose agent returned at `input-required` instead of
   * keeping it: the answer may reach another process, and a resubscribe
   * here then follows the registry, which sees that process's events too.
   */
  settleByTaskId(
    taskId: string,
    eventBus: ExecutionEventBus,
    lastObservedState: TaskState | undefined,
    context: ServerCallContext,
  ): boolean {
    if (lastObservedState !== A2A_STATE.inputRequired) return false
    eventBus.finished()
    this.cleanupByTaskId(taskId, context)
    return true
  }

  /**
   * Wraps an agent so that a cancel works from any process: the wrapped
   * agent's `cancelTask` runs where the agent runs. A cancel of a task that
   * does not execute here is written to the registry as `canceled` (as the
   * SDK does for a task with no bus), and the process that runs it, seeing
   * its task finished by someone else, calls its agent's `cancelTask`.
   */
  agentExecutor(agent: AgentExecutor): AgentExecutor {
    return {
      execute: (context, bus) => this.execute(agent, context, bus),
      cancelTask: (taskId, bus) => this.cancel(agent, taskId, bus),
    }
  }

  private async execute(
    agent: AgentExecutor,
    context: RequestContext,
    bus: ExecutionEventBus,
  ): Promise<void> {
    const { taskId } = context
    const run: Run = { bus, ended: false, canceled: false }
    this.runs.set(taskId, run)
    const watch = (event: AgentExecutionEvent) => {
      if (event.kind === 'message') run.ended = true
      const state = event.kind === 'statusUpdate' ? event.data.status?.state : undefined
      if (state !== undefined && TERMINAL.includes(state)) run.ended = true
    }
    bus.on('event', watch)
    let unsubscribe = () => {}
    try {
      const sessionId = a2aSessionId(context.context, this.ownerOf, context.contextId)
      unsubscribe = this.registry.subscribe(sessionId, (type, payload) => {
        if (type !== 'task.updated') return
        const task = (payload as { task: SessionTask }).task
        if (task.id !== taskId || !isTerminalState(task.state) || run.ended || run.canceled) return
        // Finished by someone else (a cancel elsewhere, a deadline): stop the agent.
        run.canceled = true
        agent.cancelTask(taskId, bus).catch(() => {})
      })
    } catch {
      // A context too long for a session id: the store refuses the task anyway.
    }
    try {
      await agent.execute(context, bus)
    } finally {
      unsubscribe()
      bus.off('event', watch)
      if (this.runs.get(taskId) === run) this.runs.delete(taskId)
    }
  }

  private async cancel(agent: AgentExecutor, taskId: string, bus: ExecutionEventBus) {
    const run = this.runs.get(taskId)
    if (run !== undefined) {
      run.canceled = true
      await agent.cancelTask(taskId, bus)
      return
    }
    const record = await this.registry.find(taskId)
    if (record === undefined || isTerminalState(record.state)) return
    const contextId = contextIdOf(record.sessionId)
    const message: Message = {
      messageId: crypto.randomUUID(),
      role: 2,
      taskId,
      contextId,
      parts: [
        {
          content: { $case: 'text', value: 'Task cancellation requested by user.' },
          mediaType: 'text/plain',
          filename: '',
          metadata: {},
        },
      ],
      metadata: {},
      extensions: [],
      referenceTaskIds: [],
    }
    bus.publish({
      kind: 'statusUpdate',
      data: {
        taskId,
        contextId,
        status: {
          state: A2A_STATE.canceled as TaskState,
          message,
          timestamp: new Date().toISOString(),
        },
        metadata: {},
      },
    })
  }
}
