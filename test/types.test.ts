// Type tests of the public types exported from src/index.ts. They are checked
// by `tsc -p tsconfig.json` (part of `npm test`, and it covers test/), which
// also fails on a `// @ts-expect-error` line that compiles. At run time
// expectTypeOf does nothing, and the bodies given to `typeOnly` never run (the
// calls they contain would need a real task).
import { describe, expectTypeOf, it } from 'vitest'
import {
  type AllSessionsListener,
  type CreateSessionTask,
  createTaskSupervisor,
  type DeepReadonly,
  InMemorySessionTaskRegistry,
  type JsonValue,
  type MessageDelivery,
  type NewTaskMessage,
  type SessionTask,
  type SessionTaskEmitter,
  type SessionTaskEvent,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type SessionTaskListener,
  type SessionTaskRegistry,
  type SessionTaskState,
  type SessionTaskUpdate,
  type SpawnOptions,
  type StreamItem,
  type StreamSnapshotItem,
  type TaskArtifact,
  type TaskExecutor,
  type TaskMessage,
  type TaskMessageDirection,
  type TaskMessagePart,
  type TaskSink,
  type TaskSupervisor,
  type TaskUpdateResult,
  type TaskWake,
  type TaskWakePolicy,
  type TaskWakeTransition,
  type WaitOptions,
} from '../src/index.js'

/** Type-checks `body` without running it. */
const typeOnly = <A extends unknown[]>(_body: (...args: A) => unknown): void => {}

type EventPayload = SessionTaskEvents[SessionTaskEventType]

