import type { Message, TaskState } from '@a2a-js/sdk'
import type {
  AgentExecutionEvent,
  AgentExecutor,
  ExecutionEventBus,
  OwnerResolver,
  RequestContext,
} from '@a2a-js/sdk/server'
import { rereadAfterGaps } from '../../execution/gap-recheck.js'
import type { SessionTask } from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { A2A_STATE, a2aTask, messageToJson } from './codec.js'
import { a2aSessionId, contextIdOf } from './session.js'

const TERMINAL: readonly number[] = [
  A2A_STATE.completed,
  A2A_STATE.failed,
  A2A_STATE.canceled,
  A2A_STATE.rejected,
]

// One execution of the wrapped agent in this process, followed in the
// registry while it may still publish: until it ends, returns at
// input-required, or (at auth-required) until its bus is cleaned up.
type Run = {
  bus: ExecutionEventBus
  guarded: ExecutionEventBus
  ended: boolean
  turnOver: boolean
  waiting: boolean
  foreign: boolean
  release: () => void
}

const cancelMessage = (taskId: string, contextId: string): Message => ({
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
})

type Listener = (event: AgentExecutionEvent) => void
type Name = 'event' | 'finished'

// The bus handed to the agent: once the task was finished by someone else,
// the agent's late events are dropped, so this process's stream agrees with the store.
class GuardedBus implements ExecutionEventBus {
  constructor(
    private readonly bus: ExecutionEventBus,
    private readonly run: { foreign: boolean },
  ) {}
  publish(event: AgentExecutionEvent): void {
    if (!this.run.foreign) this.bus.publish(event)
  }
  finished(): void {
    this.bus.finished()
  }
  on(name: 'event', listener: Listener): this
  on(name: 'finished', listener: () => void): this
  on(name: Name, listener: Listener): this {
    this.bus.on(name as 'event', listener)
    return this
  }
  off(name: 'event', listener: Listener): this
  off(name: 'finished', listener: () => void): this
  off(name: Name, listener: Listener): this {
    this.bus.off(name as 'event', listener)
    return this
  }
  once(name: 'event', listener: Listener): this
  once(name: 'finished', listener: () => void): this
  once(name: Name, listener: Listener): this {
    this.bus.once(name as 'event', listener)
    return this
  }
  removeAllListeners(name?: Name): this {
    this.bus.removeAllListeners(name)
    return this
  }
}

/**
 * The executions of wrapped agents in this process, and the cancel that
 * reaches them from any process (see `SessionTasksA2AEventBusManager.agentExecutor`).
 */
export class AgentRuns {
  private readonly runs = new Map<string, Run>()
  private readonly active = new Map<ExecutionEventBus, number>()

  constructor(
    private readonly registry: SessionTaskRegistry,
    private readonly ownerOf: OwnerResolver,
  ) {}

  /** True while an execution still runs on `bus`. */
  isActive(bus: ExecutionEventBus): boolean {
    return (this.active.get(bus) ?? 0) > 0
  }

  /** Stops following a task kept at auth-required (its bus was cleaned up). */
  release(taskId: string): void {
    this.runs.get(taskId)?.release()
  }

  /** The agent, with executions followed and cancels routed. */
  wrap(agent: AgentExecutor): AgentExecutor {
    return {
      execute: (context, bus) => this.execute(agent, context, bus),
      cancelTask: (taskId, bus) => this.cancel(agent, taskId, bus),
    }
  }

  private async execute(agent: AgentExecutor, context: RequestContext, bus: ExecutionEventBus) {
    const { taskId } = context
    this.runs.get(taskId)?.release()
    let unsubscribe = () => {}
    const run: Run = {
      bus,
      guarded: bus,
      ended: false,
      turnOver: false,
      waiting: false,
      foreign: false,
      release: () => {
        unsubscribe()
        bus.off('event', watch)
        if (this.runs.get(taskId) === run) this.runs.delete(taskId)
      },
    }
    run.guarded = new GuardedBus(bus, run)
    const watch = (event: AgentExecutionEvent) => {
      if (event.kind === 'message') run.ended = true
      const state =
        event.kind === 'statusUpdate'
          ? event.data.status?.state
          : event.kind === 'task'
            ? event.data.status?.state
            : undefined
      if (state === undefined) return
      if (TERMINAL.includes(state)) run.ended = true
      // The turn is over: what happens to the task next is another run's.
      if (state === A2A_STATE.inputRequired) run.turnOver = true
      run.waiting = state === A2A_STATE.authRequired
    }
    this.runs.set(taskId, run)
    this.active.set(bus, (this.active.get(bus) ?? 0) + 1)
    bus.on('event', watch)
    try {
      const sessionId = a2aSessionId(context.context, this.ownerOf, context.contextId)
      // Finished by someone else (a cancel elsewhere, a deadline): this
      // stream shows the stored end, and the agent is told to stop.
      const endedElsewhere = (task: SessionTask | undefined) => {
        if (run.ended || run.turnOver || run.foreign) return
        run.foreign = true
        if (task !== undefined) {
          const status = a2aTask(task, contextIdOf(task.sessionId), []).status
          bus.publish({
            kind: 'statusUpdate',
            data: { taskId, contextId: context.contextId, status, metadata: {} },
          })
        }
        agent.cancelTask(taskId, run.guarded).catch(() => {})
      }
      let heard = 0
      const stopEvents = this.registry.subscribe(sessionId, (type, payload) => {
        const deleted = type === 'task.deleted' && (payload as { taskId: string }).taskId === taskId
        const task = type === 'task.updated' ? (payload as { task: SessionTask }).task : undefined
        if (task?.id === taskId) heard++
        if (deleted || (task?.id === taskId && isTerminalState(task.state))) endedElsewhere(task)
      })
      // The end may have been among lost events: read the record again
      // (absent may be not saved yet, so only a stored end counts here).
      const stopGaps = rereadAfterGaps(
        this.registry,
        sessionId,
        taskId,
        () => heard,
        (task) => {
          if (task !== undefined && isTerminalState(task.state)) endedElsewhere(task)
        },
      )
      unsubscribe = () => {
        stopEvents()
        stopGaps?.()
      }
    } catch {
      // A context too long for a session id: the store refuses the task anyway.
    }
    try {
      await agent.execute(context, run.guarded)
    } finally {
      this.active.set(bus, (this.active.get(bus) ?? 1) - 1)
      if (this.active.get(bus) === 0) this.active.delete(bus)
      // At auth-required the agent may publish again later: keep following.
      if (!run.waiting || run.ended || run.foreign) run.release()
    }
  }

  private async cancel(agent: AgentExecutor, taskId: string, bus: ExecutionEventBus) {
    const run = this.runs.get(taskId)
    if (run !== undefined && !run.ended && !run.turnOver && !run.foreign) {
      await agent.cancelTask(taskId, run.guarded)
      return
    }
    const record = await this.registry.find(taskId)
    if (record === undefined || isTerminalState(record.state)) return
    const contextId = contextIdOf(record.sessionId)
    const message = cancelMessage(taskId, contextId)
    const timestamp = new Date().toISOString()
    // Written first, so the cancel holds even when the bus cannot deliver it;
    // the process running the agent sees it and stops its agent.
    await this.registry.update(record.sessionId, taskId, {
      state: 'canceled',
      stateChangedAt: timestamp,
      result: messageToJson(message),
    })
    bus.publish({
      kind: 'statusUpdate',
      data: {
        taskId,
        contextId,
        status: { state: A2A_STATE.canceled as TaskState, message, timestamp },
        metadata: {},
      },
    })
  }
}
