import type { TaskState } from '@a2a-js/sdk'
import {
  type AgentExecutor,
  DefaultExecutionEventBus,
  type ExecutionEventBus,
  type ExecutionEventBusManager,
  type OwnerResolver,
  ServerCallContext,
} from '@a2a-js/sdk/server'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { AgentRuns } from './agent-runs.js'
import { A2A_STATE } from './codec.js'
import { RegistryMirrorBus } from './mirror-bus.js'
import { a2aScope, defaultOwner } from './session.js'

/** Options of {@link SessionTasksA2AEventBusManager}. */
export type SessionTasksA2AEventBusManagerOptions = {
  /** The registry the task store writes to; start it so other processes' events arrive. */
  registry: SessionTaskRegistry
  /** The same owner rule as the task store's. @default the authenticated user's name, else 'unknown' */
  ownerResolver?: OwnerResolver | undefined
  /**
   * How long a bus following a task that runs elsewhere waits for a change
   * before it ends (a resubscribe to a task whose process died would
   * otherwise never end).
   * @default 300000
   */
  followIdleMs?: number | undefined
}

const UNSCOPED = new ServerCallContext()

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
  private readonly runs: AgentRuns
  private readonly idleMs: number

  constructor(options: SessionTasksA2AEventBusManagerOptions) {
    this.registry = options.registry
    this.ownerOf = options.ownerResolver ?? defaultOwner
    this.idleMs = options.followIdleMs ?? 300_000
    this.runs = new AgentRuns(this.registry, this.ownerOf)
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
    const scope = a2aScope(context ?? UNSCOPED, this.ownerOf)
    return new RegistryMirrorBus(this.registry, taskId, scope, this.idleMs)
  }

  /** Drops the in-process bus of a task. */
  cleanupByTaskId(taskId: string, context?: ServerCallContext): void {
    const key = this.key(taskId, context)
    this.local.get(key)?.removeAllListeners()
    this.local.delete(key)
    this.runs.release(taskId)
  }

  /**
   * Closes a bus whose agent returned at `input-required` instead of
   * keeping it: the answer may reach another process, and a resubscribe
   * here then follows the registry, which sees that process's events too.
   * While a follow-up still executes on the same bus, that execution's own
   * settle decides.
   */
  settleByTaskId(
    taskId: string,
    eventBus: ExecutionEventBus,
    lastObservedState: TaskState | undefined,
    context: ServerCallContext,
  ): boolean {
    if (this.runs.isActive(eventBus)) return true
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
   * its task finished by someone else, ends its stream with the stored
   * status, drops the agent's later events and calls its agent's `cancelTask`.
   */
  agentExecutor(agent: AgentExecutor): AgentExecutor {
    return this.runs.wrap(agent)
  }
}