describe('records and inputs', () => {
  it('SessionTask: field types, required and optional fields', () => {
    expectTypeOf<SessionTask['id']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['sessionId']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['kind']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['displayName']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['state']>().toEqualTypeOf<SessionTaskState>()
    expectTypeOf<SessionTask['wakePolicy']>().toEqualTypeOf<TaskWakePolicy>()
    expectTypeOf<SessionTask['attempt']>().toEqualTypeOf<number>()
    expectTypeOf<SessionTask['spec']>().toEqualTypeOf<JsonValue>()
    expectTypeOf<SessionTask['createdAt']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['updatedAt']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTask['artifacts'][number]>().toEqualTypeOf<TaskArtifact>()
    expectTypeOf<SessionTask['links']['resourceIds'][number]>().toEqualTypeOf<string>()
    expectTypeOf<SessionTaskState>().toEqualTypeOf<
      'queued' | 'running' | 'awaiting_input' | 'succeeded' | 'failed' | 'canceled'
    >()
    expectTypeOf<TaskWakePolicy>().toEqualTypeOf<'silent' | 'on_terminal' | 'on_activity'>()
    // Absent means absent: optional fields may be left out.
    type Optional = {
      [K in keyof SessionTask]-?: object extends Pick<SessionTask, K> ? K : never
    }[keyof SessionTask]
    expectTypeOf<Optional>().toEqualTypeOf<
      | 'rootSessionId'
      | 'stateDetail'
      | 'progress'
      | 'inputRequest'
      | 'cancelRequestedAt'
      | 'summary'
      | 'resultPath'
      | 'result'
      | 'metadata'
      | 'expiresAt'
      | 'deadlineAt'
      | 'error'
      | 'workerId'
      | 'heartbeatAt'
      | 'startedAt'
      | 'finishedAt'
    >()
    expectTypeOf<SessionTask['startedAt']>().toEqualTypeOf<string | undefined>()
    // @ts-expect-error `state` is a known state, not any string
    expectTypeOf<SessionTask['state']>().toEqualTypeOf<string>()
  })

  it('CreateSessionTask: sessionId, kind and displayName are required, nothing else', () => {
    expectTypeOf<{ sessionId: 's'; kind: 'k'; displayName: 'd' }>().toExtend<CreateSessionTask>()
    expectTypeOf<{ sessionId: 's'; kind: 'k' }>().not.toExtend<CreateSessionTask>()
    expectTypeOf<CreateSessionTask['state']>().toEqualTypeOf<SessionTaskState | undefined>()
    expectTypeOf<CreateSessionTask['wakePolicy']>().toEqualTypeOf<TaskWakePolicy | undefined>()
    const full: CreateSessionTask = {
      sessionId: 's',
      id: 'job-1',
      kind: 'k',
      displayName: 'd',
      spec: { prompt: 'go', n: [1, null, { deep: true }] },
      state: 'running',
      links: { childSessionId: 'c', remoteTaskId: 'r', resourceIds: ['a'] },
      wakePolicy: 'on_terminal',
      rootSessionId: 'root',
    }
    expectTypeOf(full).toEqualTypeOf<CreateSessionTask>()
    // @ts-expect-error displayName is required
    const missing: CreateSessionTask = { sessionId: 's', kind: 'k' }
    const unknownKey: CreateSessionTask = {
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      // @ts-expect-error an unknown key
      title: 't',
    }
    const badState: CreateSessionTask = {
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      // @ts-expect-error not a state
      state: 'done',
    }
    const badSpec: CreateSessionTask = {
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      // @ts-expect-error a spec must be JSON
      spec: () => 1,
    }
    expectTypeOf([missing, unknownKey, badState, badSpec]).items.toEqualTypeOf<CreateSessionTask>()
  })

  it('SessionTaskUpdate: every field optional, known fields only', () => {
    expectTypeOf<Record<string, never>>().toExtend<SessionTaskUpdate>()
    expectTypeOf<SessionTaskUpdate['state']>().toEqualTypeOf<SessionTaskState | undefined>()
    expectTypeOf<SessionTaskUpdate['expectedAttempt']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<SessionTaskUpdate['incrementAttempt']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<SessionTaskUpdate['heartbeatAt']>().toEqualTypeOf<string | undefined>()
    const update: SessionTaskUpdate = {
      state: 'running',
      progress: { current: 1, total: 3, steps: [{ title: 'a', status: 'done' }] },
      artifacts: [{ name: 'a', type: 'file', path: '/a' }],
      appendArtifact: { name: 'b', type: 'url', url: 'https://b' },
      links: { resourceIds: ['r1'] },
      inputRequest: { id: 'q', prompt: 'p', expected: { choices: ['a'] } },
      error: { kind: 'k', message: 'm' },
      expectedAttempt: 1,
    }
    expectTypeOf(update).toEqualTypeOf<SessionTaskUpdate>()
    // @ts-expect-error `status` is not a field (`state` is)
    const misspelt: SessionTaskUpdate = { status: 'running' }
    // @ts-expect-error a step status is done, in_progress, ...
    const badStep: SessionTaskUpdate = { progress: { steps: [{ title: 't', status: 'ok' }] } }
    expectTypeOf([misspelt, badStep]).items.toEqualTypeOf<SessionTaskUpdate>()
  })

  it('NewTaskMessage and TaskMessagePart: a direction and text or data parts', () => {
    expectTypeOf<NewTaskMessage['direction']>().toEqualTypeOf<TaskMessageDirection>()
    expectTypeOf<TaskMessageDirection>().toEqualTypeOf<'inbound' | 'outbound'>()
    expectTypeOf<NewTaskMessage['content'][number]>().toEqualTypeOf<TaskMessagePart>()
    expectTypeOf<NewTaskMessage['inReplyTo']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<NewTaskMessage['expectedAttempt']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<TaskMessagePart['type']>().toEqualTypeOf<'text' | 'data'>()
    expectTypeOf<Extract<TaskMessagePart, { type: 'text' }>['text']>().toEqualTypeOf<string>()
    expectTypeOf<Extract<TaskMessagePart, { type: 'data' }>['data']>().toEqualTypeOf<JsonValue>()
    typeOnly((part: TaskMessagePart) => {
      if (part.type === 'text') expectTypeOf(part.text).toEqualTypeOf<string>()
      else expectTypeOf(part.data).toEqualTypeOf<JsonValue>()
    })
    const message: NewTaskMessage = {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'hi' },
        { type: 'data', data: { n: 1 } },
      ],
      inReplyTo: 'q1',
    }
    expectTypeOf(message).toEqualTypeOf<NewTaskMessage>()
    // @ts-expect-error a text part needs its text
    const noText: NewTaskMessage = { direction: 'inbound', content: [{ type: 'text' }] }
    // @ts-expect-error there is no image part
    const image: NewTaskMessage = { direction: 'inbound', content: [{ type: 'image', url: 'u' }] }
    const sideways: NewTaskMessage = {
      // @ts-expect-error not a direction
      direction: 'sideways',
      content: [{ type: 'text', text: 'x' }],
    }
    expectTypeOf([noText, image, sideways]).items.toEqualTypeOf<NewTaskMessage>()
  })

  it('TaskMessage: the stored message, without expectedAttempt', () => {
    expectTypeOf<TaskMessage['id']>().toEqualTypeOf<string>()
    expectTypeOf<TaskMessage['taskId']>().toEqualTypeOf<string>()
    expectTypeOf<TaskMessage['direction']>().toEqualTypeOf<TaskMessageDirection>()
    expectTypeOf<TaskMessage['content'][number]>().toEqualTypeOf<TaskMessagePart>()
    expectTypeOf<TaskMessage['inReplyTo']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<TaskMessage['createdAt']>().toEqualTypeOf<string>()
    expectTypeOf<TaskMessage>().not.toHaveProperty('expectedAttempt')
    expectTypeOf<keyof TaskMessage>().toEqualTypeOf<
      'id' | 'taskId' | 'direction' | 'content' | 'inReplyTo' | 'createdAt'
    >()
  })

  it('TaskWake: session, task, transition, text and time', () => {
    expectTypeOf<keyof TaskWake>().toEqualTypeOf<
      'sessionId' | 'taskId' | 'transition' | 'text' | 'createdAt'
    >()
    expectTypeOf<TaskWake['transition']>().toEqualTypeOf<TaskWakeTransition>()
    expectTypeOf<TaskWakeTransition>().toEqualTypeOf<'terminal' | 'awaiting_input' | 'message'>()
    expectTypeOf<TaskWake['text']>().toEqualTypeOf<string>()
    expectTypeOf<TaskWake['createdAt']>().toEqualTypeOf<string>()
  })

  it('TaskUpdateResult: the record and whether the update applied and changed it', () => {
    expectTypeOf<TaskUpdateResult['task']>().toEqualTypeOf<SessionTask>()
    expectTypeOf<TaskUpdateResult['applied']>().toEqualTypeOf<boolean>()
    expectTypeOf<TaskUpdateResult['changed']>().toEqualTypeOf<boolean>()
    expectTypeOf<keyof TaskUpdateResult>().toEqualTypeOf<'task' | 'applied' | 'changed'>()
  })
})

