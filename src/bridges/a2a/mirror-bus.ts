import type { Artifact, Task } from '@a2a-js/sdk'
import type { AgentExecutionEvent, ExecutionEventBus } from '@a2a-js/sdk/server'
import { rereadAfterGaps } from '../../execution/gap-recheck.js'
import { startTimer } from '../../execution/timer.js'
import type { SessionTask } from '../../model/schemas.js'
import { isTerminalState } from '../../model/state.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { a2aTask } from './codec.js'
import { contextIdOf } from './session.js'

type EventListener = (event: AgentExecutionEvent) => void
type FinishedListener = () => void
type Name = 'event' | 'finished'

// What was last sent of one artifact, so a resubscriber gets only new parts.
type Sent = { head: string; count: number; last: string }

const headOf = (a: Artifact) =>
  JSON.stringify([a.name, a.description, a.metadata ?? null, a.extensions])
const partKey = (a: Artifact, i: number) => JSON.stringify(a.parts[i] ?? null)

/**
 * An `ExecutionEventBus` for a task whose agent runs somewhere else: it
 * turns the registry's events for the task into A2A status and artifact
 * updates. It starts following when its first listener arrives, first
 * publishes the task's current status and artifacts (so nothing between a
 * caller's snapshot and the subscription is missed; a repeat is harmless),
 * then only what changes (new artifact parts as appends), and ends itself
 * at a terminal state, when the task is deleted, when its last listener
 * leaves, or after `idleMs` without a change (a task whose process died
 * would otherwise hold it for ever). Events published on it go to its own
 * listeners only.
 */
export class RegistryMirrorBus implements ExecutionEventBus {
  private readonly listeners = new Set<EventListener>()
  private readonly onceListeners = new Set<EventListener>()
  private readonly finishers = new Set<FinishedListener>()
  private readonly onceFinishers = new Set<FinishedListener>()
  private started = false
  private done = false
  private unsubscribe: (() => void) | undefined
  private unhookGap: (() => void) | undefined
  private lastStatus = ''
  private readonly sent = new Map<string, Sent>()
  private stopIdle: (() => void) | undefined

  constructor(
    private readonly registry: SessionTaskRegistry,
    private readonly taskId: string,
    private readonly scope: string,
    private readonly idleMs = 300_000,
  ) {}

  publish(event: AgentExecutionEvent): void {
    if (this.done) return
    for (const listener of [...this.listeners]) listener(event)
    const once = [...this.onceListeners]
    this.onceListeners.clear()
    for (const listener of once) listener(event)
    if (once.length > 0) this.idleCheck()
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
    this.unhookGap?.()
    this.unhookGap = undefined
    this.stopIdle?.()
    this.stopIdle = undefined
  }

  // Ends the mirror when the task has not changed for idleMs.
  private armIdle(): void {
    this.stopIdle?.()
    this.stopIdle = startTimer(this.idleMs, () => this.finished(), { unref: true })
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
    // Session events arrive in commit order; only the first read below can
    // be older than one of them, so it is used only when none came first.
    let heard = 0
    this.unsubscribe = this.registry.subscribe(sessionId, (type, payload) => {
      if (type === 'task.deleted') {
        if ((payload as { taskId: string }).taskId === this.taskId) this.finished()
      } else if (type === 'task.updated' || type === 'task.created') {
        const task = (payload as { task: SessionTask }).task
        if (task.id !== this.taskId) return
        heard++
        this.relay(task)
      }
    })
    // Lost events may have held the terminal status: read the record again.
    this.unhookGap = rereadAfterGaps(
      this.registry,
      sessionId,
      this.taskId,
      () => heard,
      (record) => {
        if (this.done) return
        if (record === undefined) this.finished()
        else this.relay(record)
      },
    )
    this.armIdle()
    // Listening now; whatever changed before is in the current record. A
    // waiting status is not repeated: the SDK's queue ends at input-required,
    // and a caller resubscribing to a waiting task wants what comes next.
    const current = await this.registry.get(sessionId, this.taskId)
    if (this.done || heard > 0) return
    if (current === undefined) this.finished()
    else this.relay(current, current.state === 'awaiting_input')
  }

  // Publishes what changed since the last record seen: artifacts first, then the status.
  private relay(record: SessionTask, quietStatus = false): void {
    if (this.done) return
    this.armIdle()
    const contextId = contextIdOf(record.sessionId)
    const task: Task = a2aTask(record, contextId, [])
    const terminal = isTerminalState(record.state)
    for (const artifact of task.artifacts)
      this.relayArtifact(task.id, contextId, artifact, terminal)
    const status = JSON.stringify([record.state, record.stateChangedAt, record.result ?? null])
    if (status !== this.lastStatus) {
      this.lastStatus = status
      if (!quietStatus)
        this.publish({
          kind: 'statusUpdate',
          data: { taskId: task.id, contextId, status: task.status, metadata: {} },
        })
    }
    if (terminal) this.finished()
  }

  // New parts after the ones sent go out as an append; any other change as the whole artifact.
  private relayArtifact(taskId: string, contextId: string, artifact: Artifact, last: boolean) {
    const before = this.sent.get(artifact.artifactId)
    const head = headOf(artifact)
    const count = artifact.parts.length
    const grew =
      before !== undefined &&
      before.head === head &&
      count >= before.count &&
      partKey(artifact, before.count - 1) === before.last
    if (grew && count === before.count) return
    const parts = grew ? artifact.parts.slice(before.count) : artifact.parts
    this.sent.set(artifact.artifactId, { head, count, last: partKey(artifact, count - 1) })
    this.publish({
      kind: 'artifactUpdate',
      data: {
        taskId,
        contextId,
        artifact: { ...artifact, parts },
        append: grew,
        lastChunk: last,
        metadata: {},
      },
    })
  }
}
