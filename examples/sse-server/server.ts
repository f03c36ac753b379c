/**
 * A tiny HTTP server that streams a session's tasks to a browser with
 * Server-Sent Events. `npm run sse-demo`, then open http://localhost:8787/
 * (one session) or http://localhost:8787/inspector (every session).
 *
 *   GET  /                          the live page (index.html)
 *   GET  /sessions/:id/events       text/event-stream; resumes from Last-Event-ID
 *   POST /sessions/:id/tasks        spawns a demo job; ?steps=N&stepMs=M, and
 *                                   optionally &kind=question&question=...&name=...
 *
 * plus the task inspector's routes (inspector-api.ts): /inspector, /events,
 * /sessions/:id/tasks/:taskId/{messages,cancel,answer}.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  sinceFromLastEventId,
  type TaskExecutorPlugin,
  TaskExecutorRegistry,
  type TaskMessage,
  type TaskSupervisor,
  toServerSentEvents,
} from '../../src/index.js'
import { HttpError, handleInspector, sendJsonError } from './inspector-api.js'

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url))

/** A job that advances one step every `stepMs` and then succeeds. */
export function demoJobExecutor(): TaskExecutorPlugin {
  return {
    kind: 'demo_job',
    executor: () => ({
      kind: 'demo_job',
      async start(task, { sink, signal }) {
        const { steps = 5, stepMs = 400 } = (task.spec ?? {}) as { steps?: number; stepMs?: number }
        await sink.state('running', 'working')
        let done = 0
        const timer = setInterval(() => {
          done++
          void sink.progress({ current: done, total: steps, unit: 'steps' })
          if (done >= steps) {
            clearInterval(timer)
            void sink.update({ state: 'succeeded', summary: `${steps} steps done` })
          }
        }, stepMs)
        signal.addEventListener('abort', () => clearInterval(timer), { once: true })
      },
      async cancel(_task, { sink }) {
        await sink.state('canceled', 'stopped from the page')
      },
    }),
  }
}

const textOf = (message: TaskMessage) =>
  message.content
    .map((part) => (part.type === 'text' ? part.text : JSON.stringify(part.data)))
    .join(' ')
    .trim()

/**
 * A job that asks one question (the task goes to `awaiting_input`), and once
 * answered advances `steps` steps, stores the answer as an artifact and
 * succeeds. Messages that do not answer its question are only recorded.
 */
export function demoQuestionExecutor(): TaskExecutorPlugin {
  return {
    kind: 'demo_question',
    executor: () => {
      // Per task: the id of the input request it waits on.
      const asking = new Map<string, string>()
      const keyOf = (task: { sessionId: string; id: string }) =>
        JSON.stringify([task.sessionId, task.id])
      return {
        kind: 'demo_question',
        async start(task, { sink, signal }) {
          const { question = 'Go ahead?' } = (task.spec ?? {}) as { question?: string }
          const key = keyOf(task)
          signal.addEventListener('abort', () => asking.delete(key), { once: true })
          await sink.state('running', 'reading the brief')
          await sink.post({
            content: [{ type: 'text', text: 'I need a decision before I go on.' }],
          })
          const id = `ask-${task.attempt}`
          asking.set(key, id)
          await sink.requestInput({ id, prompt: question })
        },
        async deliver(task, message, { sink, signal }) {
          const key = keyOf(task)
          if (message.inReplyTo === undefined || asking.get(key) !== message.inReplyTo) return
          asking.delete(key)
          const answer = textOf(message)
          const { steps = 3, stepMs = 300 } = (task.spec ?? {}) as {
            steps?: number
            stepMs?: number
          }
          await sink.post({ content: [{ type: 'text', text: `Going with "${answer}".` }] })
          await sink.state('running', `working on "${answer}"`)
          let done = 0
          const timer = setInterval(() => {
            done++
            const last = done >= steps
            if (last) clearInterval(timer)
            void (async () => {
              await sink.progress({ current: done, total: steps, unit: 'steps' })
              if (!last) return
              await sink.artifact({
                name: 'decision.txt',
                type: 'text',
                mediaType: 'text/plain',
                text: answer,
              })
              await sink.update({ state: 'succeeded', summary: `went with "${answer}"` })
            })()
          }, stepMs)
          signal.addEventListener('abort', () => clearInterval(timer), { once: true })
        },
        async cancel(_task, { sink }) {
          await sink.state('canceled', 'stopped from the page')
        },
      }
    },
  }
}

/**
 * Tasks for `npm run sse-demo` to show in the inspector: a long job, a
 * question waiting for an answer, a canceled job, a finished job, and a
 * question answered here (with its messages and an artifact).
 */
