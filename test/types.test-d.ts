import { describe, expectTypeOf, test } from 'vitest'
import type * as z from 'zod'
import {
  type CreateSessionTask,
  type CreateSessionTaskSchema,
  type DeepReadonly,
  isTaskInState,
  isTerminalTask,
  type JsonValue,
  registerTaskExecutor,
  type SessionTask,
  type SessionTaskIn,
  type SessionTaskSchema,
  type SessionTaskState,
  type SessionTaskUpdate,
  type SessionTaskUpdateSchema,
  type TaskExecutionContext,
  type TaskExecutor,
  type TaskExecutorPlugin,
  TaskExecutorRegistry,
  type TaskMessage,
  type TaskMessageSchema,
  type TaskWake,
  type TaskWakeSchema,
  type TerminalSessionTask,
  type TerminalTaskState,
} from '../src/index.js'

type Parsed<S extends z.ZodType> = DeepReadonly<z.output<S>>

type ReviewSpec = { readonly repo: string; readonly files: readonly string[] }
type OtherSpec = { readonly count: number }

declare const task: SessionTask
declare const review: SessionTask<ReviewSpec>
declare const ctx: TaskExecutionContext

describe('named public types', () => {
  test('each named type is exactly what its schema parses to', () => {
    expectTypeOf<SessionTask>().toEqualTypeOf<Parsed<typeof SessionTaskSchema>>()
    expectTypeOf<CreateSessionTask>().toEqualTypeOf<Parsed<typeof CreateSessionTaskSchema>>()
    expectTypeOf<SessionTaskUpdate>().toEqualTypeOf<Parsed<typeof SessionTaskUpdateSchema>>()
    expectTypeOf<TaskMessage>().toEqualTypeOf<Parsed<typeof TaskMessageSchema>>()
    expectTypeOf<TaskWake>().toEqualTypeOf<Parsed<typeof TaskWakeSchema>>()
  })

  test('records stay plain object types: copied, spread, compared and used as records', () => {
    const copy: SessionTask = { ...task, state: 'failed', summary: 'x' }
    const loose: Record<string, unknown> = task
    const cast = task as Record<string, unknown>
    expectTypeOf([copy, loose, cast]).toBeArray()
    expectTypeOf(task.state === 'failed').toEqualTypeOf<boolean>()
    // @ts-expect-error records are readonly
    task.state = 'failed'
  })
})

describe('narrowing by state', () => {
  test('SessionTask alone promises neither startedAt nor finishedAt', () => {
    expectTypeOf(task.startedAt).toEqualTypeOf<string | undefined>()
    // @ts-expect-error finishedAt may be absent without a guard
    const finished: string = task.finishedAt
    expectTypeOf(finished).toBeString()
  })

  test('isTerminalTask gives a terminal state, startedAt and finishedAt', () => {
    if (isTerminalTask(task)) {
      expectTypeOf(task).toExtend<TerminalSessionTask>()
      expectTypeOf(task.state).toEqualTypeOf<TerminalTaskState>()
      expectTypeOf(task.finishedAt).toEqualTypeOf<string>()
      expectTypeOf(task.startedAt).toEqualTypeOf<string>()
      // @ts-expect-error a finished task is not running
      expectTypeOf(task.state).toEqualTypeOf<'running'>()
    } else {
      expectTypeOf(task.finishedAt).toEqualTypeOf<string | undefined>()
    }
    expectTypeOf<TerminalSessionTask>().toExtend<SessionTask>()
  })

  test('isTaskInState gives the state and its stamps', () => {
    if (isTaskInState(task, 'running')) {
      expectTypeOf(task.state).toEqualTypeOf<'running'>()
      expectTypeOf(task.startedAt).toEqualTypeOf<string>()
      expectTypeOf(task.finishedAt).toEqualTypeOf<string | undefined>()
    }
    if (isTaskInState(task, 'queued')) {
      // A task put back in the queue keeps its startedAt, so it may be either.
      expectTypeOf(task.startedAt).toEqualTypeOf<string | undefined>()
    }
    if (isTaskInState(task, 'awaiting_input', 'failed')) {
      expectTypeOf(task.state).toEqualTypeOf<'awaiting_input' | 'failed'>()
      expectTypeOf(task.startedAt).toEqualTypeOf<string>()
      if (task.state === 'failed') expectTypeOf(task.finishedAt).toEqualTypeOf<string>()
    }
    expectTypeOf<SessionTaskIn<'succeeded'>['finishedAt']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTaskIn<SessionTaskState>>().toExtend<SessionTask>()
  })

  test('isTaskInState takes known states only, at least one', () => {
    // @ts-expect-error not a state
    isTaskInState(task, 'done')
    // @ts-expect-error no state given
    isTaskInState(task)
  })

  test('the guards keep the spec type', () => {
    if (isTerminalTask(review)) expectTypeOf(review.spec).toEqualTypeOf<ReviewSpec>()
    if (isTaskInState(review, 'running')) expectTypeOf(review.spec.repo).toEqualTypeOf<string>()
  })
})

