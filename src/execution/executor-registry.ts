import {
  DuplicateExecutorError,
  UnsupportedOperationError,
  ValidationError,
} from '../model/errors.js'
import type { JsonValue } from '../model/json.js'
import { TaskExecutorPluginSchema, TaskKindSchema } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import type { ResolvedTaskExecutor, TaskExecutor, TaskExecutorPlugin } from './executor.js'

const OPTIONAL_METHODS = ['canReattach', 'start', 'deliver', 'reconcile'] as const

// Fills in the SPEC 7 defaults and turns synchronous throws into rejections,
// so callers can always `await` and `catch` the same way.
function resolve(executor: TaskExecutor): ResolvedTaskExecutor {
  const kind = executor.kind
  return {
    kind,
    canReattach: (task) =>
      executor.canReattach === undefined ? false : executor.canReattach(task) === true,
    start: async (task, ctx) => {
      if (executor.start === undefined) {
        throw new UnsupportedOperationError(
          `task kind '${kind}' does not support start via the registry`,
        )
      }
      await executor.start(task, ctx)
    },
    deliver: async (task, message, ctx) => {
      if (executor.deliver === undefined) {
        throw new UnsupportedOperationError(`task kind '${kind}' does not accept inbound messages`)
      }
      await executor.deliver(task, message, ctx)
    },
    cancel: async (task, ctx) => {
      await executor.cancel(task, ctx)
    },
    reconcile: async (task, ctx) => {
      if (executor.reconcile !== undefined) await executor.reconcile(task, ctx)
    },
  }
}

function checkExecutor(kind: string, executor: unknown): TaskExecutor {
  const problem = (path: string, message: string) =>
    new ValidationError(`invalid TaskExecutorPlugin: ${path}: ${message}`, [
      { path: path.split('.'), message },
    ])
  if (typeof executor !== 'object' || executor === null) {
    throw problem('executor', 'the factory must return an executor object')
  }
  const candidate = executor as Record<string, unknown>
  if (candidate.kind !== kind) {
    throw problem('executor.kind', `must equal the plugin kind '${kind}'`)
  }
  if (typeof candidate.cancel !== 'function') throw problem('executor.cancel', 'must be a function')
  for (const name of OPTIONAL_METHODS) {
    if (candidate[name] !== undefined && typeof candidate[name] !== 'function') {
      throw problem(`executor.${name}`, 'must be a function when present')
    }
  }
  // A typed executor's `Spec` is its author's word about the kind's specs;
  // from here on it runs on records as they are stored.
  return executor as TaskExecutor
}

/**
 * A set of executors, one per task kind. Hosts and tests can hold isolated
 * ones; the module-level functions use a shared default instance.
 */
export class TaskExecutorRegistry {
  private readonly executors = new Map<string, ResolvedTaskExecutor>()

  /**
   * Adds a plugin and returns its unregister function. The factory runs
   * now, so a broken plugin fails here, not at the first spawn. `Spec` is
   * inferred from the plugin's executor and not checked at run time.
   */
  register<Spec = JsonValue>(plugin: TaskExecutorPlugin<Spec>): () => void {
    const { kind, executor } = parseInput(TaskExecutorPluginSchema, plugin, 'TaskExecutorPlugin')
    if (this.executors.has(kind)) {
      throw new DuplicateExecutorError(`an executor for task kind '${kind}' is already registered`)
    }
    let made: unknown
    try {
      made = (executor as () => unknown)()
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new ValidationError(
        `invalid TaskExecutorPlugin: executor: the factory threw: ${reason}`,
        [{ path: ['executor'], message: `the factory threw: ${reason}` }],
        { cause: error },
      )
    }
    const resolved = resolve(checkExecutor(kind, made))
    this.executors.set(kind, resolved)
    return () => {
      // Only this registration: a later plugin for the same kind stays.
      if (this.executors.get(kind) === resolved) this.executors.delete(kind)
    }
  }

  /** The executor for a kind (with defaults filled in), or `undefined`. */
  find(kind: string): ResolvedTaskExecutor | undefined {
    return this.executors.get(parseInput(TaskKindSchema, kind, 'kind'))
  }

  /** The registered kinds, in registration order. */
  kinds(): string[] {
    return [...this.executors.keys()]
  }
}

// Keyed on a registered symbol so two copies of the package share one default.
const DEFAULT_KEY = Symbol.for('session-tasks.default-executor-registry')
const holder = globalThis as { [DEFAULT_KEY]?: TaskExecutorRegistry }

/** The module-level executor registry used when no `executors` option is given. */
export function defaultTaskExecutors(): TaskExecutorRegistry {
  holder[DEFAULT_KEY] ??= new TaskExecutorRegistry()
  return holder[DEFAULT_KEY]
}

/** Registers a plugin in the module-level registry; returns its unregister function. */
export function registerTaskExecutor<Spec = JsonValue>(
  plugin: TaskExecutorPlugin<Spec>,
): () => void {
  return defaultTaskExecutors().register(plugin)
}

/** The module-level executor for a kind, or `undefined`. */
export function findTaskExecutor(kind: string): ResolvedTaskExecutor | undefined {
  return defaultTaskExecutors().find(kind)
}

/** The kinds registered in the module-level registry. */
export function listTaskExecutorKinds(): string[] {
  return defaultTaskExecutors().kinds()
}
