/**
 * Heap per finished task and per short message, after forced GCs
 * (`--expose-gc`), each measured from an empty registry with default options
 * (replay buffer 1000 per session, replay budget 50,000 events), so the
 * figures include what the replay budget fills with.
 *
 * - Tasks: the heap delta of building the task-scaling run's largest
 *   registry (bench/scaling.ts), divided by its finished tasks.
 * - Messages: a fresh registry of 1,000 tasks (one session each), 100 short
 *   messages (`step N ok`) on each; heap delta ÷ messages.
 */
import { InMemorySessionTaskRegistry } from '../src/index.js'
import { canMeasureHeap, heapUsed, progress, tickingClock } from './harness.js'

/** What building the largest registry cost. */
export type TaskMemory = {
  /** Finished tasks built, and the heap delta after GC. */
  finishedTasks: number
  taskHeapDelta: number
  /** Raw heap delta ÷ finished tasks (the target's figure). */
  bytesPerTask: number
  /** Average JSON length of a task's spec (`{ n }`), for reference. */
  specTextBytes: number
  /** Events the registry kept for replay when measured (bounded by the budget). */
  taskBufferedEvents: number
}

/** What recording short messages cost. */
export type MessageMemory = {
  messages: number
  messageTasks: number
  messageHeapDelta: number
  /** Raw heap delta ÷ messages (the target's figure). */
  bytesPerMessage: number
  /** Average text length of a message, for reference. */
  messageTextBytes: number
  messageBufferedEvents: number
}

/** Every memory figure of a run; `bytesPerMessageSingleTask` comes from message scaling. */
export type MemoryResult = TaskMemory &
  MessageMemory & {
    /** Messages on the one task of message scaling's largest registry, and heap per message there. */
    singleTaskMessages: number
    bytesPerMessageSingleTask: number
  }

const specBytes = (count: number) => {
  let bytes = 0
  for (let f = 0; f < count; f++) bytes += JSON.stringify({ n: f }).length
  return bytes / count
}

/** The task figures from a registry of `tasks` finished tasks that took `delta` bytes. */
export function taskMemory(
  tasks: number,
  delta: number,
  stats: { tasks: number; bufferedEvents: number },
): TaskMemory {
  if (stats.tasks !== tasks) throw new Error(`registry holds ${stats.tasks} tasks, not ${tasks}`)
  return {
    finishedTasks: tasks,
    taskHeapDelta: delta,
    bytesPerTask: delta / tasks,
    specTextBytes: specBytes(tasks),
    taskBufferedEvents: stats.bufferedEvents,
  }
}

/** Heap per short message: `perTask` messages on each of `tasks` tasks of a fresh registry. */
export async function runMessageMemory(
  tasks: number,
  perTask: number,
): Promise<MessageMemory | undefined> {
  if (!canMeasureHeap) return undefined
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const ids: { sessionId: string; id: string }[] = []
  for (let k = 0; k < tasks; k++) {
    const sessionId = `m-${k}`
    const task = await registry.create({ sessionId, kind: 'agent', displayName: 'chatty' })
    ids.push({ sessionId, id: task.id })
  }
  const messages = tasks * perTask
  progress(`memory: ${messages.toLocaleString('en-US')} messages on ${tasks} tasks`)
  let textBytes = 0
  const before = await heapUsed()
  for (let k = 0; k < perTask; k++) {
    for (const { sessionId, id } of ids) {
      // A string of its own per message, as real messages have.
      const text = `step ${k} ok`
      textBytes += text.length
      await registry.recordMessage(sessionId, id, {
        direction: 'outbound',
        content: [{ type: 'text', text }],
      })
    }
  }
  const after = await heapUsed()
  // Read the registry after the heap: V8 may collect a local it sees no later use of.
  const stats = registry.stats()
  if (stats.tasks !== tasks) throw new Error('registry lost tasks')
  return {
    messages,
    messageTasks: tasks,
    messageHeapDelta: after - before,
    bytesPerMessage: (after - before) / messages,
    messageTextBytes: textBytes / messages,
    messageBufferedEvents: stats.bufferedEvents,
  }
}
