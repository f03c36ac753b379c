import { describe, expectTypeOf, test } from 'vitest'
import type {
  CancelOptions,
  SessionTask,
  TaskRef,
  TaskSupervisor,
  WaitAllResult,
  WaitAnyResult,
} from '../src/index.js'

describe('supervisor wait and signal types', () => {
  test('waitAny narrows on timedOut: a task and index only when one matched', () => {
    const result = {} as WaitAnyResult
    expectTypeOf(result.tasks).toEqualTypeOf<SessionTask[]>()
    expectTypeOf(result.task).toEqualTypeOf<SessionTask | undefined>()
    if (result.timedOut) {
      expectTypeOf(result.task).toEqualTypeOf<undefined>()
      expectTypeOf(result.index).toEqualTypeOf<undefined>()
    } else {
      expectTypeOf(result.task).toEqualTypeOf<SessionTask>()
      expectTypeOf(result.index).toEqualTypeOf<number>()
    }
  })

  test('waitAny and waitAll take refs and the options of wait', () => {
    expectTypeOf<TaskSupervisor['waitAny']>().parameter(0).toEqualTypeOf<readonly TaskRef[]>()
    expectTypeOf<TaskSupervisor['waitAll']>().returns.resolves.toEqualTypeOf<WaitAllResult>()
    expectTypeOf<Parameters<TaskSupervisor['waitAll']>[1]>().toEqualTypeOf<
      Parameters<TaskSupervisor['wait']>[2]
    >()
  })

  test('cancel and message keep their old call shapes and take trailing options', () => {
    const supervisor = {} as TaskSupervisor
    expectTypeOf(supervisor.cancel).toBeCallableWith('s', 't')
    expectTypeOf(supervisor.cancel).toBeCallableWith('s', 't', { reason: 'why' })
    expectTypeOf(supervisor.message).toBeCallableWith('s', 't', { text: 'x' })
    expectTypeOf(supervisor.message).toBeCallableWith(
      's',
      't',
      { text: 'x' },
      { signal: new AbortController().signal },
    )
    expectTypeOf<CancelOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>()
  })

  test('the supervisor is AsyncDisposable', () => {
    expectTypeOf<TaskSupervisor[typeof Symbol.asyncDispose]>().toEqualTypeOf<() => Promise<void>>()
    expectTypeOf<TaskSupervisor>().toExtend<AsyncDisposable>()
  })
})