describe('events and listeners', () => {
  it('events(sessionId).on types the payload by event name, without casts', () => {
    typeOnly((registry: SessionTaskRegistry) => {
      registry.events('s').on('task.updated', ({ task }) => {
        expectTypeOf(task).toEqualTypeOf<SessionTask>()
      })
      registry.events('s').on('task.output', ({ delta }) => {
        expectTypeOf(delta).toEqualTypeOf<string>()
      })
      // @ts-expect-error task.output carries no task
      registry.events('s').on('task.output', ({ task }) => task)
    })
  })

  it('SessionTaskEvents: the payload of each event type', () => {
    expectTypeOf<SessionTaskEventType>().toEqualTypeOf<
      | 'task.created'
      | 'task.updated'
      | 'task.message.sent'
      | 'task.message.received'
      | 'task.output'
      | 'task.wake'
      | 'task.deleted'
    >()
    type Created = SessionTaskEvents['task.created']
    type Updated = SessionTaskEvents['task.updated']
    type Sent = SessionTaskEvents['task.message.sent']
    type Received = SessionTaskEvents['task.message.received']
    type Output = SessionTaskEvents['task.output']
    expectTypeOf<keyof Created>().toEqualTypeOf<'task'>()
    expectTypeOf<Created['task']>().toEqualTypeOf<SessionTask>()
    expectTypeOf<keyof Updated>().toEqualTypeOf<'task'>()
    expectTypeOf<Updated['task']>().toEqualTypeOf<SessionTask>()
    expectTypeOf<keyof Sent>().toEqualTypeOf<'taskId' | 'message'>()
    expectTypeOf<Sent['taskId']>().toEqualTypeOf<string>()
    expectTypeOf<Sent['message']>().toEqualTypeOf<TaskMessage>()
    expectTypeOf<keyof Received>().toEqualTypeOf<'taskId' | 'message'>()
    expectTypeOf<Received['message']>().toEqualTypeOf<TaskMessage>()
    expectTypeOf<keyof Output>().toEqualTypeOf<'taskId' | 'stream' | 'delta'>()
    expectTypeOf<Output['delta']>().toEqualTypeOf<string>()
    expectTypeOf<SessionTaskEvents['task.wake']>().toEqualTypeOf<TaskWake>()
  })

  it('SessionTaskEvent: narrowing on type narrows the payload', () => {
    typeOnly((event: SessionTaskEvent) => {
      if (event.type === 'task.created' || event.type === 'task.updated') {
        expectTypeOf(event.payload.task).toEqualTypeOf<SessionTask>()
      } else if (event.type === 'task.message.sent' || event.type === 'task.message.received') {
        expectTypeOf(event.payload.message).toEqualTypeOf<TaskMessage>()
      } else if (event.type === 'task.output') {
        expectTypeOf(event.payload.delta).toEqualTypeOf<string>()
      } else if (event.type === 'task.deleted') {
        expectTypeOf(event.payload).toEqualTypeOf<{ readonly taskId: string }>()
      } else {
        expectTypeOf(event.type).toEqualTypeOf<'task.wake'>()
        expectTypeOf(event.payload).toEqualTypeOf<TaskWake>()
      }
    })
    typeOnly((event: SessionTaskEvent) => {
      // @ts-expect-error only task.created and task.updated carry a task
      expectTypeOf(event.payload.task).toEqualTypeOf<SessionTask>()
    })
  })

  it('SessionTaskListener and AllSessionsListener: type and payload as two parameters', () => {
    // The two parameters are independent: narrowing `type` does not narrow
    // `payload` (use the typed emitter or SessionTaskEvent for that).
    expectTypeOf<SessionTaskListener>().parameters.toEqualTypeOf<
      [SessionTaskEventType, EventPayload]
    >()
    expectTypeOf<SessionTaskListener>().returns.toEqualTypeOf<void>()
    expectTypeOf<AllSessionsListener>().parameters.toEqualTypeOf<
      [string, SessionTaskEventType, EventPayload]
    >()
    expectTypeOf<AllSessionsListener>().returns.toEqualTypeOf<void>()
    typeOnly((registry: SessionTaskRegistry) => {
      registry.subscribe('s', (type, payload) => {
        expectTypeOf(type).toEqualTypeOf<SessionTaskEventType>()
        expectTypeOf(payload).toEqualTypeOf<EventPayload>()
      })
      registry.subscribeAll((sessionId, type, payload) => {
        expectTypeOf(sessionId).toEqualTypeOf<string>()
        expectTypeOf(type).toEqualTypeOf<SessionTaskEventType>()
        expectTypeOf(payload).toEqualTypeOf<EventPayload>()
      })
      // A listener that returns something is still a listener.
      const seen: SessionTaskEventType[] = []
      registry.subscribe('s', (type) => seen.push(type))
      // @ts-expect-error a listener's first parameter is an event type
      registry.subscribe('s', (type: 'task.bogus') => type)
      // @ts-expect-error subscribeAll listeners get the session id first
      registry.subscribeAll((type: SessionTaskEventType, payload: EventPayload) => [type, payload])
    })
  })

  it('the session emitter: a typed handler gets its event’s payload, "*" gets type and payload', () => {
    typeOnly((emitter: SessionTaskEmitter) => {
      emitter.on('task.created', (payload) => {
        expectTypeOf(payload).toEqualTypeOf<SessionTaskEvents['task.created']>()
      })
      emitter.on('task.message.received', (payload) => {
        expectTypeOf(payload.message).toEqualTypeOf<TaskMessage>()
      })
      emitter.on('task.wake', (payload) => {
        expectTypeOf(payload).toEqualTypeOf<TaskWake>()
      })
      emitter.on('*', (type, payload) => {
        expectTypeOf(type).toEqualTypeOf<SessionTaskEventType>()
        expectTypeOf(payload).toEqualTypeOf<EventPayload>()
      })
      // @ts-expect-error not an event type
      emitter.on('task.removed', () => {})
      // @ts-expect-error a task.wake payload has no task
      emitter.on('task.wake', (payload) => payload.task)
    })
  })

  it('StreamItem: discriminated by type, every item with a seq', () => {
    expectTypeOf<StreamItem['type']>().toEqualTypeOf<'snapshot' | SessionTaskEventType>()
    expectTypeOf<StreamItem['seq']>().toEqualTypeOf<number>()
    expectTypeOf<Extract<StreamItem, { type: 'snapshot' }>>().toEqualTypeOf<StreamSnapshotItem>()
    expectTypeOf<StreamSnapshotItem['payload']['tasks'][number]>().toEqualTypeOf<SessionTask>()
    expectTypeOf<Extract<StreamItem, { type: 'task.wake' }>['payload']>().toEqualTypeOf<TaskWake>()
    expectTypeOf<Extract<StreamItem, { type: 'task.output' }>['payload']>().toEqualTypeOf<
      SessionTaskEvents['task.output']
    >()
    typeOnly((item: StreamItem) => {
      if (item.type === 'snapshot') {
        expectTypeOf(item.payload.tasks[0]).toEqualTypeOf<SessionTask | undefined>()
      } else if (item.type === 'task.updated') {
        expectTypeOf(item.payload.task).toEqualTypeOf<SessionTask>()
      } else if (item.type === 'task.message.sent') {
        expectTypeOf(item.payload.message).toEqualTypeOf<TaskMessage>()
      } else if (item.type === 'task.wake') {
        expectTypeOf(item.payload.transition).toEqualTypeOf<TaskWakeTransition>()
      }
    })
    typeOnly((item: StreamItem) => {
      // @ts-expect-error only a snapshot has tasks
      expectTypeOf(item.payload.tasks).toBeArray()
    })
  })
})

