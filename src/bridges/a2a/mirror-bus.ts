import type { Task } from '@a2a-js/sdk'
import type { AgentExecutionEvent, ExecutionEventBus } from '@a2a-js/sdk/server'
import type { SessionTask } from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { a2aTask } from './codec.js'
import { contextIdOf } from './session.js'

type EventListener = (event: AgentExecutionEvent) => void
type FinishedListener = () => void
type Name = 'event' | 'finished'

/**
 * An `ExecutionEventBus` for a task whose agent runs somewhere else: it
 * turns the registry's events for the task into A2A status and artifact
 * updates. It starts following when its first listener arrives, first
 * publishes the task's current status (so nothing between a caller's
 * snapshot and the subscription is missed; a repeat is harmless), and ends
 * itself at a terminal state, when the task is deleted, or when its last
 * listener leaves. Events published on it go to its own listeners only.
 */
export class RegistryMirrorBus implements ExecutionEventBus {
  private readonly listeners = new Set<EventListener>()
  private readonly onceListeners = new Set<EventListener>()
  private readonly finishers = new Set<FinishedListener>()
  private readonly onceFinishers = new Set<FinishedListener>()
  private started = false
  private done = false
  private unsubscribe: (() => void) | undefined
  private lastStatus = ''
  private lastUpdatedAt = ''
  private readonly artifacts = new Map<string, string>()

  constructor(
    private readonly registry: SessionTaskRegistry,
    private readonly taskId: string,
    private readonly scope: string,
  ) {}

  publish(event: AgentExecutionEvent): void {
    if (this.done) return
    for (const listener of [...this.listeners]) listener(event)
    const once = [...this.onceListeners]
    this.onceListeners.clear()
    for (const listener of once) listener(event)
  }

  finished(): void {
    if (this.done) return
    this.done = true
    this.stopFollowing()
    for (const listener of [...this.finishers]) listener()
    const once = [...this.onceFinishers]
    this.onceFinishers.clear()
    for (const listener of once) listener()
  }

  on(name: 'event', listener: EventListener): this
  on(name: 'finished', listener: FinishedListener): this
  on(name: Name, listener: EventListener | FinishedListener): this {
    if (name === 'event') {
      this.listeners.add(listener as EventListener)
      this.follow()
    } else this.finishers.add(listener as FinishedListener)
    return this
  }

  once(name: 'event', listener: EventListener): this
  once(name: 'finished', listener: FinishedListener): this
  once(name: Name, listener: EventListener | FinishedListener): this {
    if (name === 'event') {
      this.onceListeners.add(listener as EventListener)
      this.follow()
    } else this.onceFinishers.add(listener as FinishedListener)
    return this
  }

  off(name: 'event', listener: EventListener): this
  off(name: 'finished', listener: FinishedListener): this
  off(name: Name, listener: EventListener | FinishedListener): this {
    if (name === 'event') {
      this.listeners.delete(listener as EventListener)
      this.onceListeners.delete(listener as EventListener)
    } else {
      this.finishers.delete(listener as FinishedListener)
      this.onceFinishers.delete(listener as FinishedListener)
    }
    this.idleCheck()
    return this
  }

  removeAllListeners(name?: Name): this {
    if (name === undefined || name === 'event') {
      this.listeners.clear()
      this.onceListeners.clear()
    }
    if (name === undefined || name === 'finished') {
      this.finishers.clear()
      this.onceFinishers.clear()
    }
    this.idleCheck()
    return this
  }

  // Nobody listens any more: a mirror is used once, so it ends.
  private idleCheck(): void {
    if (this.started && this.listeners.size === 0 && this.onceListeners.size === 0) {
      this.done = true
      this.stopFollowing()
    }
  }

  private stopFollowing(): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
  }

  private follow(): void {
    if (this.started || this.done) return
    this.started = true
    void this.start().catch(() => this.finished())
  }

  private async start(): Promise<void> {
    const found = await this.registry.find(this.taskId)
    if (this.done) return
    if (found === undefined || !found.sessionId.startsWith(this.scope)) {
      this.finished()
      return
    }
    const { sessionId } = found
    this.unsubscribe = this.registry.subscribe(sessionId, (type, payload) => {
      if (type === 'task.deleted') {
        if ((payload as { taskId: string }).taskId === this.taskId) this.finished()
      } else if (type === 'task.updated' || type === 'task.created') {
        const task = (payload as { task: SessionTask }).task
        if (task.id === this.taskId) this.relay(task)
      }
    })
    // Listening now; whatever changed before is in the current record. A
    // waiting status is not repeated: the SDK's queue ends at input-required,
    // and a caller resubscribing to a waiting task wants what comes next.
    const current = await this.registry.get(sessionId, this.taskId)
    if (this.done) return
    if (current === undefined) this.finished()
    else this.relay(current, current.state === 'awaiting_input')
  }

  // Publishes what changed since the last record seen: artifacts first, then the status.
  private relay(record: SessionTask, quietStatus = false): void {
    if (this.done || record.updatedAt < this.lastUpdatedAt) return
    this.lastUpdatedAt = record.updatedAt
    const contextId = contextIdOf(record.sessionId)
    const task: Task = a2aTask(record, contextId, [])
    for (const artifact of task.artifacts) {
      const key = JSON.stringify(
        record.artifacts.find((a) => (a.id ?? a.name) === artifact.artifactId),
      )
      if (this.artifacts.get(artifact.artifactId) === key) continue
      this.artifacts.set(artifact.artifactId, key)
      this.publish({
        kind: 'artifactUpdate',
        data: {
          taskId: task.id,
          contextId,
          artifact,
          append: false,
          lastChunk: true,
          metadata: {},
        },
      })
    }
    const status = JSON.stringify([record.state, record.stateChangedAt, record.result ?? null])
    if (status !== this.lastStatus) {
      this.lastStatus = status
      if (!quietStatus)
        this.publish({
          kind: 'statusUpdate',
          data: { taskId: task.id, contextId, status: task.status, metadata: {} },
        })
    }
    if (isTerminalState(record.state)) this.finished()
  }
}
