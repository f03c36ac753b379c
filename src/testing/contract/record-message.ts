import { isStaleAttemptError, isTaskNotFoundError } from '../../model/errors.js'
import type { NewTaskMessage, SessionTask } from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, caught, inbound, MESSAGE_ID, outbound, textOf } from './helpers.js'

/** The `recordMessage` group: storing messages, fences and answers that resume a task. */
export function recordMessageTests({ it, expect, setup, expectNoEmptyKeys }: GroupContext): void {
  it('throws TaskNotFoundError for an unknown task and emits nothing', async () => {
    const h = await setup()
    const all = h.recordAll()
    const error = await caught(() => h.registry.recordMessage('s1', 'task_nope', inbound('x')))
    expect(isTaskNotFoundError(error), `expected TaskNotFoundError, got ${String(error)}`).toBe(
      true,
    )
    expect(all).toEqual([])
  })

  it('throws TaskNotFoundError for another session’s task and stores nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const all = h.recordAll()
    const error = await caught(() => h.registry.recordMessage('s2', task.id, outbound('hi')))
    expect(isTaskNotFoundError(error)).toBe(true)
    expect(await h.registry.listMessages('s1', task.id)).toEqual([])
    expect(all).toEqual([])
  })

  it('throws StaleAttemptError on an attempt mismatch and stores or emits nothing', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    await h.registry.update('s1', task.id, { incrementAttempt: true })
    const all = h.recordAll()
    const error = await caught(() =>
      h.registry.recordMessage('s1', task.id, outbound('late', { expectedAttempt: 1 })),
    )
    expect(isStaleAttemptError(error), `expected StaleAttemptError, got ${String(error)}`).toBe(
      true,
    )
    expect(await h.registry.listMessages('s1', task.id)).toEqual([])
    expect(all).toEqual([])
    const ok = await h.registry.recordMessage(
      's1',
      task.id,
      outbound('now', { expectedAttempt: 2 }),
    )
    expect(await h.registry.listMessages('s1', task.id)).toStrictEqual([ok])
  })

  it('stores a message with a tmsg_ id and the clock’s time, without expectedAttempt', async () => {
    const { registry, iso, tick } = await setup()
    const task = await registry.create(base('s1'))
    tick()
    const msg = await registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'a' },
        { type: 'data', data: { n: 1, list: [true, null, 'x'] } },
      ],
      expectedAttempt: 1,
    })
    expect(msg.id).toMatch(MESSAGE_ID)
    expect(msg).toStrictEqual({
      id: msg.id,
      taskId: task.id,
      direction: 'outbound',
      content: [
        { type: 'text', text: 'a' },
        { type: 'data', data: { n: 1, list: [true, null, 'x'] } },
      ],
      createdAt: iso(),
    })
    expectNoEmptyKeys(msg)
    const reply = await registry.recordMessage('s1', task.id, inbound('b', { inReplyTo: 'q' }))
    expect(reply.inReplyTo).toBe('q')
    expect(reply.id).not.toBe(msg.id)
    expect(await registry.listMessages('s1', task.id)).toStrictEqual([msg, reply])
  })

  it('an inbound message emits task.message.sent and an outbound one task.message.received', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const seen = h.record('s1')
    const sent = await h.registry.recordMessage('s1', task.id, inbound('to task'))
    const received = await h.registry.recordMessage('s1', task.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { x: 1 } }],
      inReplyTo: 'r',
    })
    expect(seen).toEqual([
      { type: 'task.message.sent', payload: { taskId: task.id, message: sent } },
      { type: 'task.message.received', payload: { taskId: task.id, message: received } },
    ])
  })

  it('an inbound answer to the pending request resumes the task: message event, then task.updated', async () => {
    const h = await setup()
    const task = await h.registry.create(base('s1', { state: 'running' }))
    const waiting = (await h.registry.update('s1', task.id, {
      inputRequest: { id: 'q1', prompt: 'Which branch?' },
    })) as SessionTask
    expect(waiting.state).toBe('awaiting_input')
    const all = h.recordAll()
    const at = h.tick()
    const msg = await h.registry.recordMessage('s1', task.id, inbound('main', { inReplyTo: 'q1' }))
    const after = await h.registry.get('s1', task.id)
    const { inputRequest: _dropped, ...rest } = waiting
    expect(after).toStrictEqual({ ...rest, state: 'running', stateChangedAt: at, updatedAt: at })
    expect(all).toEqual([
      {
        sessionId: 's1',
        type: 'task.message.sent',
        payload: { taskId: task.id, message: msg },
      },
      { sessionId: 's1', type: 'task.updated', payload: { task: after } },
    ])
  })

  it('the resume is unfenced and an answer fenced on the current attempt also resumes', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    await registry.update('s1', task.id, { incrementAttempt: true })
    await registry.update('s1', task.id, { inputRequest: { id: 'q1', prompt: 'p' } })
    await registry.recordMessage(
      's1',
      task.id,
      inbound('yes', { inReplyTo: 'q1', expectedAttempt: 2 }),
    )
    const after = await registry.get('s1', task.id)
    expect(after?.state).toBe('running')
    expect(after?.attempt).toBe(2)
  })

  const untouched: [string, (id: string) => NewTaskMessage][] = [
    ['an inbound message answering another request', () => inbound('x', { inReplyTo: 'zz' })],
    ['an inbound message without inReplyTo', () => inbound('x')],
    ['an outbound message with the matching inReplyTo', (id) => outbound('x', { inReplyTo: id })],
  ]
  for (const [title, make] of untouched) {
    it(`stores ${title} without touching the awaiting task`, async () => {
      const h = await setup()
      const task = await h.registry.create(base('s1', { state: 'running' }))
      const waiting = await h.registry.update('s1', task.id, {
        inputRequest: { id: 'q1', prompt: 'Which?' },
      })
      const seen = h.record('s1')
      h.tick()
      const msg = await h.registry.recordMessage('s1', task.id, make('q1'))
      expect(await h.registry.get('s1', task.id)).toStrictEqual(waiting)
      expect(await h.registry.listMessages('s1', task.id)).toStrictEqual([msg])
      expect(seen.map((e) => e.type)).toEqual([
        msg.direction === 'inbound' ? 'task.message.sent' : 'task.message.received',
      ])
    })
  }

  it('messages never touch a running task’s record, not even updatedAt', async () => {
    const { registry, tick } = await setup()
    const task = await registry.create(base('s1', { state: 'running' }))
    tick()
    await registry.recordMessage('s1', task.id, inbound('a', { inReplyTo: 'q1' }))
    tick()
    await registry.recordMessage('s1', task.id, outbound('b'))
    expect(await registry.get('s1', task.id)).toStrictEqual(task)
  })

  it('terminal tasks accept messages without changing', async () => {
    const { registry, tick } = await setup()
    const task = await registry.create(base('s1'))
    const done = await registry.update('s1', task.id, { state: 'canceled' })
    tick()
    const m1 = await registry.recordMessage('s1', task.id, inbound('still there?'))
    const m2 = await registry.recordMessage('s1', task.id, outbound('bye'))
    expect(await registry.listMessages('s1', task.id)).toStrictEqual([m1, m2])
    expect(await registry.get('s1', task.id)).toStrictEqual(done)
  })

  it('concurrent messages are all stored with distinct ids', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1'))
    const sent = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        registry.recordMessage('s1', task.id, outbound(`m${i}`)),
      ),
    )
    expect(new Set(sent.map((m) => m.id)).size).toBe(10)
    const stored = await registry.listMessages('s1', task.id)
    expect(stored.map(textOf).sort()).toEqual(sent.map(textOf).sort())
  })
}
