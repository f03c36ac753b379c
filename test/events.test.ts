import { describe, expect, it, vi } from 'vitest'
import {
  type CreateSessionTask,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
  type NewTaskMessage,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type TaskWake,
  type TaskWakePolicy,
  toPublicTask,
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

type Seen = { type: SessionTaskEventType; payload: SessionTaskEvents[SessionTaskEventType] }

function setup(options: Omit<InMemorySessionTaskRegistryOptions, 'now'> = {}) {
  let clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ ...options, now: () => clock })
  return {
    registry,
    tick(ms = 1000): string {
      clock = new Date(clock.getTime() + ms)
      return clock.toISOString()
    },
    iso: () => clock.toISOString(),
  }
}

/** Records one session's events through `subscribe`. */
function record(registry: InMemorySessionTaskRegistry, sessionId: string): Seen[] {
  const seen: Seen[] = []
  registry.subscribe(sessionId, (type, payload) => seen.push({ type, payload }))
  return seen
}

const wakesOf = (seen: Seen[]): TaskWake[] =>
  seen.filter((e) => e.type === 'task.wake').map((e) => e.payload as TaskWake)

const base = (sessionId: string, extra: Partial<CreateSessionTask> = {}): CreateSessionTask => ({
  sessionId,
  kind: 'background_tool',
  displayName: 'Build',
  ...extra,
})

const withPolicy = (wakePolicy: TaskWakePolicy, extra: Partial<CreateSessionTask> = {}) =>
  base('s1', { wakePolicy, state: 'running', ...extra })

const outbound = (content: NewTaskMessage['content']): NewTaskMessage => ({
  direction: 'outbound',
  content,
})

describe('event types and payloads', () => {
  it('task.created carries the public snapshot of the inserted record', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    const task = await registry.create(base('s1', { spec: { a: [1, 2] } }))
    expect(seen).toEqual([{ type: 'task.created', payload: { task: toPublicTask(task) } }])
    expect(Object.keys(seen[0]?.payload ?? {})).toEqual(['task'])
  })

  it('task.updated carries a full snapshot, unchanged fields included', async () => {
    const { registry, tick } = setup()
    const task = await registry.create(base('s1', { spec: { keep: true } }))
    await registry.update('s1', task.id, { progress: { current: 1, total: 2 }, workerId: 'w' })
    const seen = record(registry, 's1')
    tick()
    const updated = await registry.update('s1', task.id, { stateDetail: 'halfway' })
    expect(seen).toEqual([{ type: 'task.updated', payload: { task: updated } }])
    const payloadTask = (seen[0]!.payload as { task: SessionTask }).task
    expect(payloadTask.displayName).toBe('Build')
    expect(payloadTask.spec).toEqual({ keep: true })
    expect(payloadTask.progress).toEqual({ current: 1, total: 2 })
    expect(payloadTask.workerId).toBe('w')
    expect(payloadTask.stateDetail).toBe('halfway')
  })

  it('an inbound message emits task.message.sent and an outbound one task.message.received', async () => {
    const { registry } = setup()
    const task = await registry.create(base('s1'))
    const seen = record(registry, 's1')
    const sent = await registry.recordMessage('s1', task.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'to task' }],
    })
    const received = await registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { x: 1 } }],
      inReplyTo: 'r',
    })
    expect(seen).toEqual([
      { type: 'task.message.sent', payload: { taskId: task.id, message: sent } },
      { type: 'task.message.received', payload: { taskId: task.id, message: received } },
    ])
    expect(Object.keys(seen[0]?.payload ?? {}).sort()).toEqual(['message', 'taskId'])
  })

  it('requestCancel emits task.updated with cancelRequestedAt once', async () => {
    const { registry, tick } = setup()
    const task = await registry.create(base('s1', { wakePolicy: 'on_activity' }))
    const seen = record(registry, 's1')
    const at = tick()
    await registry.requestCancel('s1', task.id)
    await registry.requestCancel('s1', task.id)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.type).toBe('task.updated')
    expect((seen[0]!.payload as { task: SessionTask }).task.cancelRequestedAt).toBe(at)
  })

  it('events are delivered before the operation’s promise resolves', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    let countAtResolve = -1
    const task = await registry.create(base('s1')).then((t) => {
      countAtResolve = seen.length
      return t
    })
    expect(countAtResolve).toBe(1)
    const counts: number[] = []
    await registry.update('s1', task.id, { state: 'running' }).then(() => counts.push(seen.length))
    await registry
      .recordMessage('s1', task.id, {
        direction: 'inbound',
        content: [{ type: 'text', text: 'x' }],
      })
      .then(() => counts.push(seen.length))
    await registry.requestCancel('s1', task.id).then(() => counts.push(seen.length))
    expect(counts).toEqual([2, 3, 4])
  })

  it('events arrive in operation order', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    const a = await registry.create(base('s1', { displayName: 'A' }))
    const b = await registry.create(base('s1', { displayName: 'B' }))
    await registry.update('s1', b.id, { state: 'running' })
    await registry.recordMessage('s1', a.id, outbound([{ type: 'text', text: 'x' }]))
    await registry.update('s1', a.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await registry.recordMessage('s1', a.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'y' }],
      inReplyTo: 'q',
    })
    await registry.requestCancel('s1', b.id)
    const summary = seen.map((e) => {
      const p = e.payload as { task?: SessionTask; taskId?: string }
      return `${e.type}:${p.task?.displayName ?? p.taskId}`
    })
    expect(summary).toEqual([
      'task.created:A',
      'task.created:B',
      'task.updated:B',
      `task.message.received:${a.id}`,
      'task.updated:A',
      `task.message.sent:${a.id}`,
      'task.updated:A',
      'task.updated:B',
    ])
  })
})

