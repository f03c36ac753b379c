import type { SessionTaskEventType } from '../../events/emitter.js'
import type { SessionTask } from '../../model/schemas.js'
import { toPublicTask } from '../../rules/projection.js'
import type { GroupContext } from './harness.js'
import { base, inbound, outbound, type Seen, T0, taskOf } from './helpers.js'

/** The `events and listeners` group: delivery, order, faults and re-entrancy. */
export function eventsTests({ it, expect, setup, expectNoEmptyKeys }: GroupContext): void {
  it('typed listeners, a "*" listener and subscribe see the same events', async () => {
    const h = await setup()
    const emitter = h.registry.events('s1')
    expect(h.registry.events('s1')).toBe(emitter)
    const typed: Seen[] = []
    const types: SessionTaskEventType[] = [
      'task.created',
      'task.updated',
      'task.message.sent',
      'task.message.received',
      'task.output',
      'task.wake',
    ]
    for (const type of types) emitter.on(type, (payload) => typed.push({ type, payload }))
    const wildcard: Seen[] = []
    emitter.on('*', (type, payload) => wildcard.push({ type, payload }))
    const subscribed = h.record('s1')
    const t = await h.registry.create(base('s1', { wakePolicy: 'on_activity' }))
    await h.registry.update('s1', t.id, { state: 'running' })
    await h.registry.recordMessage('s1', t.id, outbound('hi'))
    await h.registry.recordMessage('s1', t.id, inbound('yo'))
    await h.registry.publishOutput('s1', t.id, { stream: 'stderr', delta: 'warn' })
    await h.registry.update('s1', t.id, { state: 'succeeded' })
    expect(subscribed.map((e) => e.type)).toEqual([
      'task.created',
      'task.updated',
      'task.message.received',
      'task.wake',
      'task.message.sent',
      'task.output',
      'task.updated',
      'task.wake',
    ])
    expect(wildcard).toEqual(subscribed)
    expect(typed).toEqual(subscribed)
  })

  it('subscribeAll sees every session’s events with the session id', async () => {
    const { registry } = await setup()
    const all: string[] = []
    const unsubscribe = registry.subscribeAll((sessionId, type, payload) => {
      all.push(`${sessionId}:${type}:${(payload as { task: SessionTask }).task.sessionId}`)
    })
    await registry.create(base('s1'))
    await registry.create(base('s2'))
    await registry.create(base('s1'))
    unsubscribe()
    await registry.create(base('s3'))
    expect(all).toEqual(['s1:task.created:s1', 's2:task.created:s2', 's1:task.created:s1'])
  })

  it('unsubscribe functions and emitter.off stop delivery', async () => {
    const { registry } = await setup()
    const calls: string[] = []
    const offSub = registry.subscribe('s1', () => calls.push('subscribe'))
    const typed = () => calls.push('typed')
    const wildcard = () => calls.push('wildcard')
    registry.events('s1').on('task.created', typed)
    registry.events('s1').on('*', wildcard)
    const offAll = registry.subscribeAll(() => calls.push('all'))
    await registry.create(base('s1'))
    expect(calls.slice().sort()).toEqual(['all', 'subscribe', 'typed', 'wildcard'])
    calls.length = 0
    offSub()
    offAll()
    registry.events('s1').off('task.created', typed)
    registry.events('s1').off('*', wildcard)
    await registry.create(base('s1'))
    expect(calls).toEqual([])
  })

  it('events are delivered before the operation’s promise resolves', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const counts: number[] = []
    const note = <T>(value: T): T => {
      counts.push(seen.length)
      return value
    }
    const task = await h.registry.create(base('s1', { wakePolicy: 'on_activity' })).then(note)
    await h.registry.update('s1', task.id, { state: 'running' }).then(note)
    await h.registry.recordMessage('s1', task.id, inbound('x')).then(note)
    await h.registry.recordMessage('s1', task.id, outbound('y')).then(note)
    await h.registry.update('s1', task.id, { inputRequest: { id: 'q', prompt: 'p' } }).then(note)
    await h.registry.recordMessage('s1', task.id, inbound('a', { inReplyTo: 'q' })).then(note)
    await h.registry.requestCancel('s1', task.id).then(note)
    await h.registry.publishOutput('s1', task.id, { stream: 'o', delta: 'd' }).then(note)
    await h.registry.update('s1', task.id, { state: 'canceled' }).then(note)
    // created | updated | sent | received+wake | updated+wake | sent+updated | updated | output | updated+wake
    expect(counts).toEqual([1, 2, 3, 5, 7, 9, 10, 11, 13])
  })

  it('events arrive in operation order', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const a = await h.registry.create(base('s1', { displayName: 'A' }))
    const b = await h.registry.create(base('s1', { displayName: 'B' }))
    await h.registry.update('s1', b.id, { state: 'running' })
    await h.registry.recordMessage('s1', a.id, outbound('x'))
    await h.registry.update('s1', a.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await h.registry.recordMessage('s1', a.id, inbound('y', { inReplyTo: 'q' }))
    await h.registry.requestCancel('s1', b.id)
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

  it('task.updated carries a full snapshot, unchanged fields included', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { spec: { keep: true } }))
    await h.registry.update('s1', task.id, {
      progress: { current: 1, total: 2 },
      workerId: 'w',
    })
    const seen = h.record('s1')
    h.tick()
    const updated = await h.registry.update('s1', task.id, { stateDetail: 'halfway' })
    expect(seen).toEqual([{ type: 'task.updated', payload: { task: updated } }])
    expectNoEmptyKeys(taskOf(seen[0] as Seen))
  })

  it('a throwing listener never fails the operation nor stops other listeners; onListenerError gets it', async () => {
    const h = await setup()
    const boomTyped = new Error('typed boom')
    const boomWildcard = new Error('wildcard boom')
    const boomAll = new Error('global boom')
    const calls: string[] = []
    const emitter = h.registry.events('s1')
    emitter.on('task.created', () => {
      calls.push('typed-1')
      throw boomTyped
    })
    emitter.on('task.created', () => calls.push('typed-2'))
    emitter.on('*', () => {
      calls.push('wildcard-1')
      throw boomWildcard
    })
    h.registry.subscribe('s1', () => calls.push('subscribe'))
    h.registry.subscribeAll(() => {
      calls.push('all-1')
      throw boomAll
    })
    h.registry.subscribeAll(() => calls.push('all-2'))
    const task = await h.registry.create(base('s1'))
    expect(await h.registry.get('s1', task.id)).toStrictEqual(task)
    expect(calls.slice().sort()).toEqual(
      ['typed-1', 'typed-2', 'wildcard-1', 'subscribe', 'all-1', 'all-2'].sort(),
    )
    expect(h.listenerErrors.map((e) => e.error).sort()).toEqual(
      [boomTyped, boomWildcard, boomAll].sort(),
    )
    for (const e of h.listenerErrors) {
      expect(e.type).toBe('task.created')
      expect(e.payload).toEqual({ task: toPublicTask(task) })
    }
    calls.length = 0
    const updated = await h.registry.update('s1', task.id, { state: 'running' })
    expect(updated?.state).toBe('running')
    expect(calls.slice().sort()).toEqual(['all-1', 'all-2', 'subscribe', 'wildcard-1'])
    expect(h.listenerErrors).toHaveLength(5)
    expect(h.listenerErrors.slice(3).every((e) => e.type === 'task.updated')).toBe(true)
  })

  it('a listener may write back into the registry; every listener still sees operation order', async () => {
    const { registry } = await setup()
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
    expect(created.state).toBe('queued')
    expect((await nested)?.state).toBe('running')
    const expected = ['task.created:queued', 'task.updated:running']
    expect(first).toEqual(expected)
    expect(second).toEqual(expected)
    expect(global).toEqual(expected)
    expect((await registry.get('s1', created.id))?.state).toBe('running')
  })

  it('events follow the write: a read started inside a listener sees it', async () => {
    const { registry } = await setup()
    const reads: Promise<SessionTask | undefined>[] = []
    const listReads: Promise<SessionTask[]>[] = []
    registry.subscribe('s1', (type, payload) => {
      if (type === 'task.created' || type === 'task.updated') {
        const { task } = payload as { task: SessionTask }
        reads.push(registry.get('s1', task.id))
        listReads.push(registry.list('s1'))
      }
    })
    const task = await registry.create(base('s1'))
    const updated = await registry.update('s1', task.id, { state: 'running' })
    // A read still in flight when the next write starts may see that write too (a pooled
    // backend runs them on different connections), but never the state before its event.
    const [afterCreate, afterUpdate] = await Promise.all(reads)
    expect(afterCreate).toStrictEqual(afterCreate?.state === 'queued' ? task : updated)
    expect(afterUpdate).toStrictEqual(updated)
    const lists = await Promise.all(listReads)
    expect(lists[0]?.map((t) => t.id)).toEqual([task.id])
    expect(lists[1]?.[0]?.state).toBe('running')
  })

  it('listeners of one session are never told about another session', async () => {
    const h = await setup()
    const s2 = h.record('s2')
    const s2typed: unknown[] = []
    h.registry.events('s2').on('task.created', (p) => s2typed.push(p))
    h.registry.events('s2').on('*', (type) => s2typed.push(type))
    const t = await h.registry.create(base('s1', { wakePolicy: 'on_activity' }))
    await h.registry.update('s1', t.id, { state: 'succeeded' })
    await h.registry.recordMessage('s1', t.id, outbound('x'))
    await h.registry.publishOutput('s1', t.id, { stream: 'o', delta: 'd' })
    expect(s2).toEqual([])
    expect(s2typed).toEqual([])
  })

  it('now() is the injected clock', async () => {
    const { registry, at } = await setup()
    expect(registry.now().toISOString()).toBe(new Date(T0).toISOString())
    const later = at(42_000)
    expect(registry.now().toISOString()).toBe(later)
  })
}
