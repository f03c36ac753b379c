import type { CreateSessionTask, TaskWake } from '../../model/schemas.js'
import type { TaskWakePolicy } from '../../model/state.js'
import type { GroupContext } from './harness.js'
import { base, inbound, label, outbound, wakesOf } from './helpers.js'

/** The `wakes` group: when a task wakes its session, and the wake texts. */
export function wakesTests({ it, expect, setup }: GroupContext): void {
  const withPolicy = (wakePolicy: TaskWakePolicy, extra: Partial<CreateSessionTask> = {}) =>
    base('s1', { wakePolicy, state: 'running', displayName: 'Build', ...extra })

  for (const policy of ['on_terminal', 'on_activity'] as const) {
    it(`an ${policy} task entering a terminal state wakes once with the terminal text`, async () => {
      const h = await setup()
      for (const state of ['succeeded', 'failed', 'canceled'] as const) {
        const sid = `s-${state}`
        const t = await h.registry.create({ ...withPolicy(policy), sessionId: sid })
        const seen = h.record(sid)
        const at = h.tick()
        await h.registry.update(sid, t.id, { state })
        expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
        expect(wakesOf(seen)).toStrictEqual([
          {
            sessionId: sid,
            taskId: t.id,
            transition: 'terminal',
            text: `${label(t)} finished: ${state}.`,
            createdAt: at,
          },
        ])
      }
    })
  }

  it('the terminal text adds summary and result_path lines when non-empty', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const a = await h.registry.create(withPolicy('on_terminal', { displayName: 'Both' }))
    await h.registry.update('s1', a.id, {
      state: 'succeeded',
      summary: 'all good',
      resultPath: '/.tasks/a/result.json',
    })
    const b = await h.registry.create(withPolicy('on_terminal', { displayName: 'Path only' }))
    await h.registry.update('s1', b.id, { state: 'failed', summary: '', resultPath: '/r.json' })
    const c = await h.registry.create(withPolicy('on_terminal', { displayName: 'Summary only' }))
    await h.registry.update('s1', c.id, { summary: 'early' })
    await h.registry.update('s1', c.id, { state: 'canceled', resultPath: '' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([
      `${label(a)} finished: succeeded.\n- summary: all good\n- result_path: /.tasks/a/result.json`,
      `${label(b)} finished: failed.\n- result_path: /r.json`,
      `${label(c)} finished: canceled.\n- summary: early`,
    ])
  })

  it('a silent task never wakes', async () => {
    const h = await setup()
    const seen = h.record('s1')
    const t = await h.registry.create(withPolicy('silent'))
    await h.registry.update('s1', t.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await h.registry.recordMessage('s1', t.id, outbound('hi'))
    await h.registry.update('s1', t.id, { state: 'succeeded' })
    expect(wakesOf(seen)).toEqual([])
    expect(seen.map((e) => e.type)).toContain('task.updated')
  })

  it('the same terminal state again, or later content, does not wake again', async () => {
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    await h.registry.update('s1', t.id, { state: 'succeeded' })
    const seen = h.record('s1')
    await h.registry.update('s1', t.id, { state: 'succeeded', summary: 'more' })
    await h.registry.update('s1', t.id, { resultPath: '/x' })
    await h.registry.update('s1', t.id, { state: 'failed' })
    expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.updated'])
  })

  it('an on_activity task entering awaiting_input wakes with the prompt', async () => {
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    const at = h.tick()
    await h.registry.update('s1', t.id, {
      inputRequest: { id: 'q1', prompt: 'Which branch?' },
    })
    expect(seen.map((e) => e.type)).toEqual(['task.updated', 'task.wake'])
    expect(wakesOf(seen)).toStrictEqual([
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
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity', { displayName: 'X' }))
    const seen = h.record('s1')
    await h.registry.update('s1', t.id, { state: 'awaiting_input' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([
      `Task "X" (${t.id}) is awaiting input: Task is awaiting input.`,
    ])
  })

  it('an input request overriding a terminal ask wakes once, for awaiting_input', async () => {
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    await h.registry.update('s1', t.id, {
      state: 'succeeded',
      inputRequest: { id: 'q', prompt: 'p' },
    })
    expect(wakesOf(seen).map((w) => w.transition)).toEqual(['awaiting_input'])
  })

  it('on_terminal does not wake for awaiting_input, and a replaced request does not wake again', async () => {
    const h = await setup()
    const quiet = await h.registry.create(withPolicy('on_terminal'))
    const loud = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    await h.registry.update('s1', quiet.id, { inputRequest: { id: 'q', prompt: 'p' } })
    await h.registry.update('s1', loud.id, { inputRequest: { id: 'q1', prompt: 'first' } })
    await h.registry.update('s1', loud.id, { inputRequest: { id: 'q2', prompt: 'second' } })
    await h.registry.update('s1', loud.id, { state: 'awaiting_input' })
    expect(wakesOf(seen).map((w) => w.text)).toEqual([`${label(loud)} is awaiting input: first`])
  })

  it('answering a request and asking again wakes again', async () => {
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    await h.registry.update('s1', t.id, { inputRequest: { id: 'q1', prompt: 'one' } })
    await h.registry.recordMessage('s1', t.id, inbound('answer', { inReplyTo: 'q1' }))
    await h.registry.update('s1', t.id, { inputRequest: { id: 'q2', prompt: 'two' } })
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
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    const at = h.tick()
    await h.registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'line 1' },
        { type: 'data', data: { skip: true } },
        { type: 'text', text: 'line 2' },
      ],
    })
    expect(seen.map((e) => e.type)).toEqual(['task.message.received', 'task.wake'])
    expect(wakesOf(seen)).toStrictEqual([
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
    const h = await setup()
    const t = await h.registry.create(withPolicy('on_activity'))
    const seen = h.record('s1')
    await h.registry.recordMessage('s1', t.id, outbound(''))
    await h.registry.recordMessage('s1', t.id, outbound('  \n\t '))
    await h.registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { pct: 50 } }],
    })
    const expected = `${label(t)} sent a message: structured progress update`
    expect(wakesOf(seen).map((w) => w.text)).toEqual([expected, expected, expected])
  })

  it('inbound messages, on_terminal messages, requestCancel and output never wake', async () => {
    const h = await setup()
    const activity = await h.registry.create(withPolicy('on_activity'))
    const terminal = await h.registry.create(withPolicy('on_terminal'))
    const seen = h.record('s1')
    await h.registry.recordMessage('s1', activity.id, inbound('hi'))
    await h.registry.recordMessage('s1', terminal.id, outbound('hi'))
    await h.registry.requestCancel('s1', activity.id)
    await h.registry.requestCancel('s1', terminal.id)
    await h.registry.publishOutput('s1', activity.id, { stream: 'o', delta: 'd' })
    expect(seen.map((e) => e.type)).toEqual([
      'task.message.sent',
      'task.message.received',
      'task.updated',
      'task.updated',
      'task.output',
    ])
  })

  it('create never wakes, even in a terminal or awaiting state', async () => {
    const h = await setup()
    const seen = h.record('s1')
    for (const wakePolicy of ['on_terminal', 'on_activity'] as const) {
      for (const state of ['succeeded', 'failed', 'canceled', 'awaiting_input'] as const) {
        await h.registry.create(base('s1', { wakePolicy, state }))
      }
    }
    expect(seen).toHaveLength(8)
    expect(wakesOf(seen)).toEqual([])
  })

  it('subscribeAll sees wakes with their session id', async () => {
    const h = await setup()
    const all = h.recordAll()
    const t = await h.registry.create(base('s9', { wakePolicy: 'on_terminal' }))
    await h.registry.update('s9', t.id, { state: 'succeeded' })
    const wake = all.find((e) => e.type === 'task.wake')
    expect(wake?.sessionId).toBe('s9')
    expect((wake?.payload as TaskWake | undefined)?.sessionId).toBe('s9')
  })
}