describe('listeners', () => {
  it('typed listeners, a "*" listener and subscribe see the same events', async () => {
    const { registry } = setup()
    const emitter = registry.events('s1')
    const typed: Seen[] = []
    const types: SessionTaskEventType[] = [
      'task.created',
      'task.updated',
      'task.message.sent',
      'task.message.received',
      'task.wake',
    ]
    for (const type of types) emitter.on(type, (payload) => typed.push({ type, payload }))
    const wildcard: Seen[] = []
    emitter.on('*', (type, payload) => wildcard.push({ type, payload }))
    const subscribed = record(registry, 's1')
    const t = await registry.create(base('s1', { wakePolicy: 'on_activity' }))
    await registry.update('s1', t.id, { state: 'running' })
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: 'hi' }]))
    await registry.recordMessage('s1', t.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'yo' }],
    })
    await registry.update('s1', t.id, { state: 'succeeded' })
    expect(subscribed.map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
      'task.message.received',
      'task.wake',
      'task.message.sent',
      'task.updated',
      'task.wake',
    ])
    expect(wildcard).toEqual(subscribed)
    expect(typed).toEqual(subscribed)
    expect(registry.events('s1')).toBe(emitter)
  })

  it('subscribeAll sees every session’s events with the session id', async () => {
    const { registry } = setup()
    const all: string[] = []
    const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
      const p = payload as { task: SessionTask }
      all.push(`${sessionId}:${type}:${p.task.sessionId}`)
    })
    await registry.create(base('s1'))
    await registry.create(base('s2'))
    await registry.create(base('s1'))
    unsubscribe()
    await registry.create(base('s3'))
    expect(all).toEqual(['s1:task.created:s1', 's2:task.created:s2', 's1:task.created:s1'])
  })

  it('unsubscribe functions and emitter.off stop delivery', async () => {
    const { registry } = setup()
    const calls: string[] = []
    const offSub = registry.subscribe('s1', () => calls.push('subscribe'))
    const typed = () => calls.push('typed')
    const wildcard = () => calls.push('wildcard')
    registry.events('s1').on('task.created', typed)
    registry.events('s1').on('*', wildcard)
    const offAll = registry.subscribeAll(() => calls.push('all'))
    await registry.create(base('s1'))
    expect(calls.sort()).toEqual(['all', 'subscribe', 'typed', 'wildcard'])
    calls.length = 0
    offSub()
    offAll()
    registry.events('s1').off('task.created', typed)
    registry.events('s1').off('*', wildcard)
    await registry.create(base('s1'))
    expect(calls).toEqual([])
  })

  it('listeners of one session are never told about another session', async () => {
    const { registry } = setup()
    const s2 = record(registry, 's2')
    const s2typed: unknown[] = []
    registry.events('s2').on('task.created', (p) => s2typed.push(p))
    const t = await registry.create(base('s1', { wakePolicy: 'on_activity' }))
    await registry.update('s1', t.id, { state: 'succeeded' })
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: 'x' }]))
    expect(s2).toEqual([])
    expect(s2typed).toEqual([])
  })

  it('a throwing listener never fails the operation nor stops other listeners', async () => {
    const errors: { error: unknown; type: string; payload: unknown }[] = []
    const { registry } = setup({
      onListenerError: (error, type, payload) => errors.push({ error, type, payload }),
    })
    const boomTyped = new Error('typed boom')
    const boomWildcard = new Error('wildcard boom')
    const boomAll = new Error('global boom')
    const calls: string[] = []
    const emitter = registry.events('s1')
    emitter.on('task.created', () => {
      calls.push('typed-1')
      throw boomTyped
    })
    emitter.on('task.created', () => calls.push('typed-2'))
    emitter.on('*', () => {
      calls.push('wildcard-1')
      throw boomWildcard
    })
    registry.subscribe('s1', () => calls.push('subscribe'))
    registry.subscribeAll(() => {
      calls.push('all-1')
      throw boomAll
    })
    registry.subscribeAll(() => calls.push('all-2'))
    const task = await registry.create(base('s1'))
    expect(await registry.get('s1', task.id)).toEqual(task)
    expect(calls).toEqual(['typed-1', 'typed-2', 'wildcard-1', 'subscribe', 'all-1', 'all-2'])
    expect(errors.map((e) => e.error)).toEqual([boomTyped, boomWildcard, boomAll])
    for (const e of errors) {
      expect(e.type).toBe('task.created')
      expect(e.payload).toEqual({ task })
    }
    calls.length = 0
    const updated = await registry.update('s1', task.id, { state: 'running' })
    expect(updated?.state).toBe('running')
    expect(calls).toEqual(['wildcard-1', 'subscribe', 'all-1', 'all-2'])
    expect(errors.slice(3).map((e) => [e.error, e.type])).toEqual([
      [boomWildcard, 'task.updated'],
      [boomAll, 'task.updated'],
    ])
  })

  it('a throwing listener is reported through console.error by default', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const { registry } = setup()
      const boom = new Error('boom')
      registry.subscribe('s1', () => {
        throw boom
      })
      const later: string[] = []
      registry.subscribe('s1', (type) => later.push(type))
      await expect(registry.create(base('s1'))).resolves.toBeDefined()
      expect(later).toEqual(['task.created'])
      expect(spy).toHaveBeenCalled()
      expect(spy.mock.calls.flat()).toContain(boom)
    } finally {
      spy.mockRestore()
    }
  })

  it('a listener may write back into the registry and every listener still sees operation order', async () => {
    const { registry } = setup()
    const first: string[] = []
    const second: string[] = []
    const global: string[] = []
    const show = (type: string, payload: unknown) => {
      const task = (payload as { task?: SessionTask }).task
      return task === undefined ? type : `${type}:${task.state}`
    }
    let nested: Promise<SessionTask | undefined> | undefined
    registry.events('s1').on('task.created', ({ task }) => {
      first.push(show('task.created', { task }))
      nested = registry.update('s1', task.id, { state: 'running' })
    })
    registry
      .events('s1')
      .on('task.updated', ({ task }) => first.push(show('task.updated', { task })))
    registry.subscribe('s1', (type, payload) => second.push(show(type, payload)))
    registry.subscribeAll((_s, type, payload) => global.push(show(type, payload)))
    const created = await registry.create(base('s1'))
    const expected = ['task.created:queued', 'task.updated:running']
    expect(first).toEqual(expected)
    expect(second).toEqual(expected)
    expect(global).toEqual(expected)
    expect(created.state).toBe('queued')
    expect((await nested)?.state).toBe('running')
    expect((await registry.get('s1', created.id))?.state).toBe('running')
  })

  it('a listener unsubscribing itself mid-dispatch gets the current event once and no later ones', async () => {
    const { registry } = setup()
    const calls: string[] = []
    const emitter = registry.events('s1')
    const self = () => {
      calls.push('self')
      emitter.off('task.created', self)
    }
    emitter.on('task.created', () => calls.push('before'))
    emitter.on('task.created', self)
    emitter.on('task.created', () => calls.push('after-1'))
    emitter.on('task.created', () => calls.push('after-2'))
    let offSelfSub: () => void = () => {}
    offSelfSub = registry.subscribe('s1', () => {
      calls.push('sub-self')
      offSelfSub()
    })
    registry.subscribe('s1', () => calls.push('sub-after'))
    await registry.create(base('s1'))
    expect(calls).toEqual(['before', 'self', 'after-1', 'after-2', 'sub-self', 'sub-after'])
    calls.length = 0
    await registry.create(base('s1'))
    expect(calls).toEqual(['before', 'after-1', 'after-2', 'sub-after'])
  })

  it('a listener unsubscribing another mid-dispatch skips nobody and stops the other from then on', async () => {
    const { registry } = setup()
    const calls: string[] = []
    const emitter = registry.events('s1')
    const victim = () => calls.push('victim')
    let offGlobalVictim: () => void = () => {}
    emitter.on('task.created', () => {
      calls.push('killer')
      emitter.off('task.created', victim)
      offGlobalVictim()
    })
    emitter.on('task.created', () => calls.push('bystander'))
    emitter.on('task.created', victim)
    emitter.on('task.created', () => calls.push('last'))
    offGlobalVictim = registry.subscribeAll(() => calls.push('global-victim'))
    registry.subscribeAll(() => calls.push('global-bystander'))
    await registry.create(base('s1'))
    // mitt semantics: the handler list is copied before dispatch, so the
    // removal applies from the next event on and nobody is skipped.
    expect(calls).toEqual([
      'killer',
      'bystander',
      'victim',
      'last',
      'global-victim',
      'global-bystander',
    ])
    calls.length = 0
    await registry.create(base('s1'))
    expect(calls).toEqual(['killer', 'bystander', 'last', 'global-bystander'])
  })
})

