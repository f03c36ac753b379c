import type { Task } from '@a2a-js/sdk'
import { TaskNotCancelableError, TaskNotFoundError } from '@a2a-js/sdk/errors'
import { describe, expect, test } from 'vitest'
import {
  backends,
  ctx,
  isArtifact,
  reader,
  send,
  serve,
  stateOf,
  taskOf,
} from './fixtures/a2a-handlers.js'

// The SDK's DefaultRequestHandler over the bridge in one process: what its
// own suite exercises (blocking and non-blocking sends, streams, history
// length, lists, cancels, agent failures, follow-ups), on every registry.

describe.each(backends)('DefaultRequestHandler over the bridge on $name', ({ pair }) => {
  test('a blocking send returns the finished task with its artifact and history', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const task = (await handler.sendMessage(send('hello'), ctx())) as Task
    expect(task.status?.state).toBe(3)
    expect(task.artifacts[0]?.parts[0]?.content).toMatchObject({ value: 'echo: hello' })
    expect(task.history[0]?.parts[0]?.content).toMatchObject({ value: 'hello' })
  })

  test('a non-blocking send returns at once and the task finishes in the store', async () => {
    const [r] = await pair()
    const { agent, handler } = serve(r)
    const first = (await handler.sendMessage(
      {
        ...send('hold'),
        configuration: {
          returnImmediately: true,
          acceptedOutputModes: [],
          taskPushNotificationConfig: undefined,
        },
      },
      ctx(),
    )) as Task
    expect([1, 2]).toContain(first.status?.state)
    const follow = reader(handler.resubscribe({ tenant: '', id: first.id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    expect(agent.release(first.id)).toBe(true)
    await follow.done
    // The background drain saves what the resubscriber already saw; wait for that write.
    const record = await r.find(first.id)
    await new Promise<void>((resolve) => {
      const check = async () => {
        if ((await r.find(first.id))?.state !== 'succeeded') return
        off()
        resolve()
      }
      const off = r.subscribe(record?.sessionId as string, () => void check())
      void check()
    })
    expect((await handler.getTask({ tenant: '', id: first.id }, ctx())).status?.state).toBe(3)
  })

  test('a stream carries the task, its status changes and its artifact chunks in order', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const stream = reader(handler.sendMessageStream(send('count 3'), ctx()))
    await stream.done
    expect(stream.events[0]?.payload?.$case).toBe('task')
    expect(stream.events.filter(isArtifact)).toHaveLength(3)
    expect(stream.events.map(stateOf).filter((s) => s !== undefined)).toEqual([2, 3])
    const id = taskOf(stream.events)?.id as string
    const stored = await handler.getTask({ tenant: '', id }, ctx())
    const text = stored.artifacts[0]?.parts.map((p) =>
      p.content?.$case === 'text' ? p.content.value : '',
    )
    expect(text?.join('')).toBe('1 2 3')
  })

  test('getTask honours historyLength, and another owner cannot see the task', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const task = (await handler.sendMessage(send('hi'), ctx())) as Task
    const none = await handler.getTask({ tenant: '', id: task.id, historyLength: 0 }, ctx())
    expect(none.history).toEqual([])
    await expect(handler.getTask({ tenant: '', id: task.id }, ctx('bo'))).rejects.toBeInstanceOf(
      TaskNotFoundError,
    )
    const listed = await handler.listTasks({ tenant: '', pageSize: 10 } as never, ctx())
    expect(listed.tasks.map((t) => t.id)).toContain(task.id)
    const others = await handler.listTasks({ tenant: '', pageSize: 10 } as never, ctx('bo'))
    expect(others.tasks.map((t) => t.id)).not.toContain(task.id)
  })

  test('a finished task cannot be canceled, an unknown one is not found', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const task = (await handler.sendMessage(send('hi'), ctx())) as Task
    await expect(
      handler.cancelTask({ tenant: '', id: task.id, metadata: {} }, ctx()),
    ).rejects.toBeInstanceOf(TaskNotCancelableError)
    await expect(
      handler.cancelTask({ tenant: '', id: 'nope', metadata: {} }, ctx()),
    ).rejects.toBeInstanceOf(TaskNotFoundError)
  })

  test('an agent that throws leaves a failed task with the error as its status message', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const stream = reader(handler.sendMessageStream(send('fail'), ctx()))
    await stream.done
    const id = taskOf(stream.events)?.id as string
    const stored = await handler.getTask({ tenant: '', id }, ctx())
    expect(stored.status?.state).toBe(4)
    expect(stored.status?.message?.parts[0]?.content).toMatchObject({
      value: expect.stringContaining('asked to fail'),
    })
  })

  test('a follow-up in the same process answers an input request', async () => {
    const [r] = await pair()
    const { handler } = serve(r)
    const asked = (await handler.sendMessage(send('ask'), ctx())) as Task
    expect(asked.status?.state).toBe(6)
    const done = (await handler.sendMessage(send('red', asked.id), ctx())) as Task
    expect(done.status?.state).toBe(3)
    expect(done.history.length).toBeGreaterThanOrEqual(2)
  })
})
