import type { Task } from '@a2a-js/sdk'
import type { AgentExecutor } from '@a2a-js/sdk/server'
import { describe, expect, test } from 'vitest'
import {
  backends,
  ctx,
  deferred,
  publishStatus,
  publishTask,
  reader,
  send,
  serveAgent,
  stateOf,
  taskOf,
} from './fixtures/a2a-handlers.js'

// The wrapped agent's executions, where they race with the registry:
// found by an adversarial review, each pinned here on every registry.

describe.each(backends)('agentExecutor races on $name', ({ pair }) => {
  test('an agent that ends with a terminal task event is not canceled', async () => {
    const [r] = await pair()
    const cancels: string[] = []
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        publishTask(bus, rc, 1)
        publishTask(bus, rc, 3)
      },
      async cancelTask(id) {
        cancels.push(id)
      },
    }
    const { handler } = serveAgent(r, agent)
    const task = (await handler.sendMessage(send('x'), ctx())) as Task
    expect(task.status?.state).toBe(3)
    expect(cancels).toEqual([])
  })

  test('a cancel at auth-required reaches the agent that kept the bus', async () => {
    const [r] = await pair()
    const cancels: string[] = []
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        publishTask(bus, rc, 1)
        publishStatus(bus, rc, 8, 'log in please')
      },
      async cancelTask(id, bus) {
        cancels.push(id)
        bus.publish({
          kind: 'statusUpdate',
          data: {
            taskId: id,
            contextId: 'c1',
            status: { state: 5, message: undefined, timestamp: new Date().toISOString() },
            metadata: {},
          },
        })
      },
    }
    const { handler } = serveAgent(r, agent)
    const task = (await handler.sendMessage(send('x'), ctx())) as Task
    expect(task.status?.state).toBe(8)
    const canceled = await handler.cancelTask({ tenant: '', id: task.id, metadata: {} }, ctx())
    expect(canceled.status?.state).toBe(5)
    expect(cancels).toEqual([task.id])
  })

  test('a follow-up that arrives before the first turn returned still completes', async () => {
    const [r] = await pair()
    const firstMayReturn = deferred()
    const followUpEntered = deferred()
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        if (rc.task === undefined) {
          publishTask(bus, rc, 1)
          publishStatus(bus, rc, 6, 'which colour?')
          await firstMayReturn.promise
          return
        }
        followUpEntered.resolve()
        await firstMayReturn.promise
        await Promise.resolve()
        publishStatus(bus, rc, 2)
        publishStatus(bus, rc, 3, 'done')
      },
      async cancelTask() {},
    }
    const { handler } = serveAgent(r, agent)
    const asked = (await handler.sendMessage(send('ask'), ctx())) as Task
    const answer = handler.sendMessage(send('blue', asked.id), ctx()) as Promise<Task>
    await followUpEntered.promise
    firstMayReturn.resolve()
    expect((await answer).status?.state).toBe(3)
    expect((await handler.getTask({ tenant: '', id: asked.id }, ctx())).status?.state).toBe(3)
  })

  test('a completion in the other process is not taken for a cancel of this turn', async () => {
    const [ra, rb] = await pair()
    const firstMayReturn = deferred()
    const cancels: string[] = []
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        if (rc.task === undefined) {
          publishTask(bus, rc, 1)
          publishStatus(bus, rc, 6, 'which colour?')
          await firstMayReturn.promise
          return
        }
        publishStatus(bus, rc, 2)
        publishStatus(bus, rc, 3, 'done')
      },
      async cancelTask(id) {
        cancels.push(id)
      },
    }
    const a = serveAgent(ra, agent)
    const b = serveAgent(rb, agent)
    const asked = (await a.handler.sendMessage(send('ask'), ctx())) as Task
    const done = (await b.handler.sendMessage(send('blue', asked.id), ctx())) as Task
    expect(done.status?.state).toBe(3)
    firstMayReturn.resolve()
    expect(cancels).toEqual([])
  })

  test("after a cancel elsewhere, this process's stream ends with the stored status", async () => {
    const [ra, rb] = await pair()
    const release = deferred()
    const told = deferred()
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        publishTask(bus, rc, 1)
        publishStatus(bus, rc, 2)
        await release.promise
        publishStatus(bus, rc, 3, 'done anyway')
      },
      async cancelTask() {
        told.resolve()
      },
    }
    const a = serveAgent(ra, agent)
    const b = serveAgent(rb, agent)
    const stream = reader(a.handler.sendMessageStream(send('x'), ctx()))
    await stream.until((e) => stateOf(e) === 2)
    const id = taskOf(stream.events)?.id as string
    expect(
      (await b.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())).status?.state,
    ).toBe(5)
    await told.promise
    release.resolve()
    await stream.done
    expect(
      stream.events
        .map(stateOf)
        .filter((s) => s !== undefined)
        .at(-1),
    ).toBe(5)
    expect((await a.handler.getTask({ tenant: '', id }, ctx())).status?.state).toBe(5)
  })

  test('a resubscriber in the other process gets new parts as appends, not the whole artifact again', async () => {
    const [ra, rb] = await pair()
    const release = deferred()
    const agent: AgentExecutor = {
      async execute(rc, bus) {
        publishTask(bus, rc, 1)
        publishStatus(bus, rc, 2)
        await release.promise
        for (let i = 0; i < 20; i++) {
          bus.publish({
            kind: 'artifactUpdate',
            data: {
              taskId: rc.taskId,
              contextId: rc.contextId,
              artifact: {
                artifactId: 'out',
                name: 'out',
                description: '',
                parts: [
                  {
                    content: { $case: 'text', value: `${i}` },
                    mediaType: '',
                    filename: '',
                    metadata: {},
                  },
                ],
                metadata: {},
                extensions: [],
              },
              append: i > 0,
              lastChunk: false,
              metadata: {},
            },
          })
        }
        publishStatus(bus, rc, 3)
      },
      async cancelTask() {},
    }
    const a = serveAgent(ra, agent)
    const b = serveAgent(rb, agent)
    const stream = reader(a.handler.sendMessageStream(send('x'), ctx()))
    await stream.until((e) => stateOf(e) === 2)
    const id = taskOf(stream.events)?.id as string
    const follow = reader(b.handler.resubscribe({ tenant: '', id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    release.resolve()
    await Promise.all([stream.done, follow.done])
    let parts = 0
    for (const e of follow.events) {
      if (e.payload?.$case === 'artifactUpdate')
        parts += e.payload.value.artifact?.parts.length ?? 0
    }
    // Every part once (a relay may cover several appends at a time), never 20 * 21 / 2.
    expect(parts).toBe(20)
  })
})
