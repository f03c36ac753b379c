import type { JsonValue } from '../model/json.js'
import type { SessionTask, TaskMessage } from '../model/schemas.js'
import type { SessionTaskRegistry } from '../registry/registry.js'
import type { TaskSink } from './sink.js'

/** What an executor gets with every call: where to report and when to stop. */
export interface TaskExecutionContext {
  /** The registry that owns the task. */
  registry: SessionTaskRegistry
  /** The task's session. */
  sessionId: string
  /** Report plane for the running work, fenced on the task's attempt. */
  sink: TaskSink
  /** Aborted on cancel, timeout or supervisor close. */
  signal: AbortSignal
}

/**
 * Control plane of one task kind: the runtime calls in, the running work
 * reports back through `ctx.sink`. Only `kind` and `cancel` are required.
 * Each method may be synchronous or return a promise; a synchronous throw
 * is treated like a rejection. `Spec` is the shape of `task.spec` for this
 * kind (`TaskExecutor<ReviewSpec>`); the runtime does not check it, so
 * validate the spec at spawn time if callers are not trusted.
 */
export interface TaskExecutor<Spec = JsonValue> {
  /** The task kind this executor runs. */
  readonly kind: string
  /** True when a task whose worker died can be started again (default false). */
  canReattach?(task: SessionTask<Spec>): boolean
  /** Launches the work; may resolve as soon as it is running. */
  start?(task: SessionTask<Spec>, ctx: TaskExecutionContext): Promise<void> | void
  /** Hands an inbound message to the running work. */
  deliver?(
    task: SessionTask<Spec>,
    message: TaskMessage,
    ctx: TaskExecutionContext,
  ): Promise<void> | void
  /** Asks the work to stop; settle the task through `ctx.sink` when it has. */
  cancel(task: SessionTask<Spec>, ctx: TaskExecutionContext): Promise<void> | void
  /** Brings the record in line with the outside world (default: nothing to do). */
  reconcile?(task: SessionTask<Spec>, ctx: TaskExecutionContext): Promise<void> | void
}

/** An executor with every optional method filled in by its documented default, each returning a promise. */
export type ResolvedTaskExecutor = {
  /** The task kind this executor runs. */
  readonly kind: string
  /** True when a task whose worker died can be started again. */
  canReattach(task: SessionTask): boolean
  /** Launches the work. */
  start(task: SessionTask, ctx: TaskExecutionContext): Promise<void>
  /** Hands an inbound message to the running work. */
  deliver(task: SessionTask, message: TaskMessage, ctx: TaskExecutionContext): Promise<void>
  /** Asks the work to stop. */
  cancel(task: SessionTask, ctx: TaskExecutionContext): Promise<void>
  /** Brings the record in line with the outside world. */
  reconcile(task: SessionTask, ctx: TaskExecutionContext): Promise<void>
}

/** How a capability contributes an executor for one kind; `Spec` as in {@link TaskExecutor}. */
export interface TaskExecutorPlugin<Spec = JsonValue> {
  /** The kind; must equal the created executor's `kind`. */
  kind: string
  /** Creates the executor (called once, at registration). */
  executor: () => TaskExecutor<Spec>
}
