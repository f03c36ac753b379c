import { afterEach, describe, expect, it } from 'vitest'
import {
  DuplicateExecutorError,
  defaultTaskExecutors,
  findTaskExecutor,
  InMemorySessionTaskRegistry,
  isDuplicateExecutorError,
  isUnsupportedOperationError,
  isValidationError,
  listTaskExecutorKinds,
  newSessionTask,
  RegistryTaskSink,
  registerTaskExecutor,
  type SessionTask,
  type TaskExecutionContext,
  type TaskExecutor,
  type TaskExecutorPlugin,
  TaskExecutorRegistry,
  type TaskMessage,
  UnsupportedOperationError,
  ValidationError,
} from '../src/index.js'

// Captured before any test in this file registers anything: importing the
// package must not register executors as a side effect.
const kindsAtImport = listTaskExecutorKinds()

const T0 = new Date('2024-01-01T00:00:00.000Z')

function sampleTask(kind: string): SessionTask {
  return newSessionTask({ sessionId: 's1', kind, displayName: 'Job' }, T0)
}

function sampleContext(task: SessionTask): TaskExecutionContext {
  const registry = new InMemorySessionTaskRegistry({ now: () => T0 })
  return {
    registry,
    sessionId: task.sessionId,
    sink: new RegistryTaskSink(registry, task.sessionId, task.id),
    signal: new AbortController().signal,
  }
}

const sampleMessage = (taskId: string): TaskMessage => ({
  id: 'tmsg_1',
  taskId,
  direction: 'inbound',
  content: [{ type: 'text', text: 'hi' }],
  createdAt: T0.toISOString(),
})

/** A plugin whose executor only has the required members. */
function minimalPlugin(kind: string): TaskExecutorPlugin {
  return { kind, executor: () => ({ kind, cancel: async () => {} }) }
}

