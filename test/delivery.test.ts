import { describe, expect, it } from 'vitest'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type SessionTaskEventType,
  TaskExecutorRegistry,
} from '../src/index.js'

// SPEC 12.4: an answer whose deliver fails leaves the task awaiting_input
// with the same inputRequest, and the delivery reports { failed }.

function world(deliver: () => Promise<void>) {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  executors.register({
    kind: 'asker',
    executor: () => ({
      kind: 'asker',
      async start(_task, ctx) {
        await ctx.sink.state('running')
        await ctx.sink.requestInput({ id: 'r1', prompt: 'Which branch?' })
      },
      async cancel() {},
      deliver,
    }),
  })
  const supervisor = createTaskSupervisor({ registry, executors, onError: () => {} })
  const events: SessionTaskEventType[] = []
  registry.subscribe('s', (type) => events.push(type))
  return { registry, supervisor, events }
}

async function awaiting(w: ReturnType<typeof world>) {
  const task = await w.supervisor.spawn({ sessionId: 's', kind: 'asker', displayName: 'asker' })
  const read = await w.registry.get('s', task.id)
  expect(read?.state).toBe('awaiting_input')
  return task.id
}

describe('message delivery', () => {
  it('puts the request back when deliver throws', async () => {
    const w = world(async () => {
      throw new Error('worker unreachable')
    })
    const id = await awaiting(w)
    const out = await w.supervisor.message('s', id, { text: 'main', inReplyTo: 'r1' })
    expect(out.delivery).toEqual({ failed: 'worker unreachable' })
    const task = await w.registry.get('s', id)
    expect(task?.state).toBe('awaiting_input')
    expect(task?.inputRequest).toEqual({ id: 'r1', prompt: 'Which branch?' })
    // The answer stays on record, so the runtime can see what was tried.
    const messages = await w.registry.listMessages('s', id)
    expect(messages.at(-1)?.direction).toBe('inbound')
  })

  it('resumes the task when deliver succeeds', async () => {
    const w = world(async () => {})
    const id = await awaiting(w)
    const out = await w.supervisor.message('s', id, { text: 'main', inReplyTo: 'r1' })
    expect(out.delivery).toBe('delivered')
    const task = await w.registry.get('s', id)
    expect(task?.state).toBe('running')
    expect(task?.inputRequest).toBeUndefined()
  })

  it('keeps what the worker wrote meanwhile (fenced on the resumed state)', async () => {
    let w: ReturnType<typeof world> | undefined
    let id = ''
    w = world(async () => {
      // The worker moved on before the delivery failed.
      await w?.registry.update('s', id, { state: 'succeeded' })
      throw new Error('late failure')
    })
    id = await awaiting(w)
    const out = await w.supervisor.message('s', id, { text: 'main', inReplyTo: 'r1' })
    expect(out.delivery).toEqual({ failed: 'late failure' })
    expect((await w.registry.get('s', id))?.state).toBe('succeeded')
  })

  it('changes nothing for a message that was not an answer', async () => {
    const w = world(async () => {
      throw new Error('nope')
    })
    const id = await awaiting(w)
    const before = await w.registry.get('s', id)
    const count = w.events.length
    const out = await w.supervisor.message('s', id, { text: 'just a note' })
    expect(out.delivery).toEqual({ failed: 'nope' })
    expect(await w.registry.get('s', id)).toEqual(before)
    expect(w.events.slice(count)).toEqual(['task.message.sent'])
  })
})

describe('racing answers', () => {
  it('a second answer that fails does not put back a request the first one answered', async () => {
    let delivered = 0
    const w = world(async () => {
      if (delivered++ > 0) throw new Error('not waiting for input')
    })
    const id = await awaiting(w)
    const [a, b] = await Promise.all([
      w.supervisor.message('s', id, { text: 'main', inReplyTo: 'r1' }),
      w.supervisor.message('s', id, { text: 'dev', inReplyTo: 'r1' }),
    ])
    expect(a.delivery).toBe('delivered')
    expect(b.delivery).toEqual({ failed: 'not waiting for input' })
    const task = await w.registry.get('s', id)
    expect(task?.state).toBe('running')
    expect(task?.inputRequest).toBeUndefined()
  })
})