describe('registry and supervisor signatures', () => {
  it('an executor may be synchronous: start, deliver, cancel and reconcile may return void', () => {
    const sync: TaskExecutor = {
      kind: 'sync',
      start(_task, ctx) {
        void ctx.sink.state('running')
      },
      deliver() {},
      cancel() {},
      reconcile() {},
    }
    const promised: TaskExecutor = {
      kind: 'async',
      async start() {},
      async cancel() {},
    }
    expectTypeOf(sync).toExtend<TaskExecutor>()
    expectTypeOf(promised.cancel).returns.toEqualTypeOf<Promise<void> | void>()
    const wrong: TaskExecutor = {
      kind: 'wrong',
      // @ts-expect-error cancel must return void or a promise of void, not a value
      cancel: () => 42,
    }
    expectTypeOf(wrong.kind).toEqualTypeOf<string>()
  })

  it('registry methods resolve to records, messages and counts', () => {
    type R = SessionTaskRegistry
    expectTypeOf<R['create']>().parameters.toEqualTypeOf<[CreateSessionTask]>()
    expectTypeOf<R['create']>().returns.toEqualTypeOf<Promise<SessionTask>>()
    expectTypeOf<R['update']>().parameters.toEqualTypeOf<[string, string, SessionTaskUpdate]>()
    expectTypeOf<R['update']>().returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf<R['updateWithOutcome']>().returns.toEqualTypeOf<
      Promise<TaskUpdateResult | undefined>
    >()
    expectTypeOf<R['get']>().returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf<R['list']>().returns.toEqualTypeOf<Promise<SessionTask[]>>()
    expectTypeOf<R['requestCancel']>().returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf<R['recordMessage']>().parameters.toEqualTypeOf<[string, string, NewTaskMessage]>()
    expectTypeOf<R['recordMessage']>().returns.toEqualTypeOf<Promise<TaskMessage>>()
    expectTypeOf<R['listMessages']>().returns.toEqualTypeOf<Promise<TaskMessage[]>>()
    expectTypeOf<R['publishOutput']>().returns.toEqualTypeOf<Promise<boolean>>()
    expectTypeOf<R['events']>().returns.toEqualTypeOf<SessionTaskEmitter>()
    expectTypeOf<R['subscribe']>().returns.toEqualTypeOf<() => void>()
    expectTypeOf<R['subscribeAll']>().returns.toEqualTypeOf<() => void>()
    expectTypeOf<R['now']>().returns.toEqualTypeOf<Date>()
    expectTypeOf<R['stream']>().returns.toEqualTypeOf<AsyncIterable<StreamItem>>()
    expectTypeOf<R['listStale']>().returns.toEqualTypeOf<Promise<SessionTask[]>>()
    expectTypeOf<R['prune']>().returns.toEqualTypeOf<Promise<SessionTask[]>>()
    expectTypeOf<R['deleteSession']>().returns.toEqualTypeOf<Promise<number>>()
  })

  it('InMemorySessionTaskRegistry is a SessionTaskRegistry with the same return types', () => {
    expectTypeOf<InMemorySessionTaskRegistry>().toExtend<SessionTaskRegistry>()
    const registry = new InMemorySessionTaskRegistry()
    expectTypeOf(registry.create).returns.toEqualTypeOf<Promise<SessionTask>>()
    expectTypeOf(registry.get).returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf(registry.update).returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf(registry.list).returns.toEqualTypeOf<Promise<SessionTask[]>>()
    expectTypeOf(registry.recordMessage).returns.toEqualTypeOf<Promise<TaskMessage>>()
    expectTypeOf(registry.stream).returns.toEqualTypeOf<AsyncIterable<StreamItem>>()
    // @ts-expect-error get takes a session id and a task id
    expectTypeOf(registry.get).toBeCallableWith('task_1')
  })

  it('supervisor spawn, wait, cancel and message return types', () => {
    expectTypeOf(createTaskSupervisor).returns.toEqualTypeOf<TaskSupervisor>()
    type S = TaskSupervisor
    expectTypeOf<S['spawn']>().parameters.toEqualTypeOf<[CreateSessionTask, SpawnOptions?]>()
    expectTypeOf<S['wait']>().parameters.toEqualTypeOf<[string, string, WaitOptions?]>()
    expectTypeOf<WaitOptions['until']>().toEqualTypeOf<'terminal' | 'settled' | undefined>()
    expectTypeOf<S['spawn']>().returns.toEqualTypeOf<Promise<SessionTask>>()
    expectTypeOf<S['wait']>().returns.toEqualTypeOf<
      Promise<{ task: SessionTask; timedOut: boolean }>
    >()
    expectTypeOf<S['cancel']>().returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf<S['reconcile']>().returns.toEqualTypeOf<Promise<SessionTask | undefined>>()
    expectTypeOf<S['message']>().returns.toEqualTypeOf<
      Promise<{ message: TaskMessage; delivery: MessageDelivery }>
    >()
    expectTypeOf<MessageDelivery>().toEqualTypeOf<'delivered' | { failed: string }>()
    expectTypeOf<S['prune']>().returns.toEqualTypeOf<Promise<SessionTask[]>>()
    typeOnly(async (supervisor: TaskSupervisor) => {
      const { task, timedOut } = await supervisor.wait('s', 't', { until: 'settled' })
      expectTypeOf(task.state).toEqualTypeOf<SessionTaskState>()
      expectTypeOf(timedOut).toEqualTypeOf<boolean>()
      // @ts-expect-error wait until terminal or settled only
      await supervisor.wait('s', 't', { until: 'running' })
    })
  })
})

