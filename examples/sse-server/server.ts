/**
 * A tiny HTTP server that streams a session's tasks to a browser with
 * Server-Sent Events. `npm run sse-demo`, then open http://localhost:8787/.
 *
 *   GET  /                          the live page (index.html)
 *   GET  /sessions/:id/events       text/event-stream; resumes from Last-Event-ID
 *   POST /sessions/:id/tasks        spawns a demo job; ?steps=N&stepMs=M
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
  type TaskSupervisor,
  toServerSentEvents,
} from '../../src/index.js'

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
    counter++
    const task = await supervisor.spawn({
      sessionId,
      kind: 'demo_job',
      displayName: `job #${counter}`,
      wakePolicy: 'on_terminal',
      spec: { steps: Number(query.get('steps') ?? 5), stepMs: Number(query.get('stepMs') ?? 400) },
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
      } else {
        res.writeHead(404).end('not found')
      }
    }
    handle().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    })
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
  console.log(`open ${server.url}/  (session 'demo'; press the button to spawn jobs)`)
}
