import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateText, jsonSchema, type ModelMessage, stepCountIs, tool } from 'ai'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { fromPgPool, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import { backgroundTools, nextWakes, taskTools, wakeSteps } from '../src/bridges/ai/index.js'
import { createTaskSupervisor, createWakeQueue, TaskExecutorRegistry } from '../src/index.js'
import { scripted } from './fixtures/ai.js'

// session-tasks/ai across processes on one PostgreSQL server: the chat
// process runs the AI SDK loop and queues its background tool calls; a
// worker process (dispatch: 'shared') claims and runs them; the wake of a
// finished deploy reaches the chat's model exactly once, and a cancel from
// the chat stops the worker's tool. Needs TEST_DATABASE_URL and Node.js 22+.
const url = process.env.TEST_DATABASE_URL
const supported = Number(process.versions.node.split('.')[0]) >= 22
const worker = fileURLToPath(new URL('./fixtures/ai-worker.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

if (url === undefined || url === '' || !supported) {
  describe('session-tasks/ai across processes', () => {
    test.skip(`SKIPPED: needs TEST_DATABASE_URL and Node.js 22+ (this is ${process.version})`, () => {})
  })
} else {
  const databaseUrl = url
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })
  const children: ChildProcess[] = []
  const closers: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    for (const close of closers.splice(0)) await close().catch(() => {})
    await pool.end()
  })

  describe('session-tasks/ai across processes', () => {
    test('the worker runs the queued tool calls; the chat is woken once and its cancel stops the tool', async () => {
      const prefix = `aip${Math.random().toString(36).slice(2, 8)}_`
      await migrate(fromPgPool(pool), { prefix })
      const child = spawn(process.execPath, ['--import', 'tsx', worker], {
        cwd: root,
        env: {
          ...process.env,
          AW_DATABASE_URL: databaseUrl,
          AW_PREFIX: prefix,
          AW_DEPLOY_MS: '200',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      children.push(child)
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)))
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', () =>
          resolve(),
        )
      })

      const registry = new PostgresSessionTaskRegistry({ client: fromPgPool(pool), prefix })
      await registry.start()
      // The chat process runs no tools itself: no executors, its calls are queued.
      const supervisor = createTaskSupervisor({
        registry,
        executors: new TaskExecutorRegistry(),
        cancelGraceMs: 2000,
      })
      const queue = createWakeQueue(registry)
      closers.push(async () => {
        await supervisor.close()
        await registry.close()
      })
      const sessionId = 'chat-pg'
      // The tool as the model sees it; its code runs in the worker.
      const deploy = tool({
        description: 'Deploys a service',
        inputSchema: jsonSchema<{ service: string }>({
          type: 'object',
          properties: { service: { type: 'string' } },
          required: ['service'],
        }),
      })
      const tools = {
        ...backgroundTools({ deploy }, { supervisor, sessionId, enqueue: registry }),
        ...taskTools({ supervisor, registry, sessionId }),
      }
      const first = scripted([
        { call: 'deploy', input: { service: 'api' } },
        { call: 'deploy', input: { service: 'slow' } },
        { text: 'Two deploys are queued.' },
      ])
      const r1 = await generateText({
        model: first.model,
        prompt: 'deploy api and slow',
        tools,
        stopWhen: stepCountIs(4),
      })
      const handles = r1.steps.flatMap((s) =>
        s.toolResults.map((t) => t.output as { taskId: string; state: string }),
      )
      expect(handles.map((h) => h.state)).toEqual(['queued', 'queued'])
      const [api, slow] = handles as unknown as [{ taskId: string }, { taskId: string }]

      // The api deploy ends in the worker; its wake reaches this process.
      const wakes = await nextWakes(queue, sessionId, { timeoutMs: 20_000 })
      expect(wakes.map((w) => [w.taskId, w.transition])).toEqual([[api.taskId, 'terminal']])
      const done = await registry.get(sessionId, api.taskId)
      expect(done?.result).toMatchObject({ deployed: 'api', by: child.pid })

      // The runtime took that wake (it resumes its loop on it); the next
      // turn must not be given it again. It cancels the slow deploy.
      const history: ModelMessage[] = [
        ...r1.response.messages,
        { role: 'user', content: 'status?' },
      ]
      const given: string[] = []
      const second = scripted([
        { call: 'task_cancel', input: { taskId: slow.taskId } },
        { text: 'Canceled the slow one.' },
      ])
      const r2 = await generateText({
        model: second.model,
        messages: history,
        tools,
        prepareStep: wakeSteps({
          queue,
          sessionId,
          onMessage: (m) => void given.push(String(m.content)),
        }),
        stopWhen: stepCountIs(3),
      })
      expect(r2.steps[0]?.toolResults[0]?.output).toMatchObject({ taskId: slow.taskId })
      const canceled = await supervisor.wait(sessionId, slow.taskId, {
        until: 'terminal',
        timeoutMs: 20_000,
      })
      expect(canceled.task.state).toBe('canceled')
      // The worker stopped the tool: no result; the later wakes tell of the slow one's end, not the api's again.
      expect(canceled.task.result).toBeUndefined()
      const later = await nextWakes(queue, sessionId, { timeoutMs: 5000 })
      expect([...given, ...later.map((w) => w.text)].join('\n')).not.toContain(api.taskId)
      expect([...given, ...later.map((w) => w.text)].join('\n')).toContain(slow.taskId)
      child.kill('SIGTERM')
    })
  })
}
