// What the contract does not cover. Event types, payloads, order, delivery
// before the promise resolves, typed/"*"/subscribe/subscribeAll listeners,
// unsubscribing, listener faults with onListenerError, re-entrant writes and
// every wake rule and text are checked on this registry by the contract suite
// in test/contract.test.ts (src/testing/contract/*). Kept here:
// - message event payloads have exactly the keys taskId and message (the
//   contract compares them with toEqual, which ignores extra undefined keys);
// - throwing listeners: the exact call order typed, "*", subscribe,
//   subscribeAll and the order of the onListenerError reports (the contract
//   sorts both);
// - without onListenerError a listener error goes to console.error;
// - mitt emitter specifics: a listener removing itself or another one during
//   a dispatch;
// - createWakeQueue, which the contract does not use at all.
import { describe, expect, it, vi } from 'vitest'
import {
  type CreateSessionTask,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
  type NewTaskMessage,
  type SessionTaskEvents,
  type SessionTaskEventType,
  type TaskWake,
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

const outbound = (content: NewTaskMessage['content']): NewTaskMessage => ({
  direction: 'outbound',
  content,
})

describe('event payloads', () => {
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
})

describe('listeners', () => {
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

describe('createWakeQueue', () => {
  async function wakeTask(registry: InMemorySessionTaskRegistry, sessionId: string, name: string) {
    const t = await registry.create(
      base(sessionId, { displayName: name, wakePolicy: 'on_terminal', state: 'running' }),
    )
    await registry.update(sessionId, t.id, { state: 'succeeded' })
    return t
  }

  it('discardTerminal drops a terminal wake already pending and one still to come, and nothing else', async () => {
    const { registry } = setup()
    const queue = createWakeQueue(registry)
    const done = await wakeTask(registry, 's1', 'done')
    const later = await registry.create(
      base('s1', { displayName: 'later', wakePolicy: 'on_terminal', state: 'running' }),
    )
    const other = await wakeTask(registry, 's1', 'other')
    queue.discardTerminal('s1', done.id)
    queue.discardTerminal('s1', later.id)
    await registry.update('s1', later.id, { state: 'failed', error: { kind: 'x', message: 'y' } })
    expect(queue.drain('s1').map((w) => w.taskId)).toEqual([other.id])
    expect(() => queue.discardTerminal('', done.id)).toThrow(/sessionId/)
    queue.stop()
  })

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
})