describe('readonly (0.2)', () => {
  // SPEC 12.1: public types are deeply readonly, inputs accept readonly
  // arrays and `as const` literals. The lines marked `// 0.2: readonly` do not
  // compile yet (SupervisorMessage and SinkMessage take a mutable content array).

  it('DeepReadonly makes every property and array readonly, all the way down', () => {
    expectTypeOf<DeepReadonly<{ a: string[]; b: { c: number[] }[] }>>().toEqualTypeOf<{
      readonly a: readonly string[]
      readonly b: readonly { readonly c: readonly number[] }[]
    }>()
  })

  it('JSON values (spec, data parts, expected) are readonly arrays and objects', () => {
    type JsonArray = Extract<JsonValue, readonly unknown[]>
    type JsonObject = Exclude<Extract<JsonValue, object>, readonly unknown[]>
    expectTypeOf<JsonArray>().toEqualTypeOf<readonly JsonValue[]>()
    expectTypeOf<JsonArray>().not.toExtend<unknown[]>()
    expectTypeOf<JsonObject>().toEqualTypeOf<{ readonly [key: string]: JsonValue }>()
    expectTypeOf<SessionTask['spec']>().toEqualTypeOf<JsonValue>()
    typeOnly((object: JsonObject) => {
      // @ts-expect-error readonly
      object.key = 1
    })
  })

  it('create accepts readonly arrays and `as const` input', () => {
    typeOnly((registry: SessionTaskRegistry, supervisor: TaskSupervisor) => {
      void registry.create({
        sessionId: 's',
        kind: 'k',
        displayName: 'd',
        links: { resourceIds: ['a'] as const },
      })
      // TypeScript lets an inline `as const` argument through even where a
      // mutable array is expected; readonly values in variables are the real check.
      const ids = ['a'] as const
      void registry.create({
        sessionId: 's',
        kind: 'k',
        displayName: 'd',
        links: { resourceIds: ids },
      })
      const input = {
        sessionId: 's',
        kind: 'k',
        displayName: 'd',
        spec: { prompt: 'go', list: [1, 2, { deep: [true] }] },
        state: 'running',
        links: { resourceIds: ['a', 'b'] },
        wakePolicy: 'on_terminal',
      } as const
      void registry.create(input)
      void supervisor.spawn(input)
      const resourceIds: readonly string[] = ['a']
      void registry.create({ sessionId: 's', kind: 'k', displayName: 'd', links: { resourceIds } })
    })
  })

  it('recordMessage accepts a readonly content array and an `as const` message', () => {
    typeOnly((registry: SessionTaskRegistry) => {
      const content: readonly TaskMessagePart[] = [
        { type: 'text', text: 'hi' },
        { type: 'data', data: { list: [1, 2] } },
      ]
      void registry.recordMessage('s', 't', { direction: 'outbound', content })
      const message = {
        direction: 'inbound',
        content: [
          { type: 'text', text: 'answer' },
          { type: 'data', data: { choice: 'a', list: [1] } },
        ],
        inReplyTo: 'q1',
      } as const
      void registry.recordMessage('s', 't', message)
    })
  })

  it('supervisor.message accepts a readonly content array', () => {
    typeOnly((supervisor: TaskSupervisor) => {
      const content: readonly TaskMessagePart[] = [{ type: 'text', text: 'hi' }]
      // 0.2: readonly
      void supervisor.message('s', 't', { content })
      const message = { content: [{ type: 'text', text: 'hi' }], inReplyTo: 'q' } as const
      // 0.2: readonly
      void supervisor.message('s', 't', message)
    })
  })

  it('a TaskSink accepts readonly content and `as const` progress and updates', () => {
    typeOnly((sink: TaskSink) => {
      const content: readonly TaskMessagePart[] = [{ type: 'text', text: 'hi' }]
      // 0.2: readonly
      void sink.post({ content })
      const progress = { current: 1, steps: [{ title: 'a', status: 'done' }] } as const
      void sink.progress(progress)
      const update = { links: { resourceIds: ['r1'] }, summary: 's' } as const
      void sink.update(update)
      const artifact = { name: 'a', type: 'file', path: '/a' } as const
      void sink.artifact(artifact)
      const request = { id: 'q', prompt: 'p', expected: { choices: ['a', 'b'] } } as const
      void sink.requestInput(request)
    })
  })

  it('update accepts a frozen `as const` update object', () => {
    typeOnly((registry: SessionTaskRegistry) => {
      const update = Object.freeze({
        state: 'running',
        progress: { current: 1, steps: [{ title: 'step', status: 'in_progress' }] },
        artifacts: [{ name: 'out', type: 'file', path: '/out' }],
        appendArtifact: { name: 'more', type: 'url', url: 'https://x' },
        links: { resourceIds: ['r1', 'r2'] },
        inputRequest: { id: 'q', prompt: 'p', expected: { choices: ['a', 'b'] } },
        error: { kind: 'k', message: 'm' },
      } as const)
      void registry.update('s', 't', update)
      void registry.updateWithOutcome('s', 't', update)
    })
  })

  it('a returned SessionTask is readonly all the way down', () => {
    typeOnly(async (registry: SessionTaskRegistry, supervisor: TaskSupervisor) => {
      const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
      // @ts-expect-error readonly
      task.state = 'failed'
      // @ts-expect-error readonly
      task.displayName = 'x'
      // @ts-expect-error readonly
      task.artifacts.push({ name: 'a', type: 'file' })
      // @ts-expect-error readonly
      task.links.resourceIds.push('x')
      // @ts-expect-error readonly
      task.progress?.steps?.push({ title: 't', status: 'done' })
      if (task.error !== undefined) {
        // @ts-expect-error readonly
        task.error.kind = 'x'
      }
      const artifact = task.artifacts[0]
      if (artifact !== undefined) {
        // @ts-expect-error readonly
        artifact.name = 'x'
      }
      const got = await registry.get('s', task.id)
      // @ts-expect-error readonly
      if (got !== undefined) got.summary = 'x'
      const outcome = await registry.updateWithOutcome('s', task.id, {})
      // @ts-expect-error readonly
      if (outcome !== undefined) outcome.task.state = 'failed'
      const { task: waited } = await supervisor.wait('s', task.id)
      // @ts-expect-error readonly
      waited.links.resourceIds.push('x')
    })
  })

  it('lists are fresh arrays (sortable) of readonly records', () => {
    typeOnly(async (registry: SessionTaskRegistry) => {
      const tasks = await registry.list('s')
      tasks.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      const first = tasks[0]
      // @ts-expect-error readonly
      if (first !== undefined) first.state = 'failed'
      const messages = await registry.listMessages('s', 't')
      messages.reverse()
    })
  })

  it('messages, event payloads and stream items are readonly', () => {
    typeOnly(async (registry: SessionTaskRegistry) => {
      const message = await registry.recordMessage('s', 't', {
        direction: 'outbound',
        content: [{ type: 'text', text: 'x' }],
      })
      // @ts-expect-error readonly
      message.id = 'tmsg_x'
      // @ts-expect-error readonly
      message.content.push({ type: 'text', text: 'more' })
      registry.events('s').on('task.updated', (payload) => {
        // @ts-expect-error readonly
        payload.task = { ...payload.task }
        // @ts-expect-error readonly
        payload.task.state = 'failed'
      })
      registry.events('s').on('task.message.received', (payload) => {
        // @ts-expect-error readonly
        payload.message.content.push({ type: 'text', text: 'evil' })
      })
      registry.events('s').on('task.wake', (wake) => {
        // @ts-expect-error readonly
        wake.text = 'evil'
      })
      for await (const item of registry.stream('s')) {
        // @ts-expect-error readonly
        item.seq = 0
        if (item.type === 'snapshot') {
          // @ts-expect-error readonly
          item.payload.tasks.push(item.payload.tasks[0] as SessionTask)
        }
      }
    })
  })
})
