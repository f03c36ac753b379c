import type { SessionTask } from '../../model/schemas.js'
import type { SessionTaskRegistry } from '../../registry/registry.js'
import { type TaskView, taskView } from './task-view.js'

/** The data parts {@link writeTaskParts} writes: a task card, and transient output deltas. */
export type TaskDataChunk =
  | { type: 'data-task'; id: string; data: TaskView }
  | {
      type: 'data-task-output'
      data: { taskId: string; stream: string; delta: string }
      transient: true
    }

/** What {@link writeTaskParts} writes to: the AI SDK's `UIMessageStreamWriter` fits. */
export type TaskPartWriter = {
  /** Appends one part to the stream. */
  write(part: TaskDataChunk): void
}

/** Options of {@link writeTaskParts}. */
export type TaskPartsOptions = {
  registry: SessionTaskRegistry
  sessionId: string
  writer: TaskPartWriter
  /** Which tasks get cards. @default every task of the session */
  filter?: ((task: SessionTask) => boolean) | undefined
  /** Also forward `task.output` deltas as transient parts. @default true */
  output?: boolean | undefined
  /** Stops forwarding when aborted (say, the request's signal). */
  signal?: AbortSignal | undefined
}

/**
 * Forwards the session's tasks into an AI SDK UI message stream as data
 * parts, so a chat UI shows live task cards: each change of a task writes
 * `data-task` with the task's id as the part id (the UI replaces the card
 * in place) and its model view as data; output deltas go out as transient
 * `data-task-output` parts (not kept in the message). Returns the function
 * that stops forwarding: call it in a `finally` (the SDK's writer drops
 * writes after its stream closed without telling), or pass `signal`.
 */
export function writeTaskParts(options: TaskPartsOptions): () => void {
  const { registry, sessionId, writer } = options
  const wanted = options.filter ?? (() => true)
  const shown = new Set<string>()
  let open = true
  const off = registry.subscribe(sessionId, (type, payload) => {
    if (!open) return
    try {
      if (type === 'task.created' || type === 'task.updated') {
        const task = (payload as { task: SessionTask }).task
        if (!wanted(task)) return
        shown.add(task.id)
        writer.write({ type: 'data-task', id: task.id, data: taskView(task) })
      } else if (type === 'task.output' && options.output !== false) {
        const out = payload as { taskId: string; stream: string; delta: string }
        if (!shown.has(out.taskId)) return
        writer.write({
          type: 'data-task-output',
          data: { taskId: out.taskId, stream: out.stream, delta: out.delta },
          transient: true,
        })
      }
    } catch {
      // A writer whose stream has closed: stop writing to it.
      open = false
      off()
    }
  })
  const stop = () => {
    open = false
    off()
    options.signal?.removeEventListener('abort', stop)
  }
  if (options.signal?.aborted === true) stop()
  else options.signal?.addEventListener('abort', stop, { once: true })
  return stop
}