describe('wakes', () => {
  const label = (t: SessionTask) => `Task "${t.displayName}" (${t.id})`

  for (const policy of ['on_terminal', 'on_activity'] as const) {
    for (const state of ['succeeded', 'failed', 'canceled'] as const) {
      it(`a ${policy} task entering ${state} wakes with the terminal text`, async () => {
        const { registry, tick } = setup()
        const t = await registry.create(withPolicy(policy))
        const seen = record(registry, 's1')
        const at = tick()
        await registry.update('s1', t.id, { state })
        expect(wakesOf(seen)).toEqual([
          {
            sessionId: 's1',
            taskId: t.id,
            transition: 'terminal',
            text: `${label(t)} finished: ${state}.`,
            createdAt: at,
          },
        ])
      })
    }
  }

  it('the terminal text adds summary and result_path lines when they are non-empty', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    const a = await registry.create(withPolicy('on_terminal', { displayName: 'Both' }))
    await registry.update('s1', a.id, {
      state: 'succeeded',
      summary: 'all good',
      resultPath: '/.tasks/a/result.json',
    })
    const b = await registry.create(withPolicy('on_terminal', { displayName: 'Path only' }))
    await registry.update('s1', b.id, { state: 'failed', summary: '', resultPath: '/r.json' })
    const c = await registry.create(withPolicy('on_terminal', { displayName: 'Summary only' }))
    await registry.update('s1', c.id, { summary: 'early' })
    await registry.update('s1', c.id, { state: 'canceled', resultPath: '' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([
      `${label(a)} finished: succeeded.\n- summary: all good\n- result_path: /.tasks/a/result.json`,
      `${label(b)} finished: failed.\n- result_path: /r.json`,
      `${label(c)} finished: canceled.\n- summary: early`,
    ])
  })

  it('a silent task never wakes', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    const t = await registry.create(withPolicy('silent'))
    await registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: 'hi' }]))
    await registry.update('s1', t.id, { state: 'succeeded' })
    expect(wakesOf(seen)).toEqual([])
    expect(seen.map((e) => e.type)).toContain('task.updated')
  })

  it('the same terminal state again, or a later content update, does not wake again', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    await registry.update('s1', t.id, { state: 'succeeded' })
    const seen = record(registry, 's1')
    await registry.update('s1', t.id, { state: 'succeeded', summary: 'more' })
    await registry.update('s1', t.id, { resultPath: '/x' })
    await registry.update('s1', t.id, { state: 'failed' })
    expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.updated'])
  })

  it('the wake follows the record event', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_terminal'))
    const seen = record(registry, 's1')
    await registry.update('s1', t.id, { state: 'succeeded' })
    expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
  })

  it('an on_activity task entering awaiting_input wakes with the prompt', async () => {
    const { registry, tick } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    const at = tick()
    await registry.update('s1', t.id, { inputRequest: { id: 'q1', prompt: 'Which branch?' } })
    expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
    expect(wakesOf(seen)).toEqual([
      {
        sessionId: 's1',
        taskId: t.id,
        transition: 'awaiting_input',
        text: `${label(t)} is awaiting input: Which branch?`,
        createdAt: at,
      },
    ])
  })

  it('awaiting_input without a request uses the default prompt', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_activity', { displayName: 'X' }))
    const seen = record(registry, 's1')
    await registry.update('s1', t.id, { state: 'awaiting_input' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([
      `Task "X" (${t.id}) is awaiting input: Task is awaiting input.`,
    ])
  })

  it('an input request overriding a terminal state ask wakes once, for awaiting_input', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    await registry.update('s1', t.id, {
      state: 'succeeded',
      inputRequest: { id: 'q', prompt: 'p' },
    })
    expect(wakesOf(seen).map((w) => w.transition)).toEqual(['awaiting_input'])
  })

  it('on_terminal does not wake for awaiting_input, and a replaced request does not wake again', async () => {
    const { registry } = setup()
    const quiet = await registry.create(withPolicy('on_terminal'))
    const loud = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    await registry.update('s1', quiet.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await registry.update('s1', loud.id, { inputRequest: { id: 'q1', prompt: 'first' } })
    await registry.update('s1', loud.id, { inputRequest: { id: 'q2', prompt: 'second' } })
    await registry.update('s1', loud.id, { state: 'awaiting_input' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([`${label(loud)} is awaiting input: first`])
  })

  it('answering a request and asking again wakes again (a new transition)', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    await registry.update('s1', t.id, { inputRequest: { id: 'q1', prompt: 'one' } })
    await registry.recordMessage('s1', t.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'answer' }],
      inReplyTo: 'q1',
    })
    await registry.update('s1', t.id, { inputRequest: { id: 'q2', prompt: 'two' } })
    expect(seen.map((e) => e.type)).toEqual([
      'task.updated',
      'task.wake',
      'task.message.sent',
      'task.updated',
      'task.updated',
      'task.wake',
    ])
    expect(wakesOf(seen).map((w) => w.text)).toEqual([
      `${label(t)} is awaiting input: one`,
      `${label(t)} is awaiting input: two`,
    ])
  })

  it('an outbound message under on_activity wakes after the message event', async () => {
    const { registry, tick } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    const at = tick()
    await registry.recordMessage(
      's1',
      t.id,
      outbound([
        { type: 'text', text: 'line 1' },
        { type: 'data', data: { skip: true } },
        { type: 'text', text: 'line 2' },
      ]),
    )
    expect(seen.map((e) => e.type)).toEqual(['task.message.received', 'task.wake'])
    expect(wakesOf(seen)).toEqual([
      {
        sessionId: 's1',
        taskId: t.id,
        transition: 'message',
        text: `${label(t)} sent a message: line 1\nline 2`,
        createdAt: at,
      },
    ])
  })

  it('an empty, whitespace-only or data-only outbound message wakes as a structured progress update', async () => {
    const { registry } = setup()
    const t = await registry.create(withPolicy('on_activity'))
    const seen = record(registry, 's1')
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: '' }]))
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: '  \n\t ' }]))
    await registry.recordMessage('s1', t.id, outbound([{ type: 'data', data: { pct: 50 } }]))
    const expected = `${label(t)} sent a message: structured progress update`
    expect(wakesOf(seen).map((w) => w.text)).toEqual([expected, expected, expected])
  })

  it('inbound messages, on_terminal messages and requestCancel never wake', async () => {
    const { registry } = setup()
    const activity = await registry.create(withPolicy('on_activity'))
    const terminal = await registry.create(withPolicy('on_terminal'))
    const seen = record(registry, 's1')
    const text: NewTaskMessage['content'] = [{ type: 'text', text: 'hi' }]
    await registry.recordMessage('s1', activity.id, { direction: 'inbound', content: text })
    await registry.recordMessage('s1', terminal.id, outbound(text))
    await registry.requestCancel('s1', activity.id)
    await registry.requestCancel('s1', terminal.id)
    expect(seen.map((e) => e.type)).toEqual([
      'task.message.sent',
      'task.message.received',
      'task.updated',
      'task.updated',
    ])
  })

  it('create never wakes, even in a terminal or awaiting state', async () => {
    const { registry } = setup()
    const seen = record(registry, 's1')
    for (const wakePolicy of ['on_terminal', 'on_activity'] as const) {
      for (const state of ['succeeded', 'failed', 'canceled', 'awaiting_input'] as const) {
        await registry.create(base('s1', { wakePolicy, state }))
      }
    }
    expect(seen).toHaveLength(8)
    expect(wakesOf(seen)).toEqual([])
  })
})

