import type { SessionTaskEvents } from '../../events/emitter.js'
import type {
  CreateSessionTask,
  NewTaskMessage,
  SessionTask,
  SessionTaskUpdate,
  TaskMessage,
  TaskWake,
} from '../../model/schemas.js'
import type { GroupContext } from './harness.js'
import { base, T0, type Writable } from './helpers.js'

/** The `immutability` group: frozen, shared records, messages and payloads (SPEC 12.1). */
export function immutabilityTests({ it, expect, setup, expectDeepFrozen }: GroupContext): void {
  const richUpdate = (): SessionTaskUpdate => ({
    state: 'running',
    progress: { current: 1, steps: [{ title: 'step', status: 'in_progress' }] },
    artifacts: [{ name: 'out', type: 'file', path: '/out' }],
    links: { resourceIds: ['r1'] },
    error: { kind: 'k', message: 'm' },
  })

  // Every write to a frozen value throws a TypeError in strict mode (ES modules are strict).
  function vandalize(value: SessionTask): void {
    const task = value as Writable<SessionTask>
    expectDeepFrozen(task)
    const attempts: (() => void)[] = [
      () => {
        task.displayName = 'hacked'
      },
      () => {
        task.state = 'failed'
      },
      () => task.links.resourceIds.push('evil'),
      () => task.artifacts.push({ name: 'evil', type: 'file' }),
    ]
    const spec = task.spec as { nested?: { v: number } } | null
    if (spec?.nested !== undefined) {
      const nested = spec.nested
      attempts.push(() => {
        nested.v = 999
      })
    }
    const artifact = task.artifacts[0]
    if (artifact !== undefined) {
      attempts.push(() => {
        artifact.name = 'evil'
      })
    }
    const steps = task.progress?.steps
    if (steps !== undefined) attempts.push(() => steps.push({ title: 'evil', status: 'done' }))
    const error = task.error
    if (error !== undefined) {
      attempts.push(() => {
        error.kind = 'evil'
      })
    }
    for (const attempt of attempts) expect(attempt).toThrow(TypeError)
  }

  async function prepared() {
    const h = await setup()
    const created = await h.registry.create(
      base('s1', { spec: { nested: { v: 1 } }, links: { resourceIds: ['r0'] } }),
    )
    const updated = (await h.registry.update('s1', created.id, richUpdate())) as SessionTask
    const snapshot = structuredClone(updated) as SessionTask
    return { ...h, created, updated, snapshot }
  }

  it('records returned by create, update, get, list and requestCancel are deeply frozen', async () => {
    const { registry, created, updated, snapshot } = await prepared()
    vandalize(created)
    vandalize(updated)
    vandalize((await registry.get('s1', snapshot.id)) as SessionTask)
    for (const t of await registry.list('s1')) vandalize(t)
    const outcome = await registry.updateWithOutcome('s1', snapshot.id, {})
    vandalize((outcome as { task: SessionTask }).task)
    expect(await registry.get('s1', snapshot.id)).toStrictEqual(snapshot)
    const canceled = (await registry.requestCancel('s1', snapshot.id)) as SessionTask
    const afterCancel = structuredClone(canceled)
    vandalize(canceled)
    expect(await registry.get('s1', snapshot.id)).toStrictEqual(afterCancel)
  })

  it('an idempotent create, a no-op and a dropped update return frozen records too', async () => {
    const { registry, snapshot } = await prepared()
    vandalize(await registry.create(base('s1', { id: 'fixed', spec: { nested: { v: 1 } } })))
    const fixedSnap = structuredClone(await registry.get('s1', 'fixed'))
    vandalize(await registry.create(base('s1', { id: 'fixed' })))
    vandalize((await registry.update('s1', snapshot.id, {})) as SessionTask)
    vandalize((await registry.update('s1', snapshot.id, { expectedAttempt: 9 })) as SessionTask)
    expect(await registry.get('s1', snapshot.id)).toStrictEqual(snapshot)
    expect(await registry.get('s1', 'fixed')).toStrictEqual(fixedSnap)
  })

  it('records returned by listStale and prune are deeply frozen', async () => {
    const { registry, snapshot } = await prepared()
    await registry.update('s1', snapshot.id, { heartbeatAt: '2020-01-01T00:00:00.000Z' })
    const stored = structuredClone(await registry.get('s1', snapshot.id))
    for (const t of await registry.listStale({ heartbeatBefore: new Date(T0) })) vandalize(t)
    expect(await registry.get('s1', snapshot.id)).toStrictEqual(stored)
    const done = await registry.create(
      base('s1', { state: 'succeeded', spec: { nested: { v: 1 } } }),
    )
    const pruned = await registry.prune({ finishedBefore: new Date(T0 + 1) })
    expect(pruned.map((t) => t.id)).toEqual([done.id])
    for (const t of pruned) vandalize(t)
    expect(await registry.get('s1', snapshot.id)).toStrictEqual(stored)
  })

  it('event payloads are deeply frozen and one object is shared by every listener', async () => {
    const h = await setup()
    const { registry } = h
    const byLocal: unknown[] = []
    const byAll: unknown[] = []
    registry.subscribe('s1', (type, payload) => {
      byLocal.push(payload)
      expectDeepFrozen(payload)
      if (type === 'task.created' || type === 'task.updated') {
        ;(payload as Writable<{ task: SessionTask }>).task.summary = 'evil'
      } else if (type === 'task.message.received') {
        const p = payload as Writable<SessionTaskEvents['task.message.received']>
        p.message.content.push({ type: 'text', text: 'evil' })
      } else if (type === 'task.wake') {
        ;(payload as Writable<TaskWake>).text = 'evil'
      }
    })
    registry.subscribeAll((_s, _type, payload) => {
      byAll.push(payload)
    })
    const created = await registry.create(
      base('s1', { spec: { nested: { v: 1 } }, wakePolicy: 'on_activity' }),
    )
    const updated = await registry.update('s1', created.id, richUpdate())
    const msg = await registry.recordMessage('s1', created.id, {
      direction: 'outbound',
      content: [{ type: 'data', data: { v: 1 } }],
    })
    expect(byLocal.length).toBeGreaterThanOrEqual(4)
    expect(byAll).toHaveLength(byLocal.length)
    for (let i = 0; i < byLocal.length; i++) expect(byAll[i]).toBe(byLocal[i])
    // Each write attempt threw inside the listener and went to onListenerError.
    expect(h.listenerErrors.length).toBe(byLocal.length)
    for (const report of h.listenerErrors) expect(report.error).toBeInstanceOf(TypeError)
    const stored = await registry.get('s1', created.id)
    expect(stored).toStrictEqual(updated)
    expect(stored?.summary).toBeUndefined()
    expect(await registry.listMessages('s1', created.id)).toStrictEqual([msg])
    expect(msg.content).toEqual([{ type: 'data', data: { v: 1 } }])
  })

  it('returned messages are deeply frozen', async () => {
    const { registry } = await setup()
    const t = await registry.create(base('s1'))
    const msg = await registry.recordMessage('s1', t.id, {
      direction: 'outbound',
      content: [
        { type: 'text', text: 'hello' },
        { type: 'data', data: { list: [1, 2] } },
      ],
    })
    const copy = structuredClone(msg)
    const mangle = (value: TaskMessage) => {
      const m = value as Writable<TaskMessage>
      expectDeepFrozen(m)
      expect(() => {
        m.id = 'tmsg_evil'
      }).toThrow(TypeError)
      expect(() => m.content.push({ type: 'text', text: 'more' })).toThrow(TypeError)
      const second = m.content[1]
      if (second?.type === 'data') {
        expect(() => (second.data as number[][] & { list: number[] }).list.push(3)).toThrow(
          TypeError,
        )
      }
    }
    mangle(msg)
    for (const m of await registry.listMessages('s1', t.id)) mangle(m)
    expect(await registry.listMessages('s1', t.id)).toStrictEqual([copy])
    expect(await registry.listMessages('s1', t.id, { afterId: copy.id })).toEqual([])
  })

  it('mutating the caller’s input objects after the call changes nothing', async () => {
    const { registry } = await setup()
    const createInput = base('s1', {
      spec: { nested: { v: 1 }, list: [1] },
      links: { resourceIds: ['r0'] },
    }) as Writable<CreateSessionTask>
    const created = await registry.create(createInput)
    ;(createInput.spec as { nested: { v: number } }).nested.v = 999
    ;(createInput.spec as { list: number[] }).list.push(2)
    createInput.links?.resourceIds?.push('evil')
    createInput.displayName = 'evil'
    expect(await registry.get('s1', created.id)).toStrictEqual(created)
    expect(created.spec).toEqual({ nested: { v: 1 }, list: [1] })

    const update = {
      ...richUpdate(),
      appendArtifact: { name: 'extra', type: 'url', url: 'https://x' },
    } as Writable<SessionTaskUpdate>
    const updated = await registry.update('s1', created.id, update)
    update.progress?.steps?.push({ title: 'evil', status: 'done' })
    if (update.progress?.steps?.[0] !== undefined) update.progress.steps[0].title = 'evil'
    update.artifacts?.push({ name: 'evil', type: 'file' })
    if (update.artifacts?.[0] !== undefined) update.artifacts[0].name = 'evil'
    if (update.appendArtifact !== undefined) update.appendArtifact.name = 'evil'
    update.links?.resourceIds?.push('evil')
    if (update.error !== undefined) update.error.kind = 'evil'
    expect(await registry.get('s1', created.id)).toStrictEqual(updated)

    const request = { id: 'q', prompt: 'p', expected: { choices: ['a'] } }
    const waiting = await registry.update('s1', created.id, { inputRequest: request })
    request.expected.choices.push('evil')
    request.prompt = 'evil'
    expect(await registry.get('s1', created.id)).toStrictEqual(waiting)

    const content: Writable<NewTaskMessage['content']> = [
      { type: 'text', text: 'hi' },
      { type: 'data', data: { deep: { v: 1 } } },
    ]
    const msgInput: Writable<NewTaskMessage> = { direction: 'outbound', content }
    const msg = await registry.recordMessage('s1', created.id, msgInput)
    content.push({ type: 'text', text: 'evil' })
    const first = content[0]
    if (first?.type === 'text') first.text = 'evil'
    const second = content[1]
    if (second?.type === 'data') (second.data as { deep: { v: number } }).deep.v = 999
    msgInput.direction = 'inbound'
    expect(await registry.listMessages('s1', created.id)).toStrictEqual([msg])
    expect(msg.content).toEqual([
      { type: 'text', text: 'hi' },
      { type: 'data', data: { deep: { v: 1 } } },
    ])
  })
}
