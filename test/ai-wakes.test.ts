import { describe, expect, test } from 'vitest'
import { wakeMessage, wakeSteps } from '../src/bridges/ai/wakes.js'
import { createWakeQueue, InMemorySessionTaskRegistry } from '../src/index.js'

// wakes.ts imports only types from 'ai', so this runs on every Node.

describe('wake messages for the model', () => {
  test("the default message of wakeSteps carries a failed task's error", async () => {
    const registry = new InMemorySessionTaskRegistry()
    const queue = createWakeQueue(registry)
    const task = await registry.create({
      sessionId: 'chat',
      kind: 'k',
      displayName: 'build',
      wakePolicy: 'on_terminal',
      state: 'running',
    })
    await registry.update('chat', task.id, {
      state: 'failed',
      error: { kind: 'compile', message: 'src/a.ts(3,1): missing semicolon' },
    })
    const prepare = wakeSteps({ queue, sessionId: 'chat' })
    const step = { messages: [], steps: [], stepNumber: 0 } as unknown as Parameters<
      typeof prepare
    >[0]
    const result = (await prepare(step)) as { messages: { content: string }[] }
    expect(result.messages.at(-1)?.content).toBe(
      `Background task updates:\n- Task "build" (${task.id}) finished: failed.\n- error: src/a.ts(3,1): missing semicolon`,
    )
    queue.stop()
  })

  test('wakeMessage without a describe lists the wake texts as they are', () => {
    const wake = {
      sessionId: 's',
      taskId: 't',
      transition: 'terminal' as const,
      text: 'Task "x" (t) finished: failed.',
      createdAt: '2026-01-01T00:00:00.000Z',
    }
    expect(wakeMessage([wake])).toEqual({
      role: 'user',
      content: 'Background task updates:\n- Task "x" (t) finished: failed.',
    })
  })
})