/** Calls `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to throw')
}

describe('package import', () => {
  it('registers no executor in the module-level registry', () => {
    expect(kindsAtImport).toEqual([])
  })
})

describe('TaskExecutorRegistry.register', () => {
  it('returns an unregister function that removes the executor', () => {
    const executors = new TaskExecutorRegistry()
    const unregister = executors.register(minimalPlugin('job'))
    expect(typeof unregister).toBe('function')
    expect(executors.find('job')).toBeDefined()
    expect(executors.kinds()).toEqual(['job'])

    unregister()

    expect(executors.find('job')).toBeUndefined()
    expect(executors.kinds()).toEqual([])
  })

  it('throws DuplicateExecutorError for a second plugin of a registered kind and keeps the first', async () => {
    const executors = new TaskExecutorRegistry()
    const calls: string[] = []
    executors.register({
      kind: 'job',
      executor: () => ({ kind: 'job', cancel: async () => void calls.push('first') }),
    })

    const error = thrown(() =>
      executors.register({
        kind: 'job',
        executor: () => ({ kind: 'job', cancel: async () => void calls.push('second') }),
      }),
    )

    expect(error).toBeInstanceOf(DuplicateExecutorError)
    expect(isDuplicateExecutorError(error)).toBe(true)
    expect((error as DuplicateExecutorError).code).toBe('duplicate_executor')
    const task = sampleTask('job')
    await executors.find('job')?.cancel(task, sampleContext(task))
    expect(calls).toEqual(['first'])
    expect(executors.kinds()).toEqual(['job'])
  })

  it('rejects an executor whose kind differs from the plugin kind with ValidationError and registers nothing', () => {
    const executors = new TaskExecutorRegistry()
    const error = thrown(() =>
      executors.register({
        kind: 'job',
        executor: () => ({ kind: 'other', cancel: async () => {} }),
      }),
    )
    expect(error).toBeInstanceOf(ValidationError)
    expect(executors.find('job')).toBeUndefined()
    expect(executors.find('other')).toBeUndefined()
    expect(executors.kinds()).toEqual([])
  })

  it('rejects a plugin whose factory is not a function with ValidationError and registers nothing', () => {
    const executors = new TaskExecutorRegistry()
    const executor: TaskExecutor = { kind: 'job', cancel: async () => {} }
    const error = thrown(() =>
      executors.register({ kind: 'job', executor } as unknown as TaskExecutorPlugin),
    )
    expect(isValidationError(error)).toBe(true)
    expect(executors.find('job')).toBeUndefined()
    expect(executors.kinds()).toEqual([])
  })

  it('rejects an executor without cancel with ValidationError and registers nothing', () => {
    const executors = new TaskExecutorRegistry()
    const error = thrown(() =>
      executors.register({
        kind: 'job',
        executor: () => ({ kind: 'job', start: async () => {} }) as unknown as TaskExecutor,
      }),
    )
    expect(error).toBeInstanceOf(ValidationError)
    expect(executors.find('job')).toBeUndefined()
    expect(executors.kinds()).toEqual([])
  })

  it('rejects an executor whose cancel is not a function with ValidationError', () => {
    const executors = new TaskExecutorRegistry()
    const error = thrown(() =>
      executors.register({
        kind: 'job',
        executor: () => ({ kind: 'job', cancel: 'nope' }) as unknown as TaskExecutor,
      }),
    )
    expect(error).toBeInstanceOf(ValidationError)
    expect(executors.kinds()).toEqual([])
  })

  it('rejects a plugin with an empty kind with ValidationError', () => {
    const executors = new TaskExecutorRegistry()
    expect(() => executors.register(minimalPlugin(''))).toThrow(ValidationError)
    expect(executors.kinds()).toEqual([])
  })

  it('a failed registration does not block a later valid one for the same kind', () => {
    const executors = new TaskExecutorRegistry()
    expect(() =>
      executors.register({ kind: 'job', executor: () => ({ kind: 'x', cancel: async () => {} }) }),
    ).toThrow(ValidationError)
    expect(() => executors.register(minimalPlugin('job'))).not.toThrow()
    expect(executors.kinds()).toEqual(['job'])
  })

  it('calling unregister twice is harmless and does not remove a later registration of the same kind', async () => {
    const executors = new TaskExecutorRegistry()
    const unregisterFirst = executors.register(minimalPlugin('job'))
    unregisterFirst()
    const calls: string[] = []
    executors.register({
      kind: 'job',
      executor: () => ({ kind: 'job', cancel: async () => void calls.push('second') }),
    })

    expect(() => unregisterFirst()).not.toThrow()

    const found = executors.find('job')
    expect(found).toBeDefined()
    const task = sampleTask('job')
    await found?.cancel(task, sampleContext(task))
    expect(calls).toEqual(['second'])
    expect(executors.kinds()).toEqual(['job'])
  })
})

describe('TaskExecutorRegistry.find and kinds', () => {
  it('find returns undefined for an unknown kind', () => {
    const executors = new TaskExecutorRegistry()
    executors.register(minimalPlugin('job'))
    expect(executors.find('unknown')).toBeUndefined()
  })

  it('kinds lists every registered kind and drops unregistered ones', () => {
    const executors = new TaskExecutorRegistry()
    executors.register(minimalPlugin('a'))
    const unregisterB = executors.register(minimalPlugin('b'))
    executors.register(minimalPlugin('c'))
    expect([...executors.kinds()].sort()).toEqual(['a', 'b', 'c'])
    unregisterB()
    expect([...executors.kinds()].sort()).toEqual(['a', 'c'])
  })

  it('isolated registries do not see each other or the module-level registry', () => {
    const one = new TaskExecutorRegistry()
    const two = new TaskExecutorRegistry()
    one.register(minimalPlugin('isolated-kind'))
    expect(two.find('isolated-kind')).toBeUndefined()
    expect(two.kinds()).toEqual([])
    expect(findTaskExecutor('isolated-kind')).toBeUndefined()
    expect(listTaskExecutorKinds()).not.toContain('isolated-kind')
  })

  it('find returns an executor whose kind is the registered kind and that uses the provided methods', async () => {
    const executors = new TaskExecutorRegistry()
    const seen: string[] = []
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        canReattach: () => true,
        start: async (task) => void seen.push(`start:${task.id}`),
        deliver: async (_task, message) => void seen.push(`deliver:${message.id}`),
        cancel: async (task) => void seen.push(`cancel:${task.id}`),
        reconcile: async (task) => void seen.push(`reconcile:${task.id}`),
      }),
    })
    const executor = executors.find('job')
    expect(executor?.kind).toBe('job')
    const task = sampleTask('job')
    const ctx = sampleContext(task)
    expect(executor?.canReattach?.(task)).toBe(true)
    await executor?.start?.(task, ctx)
    await executor?.deliver?.(task, sampleMessage(task.id), ctx)
    await executor?.cancel(task, ctx)
    await executor?.reconcile?.(task, ctx)
    expect(seen).toEqual([
      `start:${task.id}`,
      'deliver:tmsg_1',
      `cancel:${task.id}`,
      `reconcile:${task.id}`,
    ])
  })
})

describe('executor defaults', () => {
  const executors = new TaskExecutorRegistry()
  executors.register(minimalPlugin('bare'))
  const task = sampleTask('bare')

  it('canReattach defaults to false', () => {
    const executor = executors.find('bare')
    expect(executor).toBeDefined()
    expect(executor?.canReattach?.(task) ?? false).toBe(false)
    expect(executor?.canReattach).toBeTypeOf('function')
  })

  it('start defaults to UnsupportedOperationError with the exact SPEC message', async () => {
    const executor = executors.find('bare')
    expect(executor?.start).toBeTypeOf('function')
    let error: unknown
    try {
      await executor?.start?.(task, sampleContext(task))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnsupportedOperationError)
    expect(isUnsupportedOperationError(error)).toBe(true)
    expect((error as Error).message).toBe(
      "task kind 'bare' does not support start via the registry",
    )
  })

  it('deliver defaults to UnsupportedOperationError with the exact SPEC message', async () => {
    const executor = executors.find('bare')
    expect(executor?.deliver).toBeTypeOf('function')
    let error: unknown
    try {
      await executor?.deliver?.(task, sampleMessage(task.id), sampleContext(task))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnsupportedOperationError)
    expect((error as Error).message).toBe("task kind 'bare' does not accept inbound messages")
  })

  it('reconcile defaults to a no-op that resolves', async () => {
    const executor = executors.find('bare')
    expect(executor?.reconcile).toBeTypeOf('function')
    await expect(executor?.reconcile?.(task, sampleContext(task))).resolves.toBeUndefined()
  })
})

describe('module-level registry', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  })

  it('registerTaskExecutor, findTaskExecutor and listTaskExecutorKinds share the default instance', () => {
    cleanups.push(registerTaskExecutor(minimalPlugin('module-kind')))
    expect(findTaskExecutor('module-kind')?.kind).toBe('module-kind')
    expect(listTaskExecutorKinds()).toContain('module-kind')
    expect(defaultTaskExecutors().find('module-kind')?.kind).toBe('module-kind')
    expect(defaultTaskExecutors().kinds()).toEqual(listTaskExecutorKinds())
  })

  it('registering on defaultTaskExecutors() is visible through the module-level functions', () => {
    cleanups.push(defaultTaskExecutors().register(minimalPlugin('via-default')))
    expect(findTaskExecutor('via-default')).toBeDefined()
    expect(listTaskExecutorKinds()).toContain('via-default')
  })

  it('registerTaskExecutor returns an unregister function', () => {
    const unregister = registerTaskExecutor(minimalPlugin('temporary'))
    cleanups.push(unregister)
    expect(findTaskExecutor('temporary')).toBeDefined()
    unregister()
    expect(findTaskExecutor('temporary')).toBeUndefined()
    expect(listTaskExecutorKinds()).not.toContain('temporary')
  })

  it('registerTaskExecutor throws DuplicateExecutorError for a registered kind', () => {
    cleanups.push(registerTaskExecutor(minimalPlugin('dup')))
    expect(() => registerTaskExecutor(minimalPlugin('dup'))).toThrow(DuplicateExecutorError)
  })

  it('findTaskExecutor returns undefined for an unknown kind', () => {
    expect(findTaskExecutor('never-registered')).toBeUndefined()
  })

  it('leaves the module-level registry empty after cleanup', () => {
    expect(listTaskExecutorKinds()).toEqual([])
  })
})
