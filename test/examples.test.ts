import { afterEach, describe, expect, test, vi } from 'vitest'
import { backgroundToolExecutor } from '../examples/executors/background-tool.js'
import { externalAgentExecutor } from '../examples/executors/external-agent.js'
import { monitorExecutor } from '../examples/executors/monitor.js'
import { subagentExecutor } from '../examples/executors/subagent.js'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type SessionTaskEvents,
  type TaskExecutorPlugin,
  TaskExecutorRegistry,
} from '../src/index.js'

function setup(plugin: TaskExecutorPlugin) {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  executors.register(plugin)
  const supervisor = createTaskSupervisor({ registry, executors, cancelGraceMs: 100 })
  const events: { type: string; payload: unknown }[] = []
  registry.subscribe('s', (type, payload) => events.push({ type, payload }))
  return { registry, supervisor, events }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('background tool', () => {
  test('runs a real process, streams its stdout and succeeds on exit code 0', async () => {
    const { supervisor, events } = setup(backgroundToolExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'background_tool',
      displayName: 'echo',
      spec: {
        command: process.execPath,
        args: ['-e', 'console.log("a");console.log("b")'],
        expectedLines: 2,
      },
    })
    const { task: done } = await supervisor.wait('s', task.id, { timeoutMs: 10_000 })
    expect(done.state).toBe('succeeded')
    expect(done.progress).toMatchObject({ current: 2, total: 2, unit: 'lines' })
    const out = events
      .filter((e) => e.type === 'task.output')
      .map((e) => (e.payload as SessionTaskEvents['task.output']).delta)
      .join('')
    expect(out).toBe('a\nb\n')
    await supervisor.close()
  })

  test('fails with exit_code when the process exits non-zero', async () => {
    const { supervisor } = setup(backgroundToolExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'background_tool',
      displayName: 'fail',
      spec: { command: process.execPath, args: ['-e', 'process.exit(3)'] },
    })
    const { task: done } = await supervisor.wait('s', task.id, { timeoutMs: 10_000 })
    expect(done.state).toBe('failed')
    expect(done.error).toEqual({ kind: 'exit_code', message: 'exited with code 3' })
    await supervisor.close()
  })

  test('cancel kills the process and the task ends canceled', async () => {
    const { supervisor } = setup(backgroundToolExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'background_tool',
      displayName: 'sleep',
      spec: { command: process.execPath, args: ['-e', 'setTimeout(() => {}, 60000)'] },
    })
    await supervisor.wait('s', task.id, { timeoutMs: 50 })
    await supervisor.cancel('s', task.id)
    const { task: done } = await supervisor.wait('s', task.id, { timeoutMs: 10_000 })
    expect(done.state).toBe('canceled')
    expect(done.cancelRequestedAt).toBeDefined()
    await supervisor.close()
  })

  test('a spec without a command fails the start', async () => {
    const { supervisor } = setup(backgroundToolExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'background_tool',
      displayName: 'bad',
      spec: {},
    })
    const { task: done } = await supervisor.wait('s', task.id)
    expect(done.error).toEqual({ kind: 'start_failed', message: 'spec.command must be a string' })
  })
})

describe('external agent', () => {
  test('asks for approval and finishes when the session answers yes', async () => {
    vi.useFakeTimers()
    const { supervisor, registry } = setup(externalAgentExecutor({ thinkMs: 10 }))
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'external_agent',
      displayName: 'deploy',
      spec: { action: 'deploy' },
    })
    await vi.advanceTimersByTimeAsync(10)
    const asked = await registry.get('s', task.id)
    expect(asked?.state).toBe('awaiting_input')
    expect(asked?.inputRequest?.prompt).toBe('May I deploy? (yes/no)')
    const { delivery } = await supervisor.message('s', task.id, {
      text: 'yes',
      inReplyTo: asked?.inputRequest?.id ?? '',
    })
    expect(delivery).toBe('delivered')
    await vi.advanceTimersByTimeAsync(10)
    const done = await registry.get('s', task.id)
    expect(done?.state).toBe('succeeded')
    expect(done?.artifacts).toHaveLength(1)
    await supervisor.close()
  })

  test('a "no" fails the task as rejected', async () => {
    vi.useFakeTimers()
    const { supervisor, registry } = setup(externalAgentExecutor({ thinkMs: 10 }))
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'external_agent',
      displayName: 'deploy',
    })
    await vi.advanceTimersByTimeAsync(10)
    const asked = await registry.get('s', task.id)
    await supervisor.message('s', task.id, { text: 'no', inReplyTo: asked?.inputRequest?.id ?? '' })
    const done = await registry.get('s', task.id)
    expect(done?.state).toBe('failed')
    expect(done?.error?.kind).toBe('rejected')
    await supervisor.close()
  })
})

describe('monitor', () => {
  test('posts an outbound message per check until canceled', async () => {
    vi.useFakeTimers()
    const { supervisor, registry } = setup(monitorExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'monitor',
      displayName: 'uptime',
      spec: { target: 'api', intervalMs: 100 },
    })
    await vi.advanceTimersByTimeAsync(350)
    const messages = await registry.listMessages('s', task.id)
    expect(messages.map((m) => m.direction)).toEqual(['outbound', 'outbound', 'outbound'])
    expect((await registry.get('s', task.id))?.state).toBe('running')
    const canceled = await supervisor.cancel('s', task.id)
    expect(canceled?.state).toBe('canceled')
    await vi.advanceTimersByTimeAsync(500)
    expect(await registry.listMessages('s', task.id)).toHaveLength(3)
    await supervisor.close()
  })

  test('succeeds when its schedule is exhausted', async () => {
    vi.useFakeTimers()
    const { supervisor, registry } = setup(monitorExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'monitor',
      displayName: 'uptime',
      spec: { target: 'api', intervalMs: 100, checks: 2 },
    })
    await vi.advanceTimersByTimeAsync(1000)
    const done = await registry.get('s', task.id)
    expect(done?.state).toBe('succeeded')
    expect(await registry.listMessages('s', task.id)).toHaveLength(2)
    await supervisor.close()
  })
})

describe('subagent', () => {
  test('runs its steps as tasks of a child session and mirrors them as progress', async () => {
    vi.useFakeTimers()
    const { supervisor, registry } = setup(subagentExecutor())
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'subagent',
      displayName: 'research',
      spec: { goal: 'find', steps: ['search', 'read'], stepMs: 10 },
    })
    await vi.advanceTimersByTimeAsync(100)
    const done = await registry.get('s', task.id)
    expect(done?.state).toBe('succeeded')
    expect(done?.resultPath).toBe(`/.tasks/${task.id}/result.json`)
    expect(done?.progress?.steps).toEqual([
      { title: 'search', status: 'done' },
      { title: 'read', status: 'done' },
    ])
    const child = done?.links.childSessionId ?? ''
    const children = await registry.list(child)
    expect(children.map((c) => [c.displayName, c.state, c.rootSessionId])).toEqual([
      ['search', 'succeeded', 's'],
      ['read', 'succeeded', 's'],
    ])
    await supervisor.close()
  })
})