export async function spawnDemoTasks(supervisor: TaskSupervisor): Promise<void> {
  await supervisor.spawn({
    sessionId: 'research',
    kind: 'demo_job',
    displayName: 'crawl 120 sources',
    spec: { steps: 120, stepMs: 1000 },
  })
  await supervisor.spawn({
    sessionId: 'research',
    kind: 'demo_question',
    displayName: 'pick a deploy target',
    spec: { question: 'Deploy to staging or to production?', steps: 10, stepMs: 500 },
  })
  const old = await supervisor.spawn({
    sessionId: 'research',
    kind: 'demo_job',
    displayName: 'mirror the old wiki',
    spec: { steps: 50, stepMs: 100 },
  })
  await supervisor.cancel('research', old.id)
  await supervisor.spawn({
    sessionId: 'release',
    kind: 'demo_job',
    displayName: 'build the docs',
    spec: { steps: 4, stepMs: 100 },
  })
  const license = await supervisor.spawn({
    sessionId: 'release',
    kind: 'demo_question',
    displayName: 'choose a license',
    spec: { question: 'Which license should the package use?', steps: 3, stepMs: 100 },
  })
  const { task } = await supervisor.wait('release', license.id, {
    until: 'settled',
    timeoutMs: 5_000,
  })
  if (task.inputRequest !== undefined) {
    await supervisor.message('release', license.id, {
      text: 'MIT',
      inReplyTo: task.inputRequest.id,
    })
  }
}

// A query parameter as an integer in [min, max]; `fallback` when absent.
function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
) {
  const raw = query.get(name)
  if (raw === null) return fallback
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`)
  }
  return value
}

/** What {@link startSseServer} returns. */
export type SseServer = {
  url: string
  registry: InMemorySessionTaskRegistry
  supervisor: TaskSupervisor
  close(): Promise<void>
}

/** Starts the example server on `port` (0 = any free port) on 127.0.0.1. */
export async function startSseServer(port = 0): Promise<SseServer> {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  executors.register(demoJobExecutor())
  executors.register(demoQuestionExecutor())
  const supervisor = createTaskSupervisor({ registry, executors })
  let counter = 0

  async function events(
    req: IncomingMessage,
    res: ServerResponse,
    sessionId: string,
    query: URLSearchParams,
  ) {
    const since = sinceFromLastEventId(
      (req.headers['last-event-id'] as string | undefined) ?? query.get('since'),
    )
    const abort = new AbortController()
    req.on('close', () => abort.abort())
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    const stream = registry.stream(sessionId, { since, signal: abort.signal })
    for await (const frame of toServerSentEvents(stream, { retryMs: 1000 })) res.write(frame)
    res.end()
  }

  async function spawn(res: ServerResponse, sessionId: string, query: URLSearchParams) {
    const kind = query.get('kind') ?? 'job'
    if (kind !== 'job' && kind !== 'question') {
      throw new HttpError(400, "kind must be 'job' or 'question'")
    }
    const steps = intParam(query, 'steps', kind === 'job' ? 5 : 3, 1, 100_000)
    const stepMs = intParam(query, 'stepMs', kind === 'job' ? 400 : 300, 1, 60_000)
    const name = query.get('name')
    if (name !== null && (name.trim() === '' || name.length > 200)) {
      throw new HttpError(400, 'name must be 1-200 characters')
    }
    const question = query.get('question')
    if (question !== null && (question.trim() === '' || question.length > 500)) {
      throw new HttpError(400, 'question must be 1-500 characters')
    }
    counter++
    const task = await supervisor.spawn({
      sessionId,
      kind: kind === 'job' ? 'demo_job' : 'demo_question',
      displayName: name ?? `${kind} #${counter}`,
      wakePolicy: 'on_terminal',
      spec:
        kind === 'job'
          ? { steps, stepMs }
          : { steps, stepMs, question: question ?? `Go ahead with question #${counter}?` },
    })
    res.writeHead(201, { 'content-type': 'application/json' })
    res.end(JSON.stringify(task))
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = /^\/sessions\/([A-Za-z0-9_.-]{1,128})\/(events|tasks)$/.exec(url.pathname)
    const handle = async () => {
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(await readFile(PAGE))
      } else if (req.method === 'GET' && match?.[2] === 'events') {
        await events(req, res, match[1] as string, url.searchParams)
      } else if (req.method === 'POST' && match?.[2] === 'tasks') {
        await spawn(res, match[1] as string, url.searchParams)
      } else if (!(await handleInspector(req, res, url, { registry, supervisor }))) {
        res.writeHead(404).end('not found')
      }
    }
    handle().catch((error: unknown) => sendJsonError(res, error))
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const { port: bound } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${bound}`,
    registry,
    supervisor,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await supervisor.close()
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startSseServer(Number(process.env.PORT ?? 8787))
  await spawnDemoTasks(server.supervisor)
  console.log(`open ${server.url}/  (session 'demo'; press the button to spawn jobs)`)
  console.log(`or ${server.url}/inspector  (every session: cancel tasks, answer questions)`)
}