describe('spec typed per kind', () => {
  test('spec defaults to any JSON value', () => {
    expectTypeOf(task.spec).toEqualTypeOf<JsonValue>()
    expectTypeOf<TaskExecutor>().toEqualTypeOf<TaskExecutor<JsonValue>>()
    expectTypeOf<TaskExecutorPlugin>().toEqualTypeOf<TaskExecutorPlugin<JsonValue>>()
  })

  test('a typed executor sees its spec in every method', () => {
    const executor: TaskExecutor<ReviewSpec> = {
      kind: 'review',
      async start(t) {
        expectTypeOf(t.spec.files).toEqualTypeOf<readonly string[]>()
        // @ts-expect-error not a field of the spec
        expectTypeOf(t.spec.branch).toBeString()
      },
      deliver(t) {
        expectTypeOf(t.spec.repo).toBeString()
      },
      cancel(t) {
        expectTypeOf(t.spec).toEqualTypeOf<ReviewSpec>()
      },
      canReattach: (t) => t.spec.files.length > 0,
    }
    expectTypeOf(executor.start).toBeCallableWith(review, ctx)
    // @ts-expect-error an untyped record is not a review record
    expectTypeOf(executor.start).toBeCallableWith(task, ctx)
  })

  test('registering infers the spec from the executor', () => {
    const executor: TaskExecutor<ReviewSpec> = { kind: 'review', cancel() {} }
    expectTypeOf(registerTaskExecutor({ kind: 'review', executor: () => executor })).toEqualTypeOf<
      () => void
    >()
    new TaskExecutorRegistry().register({
      kind: 'review',
      executor: () => ({
        kind: 'review',
        start(t: SessionTask<ReviewSpec>) {
          expectTypeOf(t.spec.repo).toBeString()
        },
        cancel() {},
      }),
    })
    // An untyped inline plugin keeps JSON specs.
    registerTaskExecutor({
      kind: 'plain',
      executor: () => ({
        kind: 'plain',
        cancel(t) {
          expectTypeOf(t.spec).toEqualTypeOf<JsonValue>()
        },
      }),
    })
  })

  test('a plugin and its executor must agree on the spec', () => {
    const other: TaskExecutor<OtherSpec> = { kind: 'review', cancel() {} }
    // @ts-expect-error the executor runs OtherSpec tasks
    registerTaskExecutor<ReviewSpec>({ kind: 'review', executor: () => other })
    // @ts-expect-error the executor runs OtherSpec tasks
    const plugin: TaskExecutorPlugin<ReviewSpec> = { kind: 'review', executor: () => other }
    expectTypeOf(plugin).not.toBeAny()
  })

  test('typed records and executors still fit where untyped ones are expected', () => {
    const untyped: SessionTask = review
    const executor: TaskExecutor<ReviewSpec> = { kind: 'review', cancel() {} }
    const plugins: TaskExecutorPlugin[] = [{ kind: 'review', executor: () => executor }]
    expectTypeOf([untyped, plugins]).toBeArray()
    // Reading a stored record as a kind's record needs one plain cast, not `as unknown as`.
    expectTypeOf(task as SessionTask<ReviewSpec>).toEqualTypeOf<SessionTask<ReviewSpec>>()
    // @ts-expect-error the spec is readonly
    review.spec.files.push('x')
  })
})