describe('createWakeQueue', () => {
  async function wakeTask(registry: InMemorySessionTaskRegistry, sessionId: string, name: string) {
    const t = await registry.create(
      base(sessionId, { displayName: name, wakePolicy: 'on_terminal', state: 'running' }),
    )
    await registry.update(sessionId, t.id, { state: 'succeeded' })
    return t
  }

  it('collects wakes of every session from its creation on and drains them oldest first, once', async () => {
    const { registry, tick } = setup()
    await wakeTask(registry, 's1', 'before')
    const queue = createWakeQueue(registry)
    const seen = record(registry, 's1')
    tick()
    const a = await wakeTask(registry, 's1', 'A')
    await wakeTask(registry, 's2', 'other')
    tick()
    const b = await wakeTask(registry, 's1', 'B')
    expect(queue.pending('s1')).toBe(2)
    expect(queue.pending('s2')).toBe(1)
    const drained = queue.drain('s1')
    expect(drained.map((w) => w.taskId)).toEqual([a.id, b.id])
    expect(drained).toEqual(wakesOf(seen))
    expect(queue.drain('s1')).toEqual([])
    expect(queue.pending('s1')).toBe(0)
    expect(queue.pending('s2')).toBe(1)
    expect(queue.drain('s2').map((w) => w.text)).toEqual([
      expect.stringMatching(/^Task "other" \(task_[^)]+\) finished: succeeded\.$/),
    ])
    expect(queue.drain('nobody')).toEqual([])
  })

  it('pending counts without removing', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    await wakeTask(registry, 's1', 'A')
    expect(queue.pending('s1')).toBe(1)
    expect(queue.pending('s1')).toBe(1)
    expect(queue.drain('s1')).toHaveLength(1)
    expect(queue.pending('s1')).toBe(0)
  })

  it('only collects wakes, not other events', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    const t = await registry.create(base('s1', { wakePolicy: 'on_activity' }))
    await registry.update('s1', t.id, { state: 'running' })
    await registry.recordMessage('s1', t.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'x' }],
    })
    expect(queue.pending('s1')).toBe(0)
    await registry.recordMessage('s1', t.id, outbound([{ type: 'text', text: 'y' }]))
    expect(queue.drain('s1').map((w) => w.transition)).toEqual(['message'])
  })

  it('stop detaches the queue', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    await wakeTask(registry, 's1', 'A')
    queue.stop()
    await wakeTask(registry, 's1', 'B')
    await wakeTask(registry, 's2', 'C')
    expect(queue.pending('s2')).toBe(0)
    expect(queue.drain('s2')).toEqual([])
    const texts = queue.drain('s1').map((w) => w.text)
    expect(texts.some((text) => text.startsWith('Task "B"'))).toBe(false)
  })

  it('deleteSession drops that session’s pending wakes only', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    await wakeTask(registry, 's1', 'A')
    await wakeTask(registry, 's2', 'B')
    await registry.deleteSession('s1')
    expect(queue.pending('s1')).toBe(0)
    expect(queue.drain('s1')).toEqual([])
    expect(queue.pending('s2')).toBe(1)
    await wakeTask(registry, 's1', 'again')
    expect(queue.drain('s1').map((w) => w.text)).toEqual([expect.stringContaining('Task "again"')])
  })

  it('drained wakes are the caller’s to keep', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    const seen = record(registry, 's1')
    await wakeTask(registry, 's1', 'A')
    const expected = structuredClone(wakesOf(seen))
    const drained = queue.drain('s1')
    for (const w of drained) w.text = 'evil'
    expect(expected[0]?.text).toMatch(/finished: succeeded\.$/)
    expect(wakesOf(seen)).toEqual(expected)
  })
})
