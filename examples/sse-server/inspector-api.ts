/**
 * The task inspector's side of the example server: its page and assets, one
 * Server-Sent Events stream of every session, a task's messages as JSON, and
 * the two actions (cancel, answer an input request).
 *
 *   GET  /inspector                                 the page (inspector.html, .css and two
 *                                                   scripts: inspector.js, inspector-render.js)
 *   GET  /events                                    text/event-stream of every session
 *   GET  /sessions/:id/tasks/:taskId/messages       { messages }
 *   POST /sessions/:id/tasks/:taskId/cancel         supervisor.cancel → { task }
 *   POST /sessions/:id/tasks/:taskId/answer         { inputRequestId, text } → supervisor.message
 *
 * Ids in paths are URL-encoded (any session id the registry accepts). Errors
 * are JSON `{ error }`: 400 for a bad request, 403 for a cross-origin POST,
 * 404 for an unknown task, 405 for a wrong method, 409 when the task is not
 * in a state to do it.
 */
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import {
  isSessionTaskError,
  isTaskNotFoundError,
  isTerminalState,
  isValidationError,
  type SessionTaskRegistry,
  type TaskSupervisor,
  toPublicTask,
} from '../../src/index.js'

const ASSETS: Record<string, { file: string; type: string }> = {
  '/inspector': { file: 'inspector.html', type: 'text/html; charset=utf-8' },
  '/inspector.js': { file: 'inspector.js', type: 'text/javascript; charset=utf-8' },
  '/inspector-render.js': { file: 'inspector-render.js', type: 'text/javascript; charset=utf-8' },
  '/inspector.css': { file: 'inspector.css', type: 'text/css; charset=utf-8' },
}

// No inline script or style runs on the page: even markup that slipped into
// the DOM could not execute anything.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const TASK_ROUTE = /^\/sessions\/([^/]+)\/tasks\/([^/]+)\/(messages|cancel|answer)$/
const MAX_BODY_BYTES = 16_384
const MAX_ANSWER_CHARS = 4_000
const MAX_MESSAGES = 500

/** An error with the HTTP status and the message the client gets as `{ error }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(JSON.stringify(body))
}

/** Sends `error` as JSON `{ error }` with the status it stands for (500 for a surprise). */
export function sendJsonError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.end()
    return
  }
  if (error instanceof HttpError) {
    sendJson(res, error.status, { error: error.message }, error.headers)
  } else if (isValidationError(error)) {
    sendJson(res, 400, { error: error.message })
  } else if (isTaskNotFoundError(error)) {
    sendJson(res, 404, { error: error.message })
  } else if (isSessionTaskError(error)) {
    sendJson(res, 409, { error: error.message })
  } else {
    sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) })
  }
}

const short = (value: string) => (value.length > 40 ? `${value.slice(0, 40)}…` : value)

// A path segment decoded into an id the registry accepts (1-256 characters,
// no control characters); anything else is a 400.
function idFrom(segment: string, what: string): string {
  let id: string
  try {
    id = decodeURIComponent(segment)
  } catch {
    throw new HttpError(400, `${what} in the path is not valid URL encoding`)
  }
  if (id.length === 0 || id.length > 256 || /[\u0000-\u001f\u007f-\u009f]/.test(id)) {
    throw new HttpError(400, `${what} must be 1-256 characters without control characters`)
  }
  return id
}

// A browser POSTs with an Origin header: only this server's own page may
// act (another site could otherwise cancel tasks with a form). Clients
// without Origin (curl, fetch in Node) are let through.
function checkOrigin(req: IncomingMessage) {
  const origin = req.headers.origin
  if (origin === undefined) return
  if (origin !== `http://${req.headers.host}`) {
    throw new HttpError(403, `cross-origin request from ${short(origin)} refused`)
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    req.resume()
    throw new HttpError(400, 'the body must be JSON (content-type: application/json)')
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) {
      req.resume()
      throw new HttpError(400, `the body is larger than ${MAX_BODY_BYTES} bytes`, {
        connection: 'close',
      })
    }
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new HttpError(400, 'the body is empty; expected a JSON object')
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`)
  }
}

/** The body of an answer: the id of the input request it answers, and the answer. */
export type AnswerBody = { inputRequestId: string; text: string }

/** Checks an answer body; throws a 400 `HttpError` that says what is wrong. */
export function parseAnswer(body: unknown): AnswerBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      'the body must be a JSON object { "inputRequestId": ..., "text": ... }',
    )
  }
  for (const key of Object.keys(body)) {
    if (key !== 'inputRequestId' && key !== 'text') {
      throw new HttpError(400, `unknown field '${short(key)}' (expected inputRequestId and text)`)
    }
  }
  const { inputRequestId, text } = body as Record<string, unknown>
  if (typeof inputRequestId !== 'string' || inputRequestId === '') {
    throw new HttpError(
      400,
      'inputRequestId must be a non-empty string: the id of the input request being answered',
    )
  }
  if (typeof text !== 'string' || text.trim() === '') {
    throw new HttpError(400, 'text must be a non-empty string')
  }
  if (text.length > MAX_ANSWER_CHARS) {
    throw new HttpError(400, `text must be at most ${MAX_ANSWER_CHARS} characters`)
  }
  return { inputRequestId, text }
}

async function taskOr404(registry: SessionTaskRegistry, sessionId: string, taskId: string) {
  const task = await registry.get(sessionId, taskId)
  if (task === undefined) {
    throw new HttpError(404, `no task '${short(taskId)}' in session '${short(sessionId)}'`)
  }
  return task
}

// Every session id the registry holds tasks of, a page at a time.
async function sessionIdsOf(registry: SessionTaskRegistry): Promise<string[]> {
  const ids = new Set<string>()
  let cursor: string | undefined
  do {
    const page = await registry.query(
      cursor === undefined ? { limit: 1000 } : { limit: 1000, cursor },
    )
    for (const task of page.tasks) ids.add(task.sessionId)
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return [...ids]
}

/**
 * One `text/event-stream` of every session: first `sessions` (the ids known
 * when it starts), then for each session its `registry.stream()` items, each
 * as `event: <type>` with `data: { sessionId, seq, payload }`. A session that
 * appears later (heard through `subscribeAll`) gets its own stream, starting
 * with its snapshot. The seqs are per session, so the frames carry no `id:`:
 * a reconnecting page gets fresh snapshots and replaces what it shows. A
 * slow reader holds the streams back (writes wait for `drain`); one that
 * falls too far behind overflows a stream, and the response ends so that the
 * page reconnects.
 */
async function streamAllSessions(registry: SessionTaskRegistry, res: ServerResponse) {
  const abort = new AbortController()
  const { signal } = abort
  res.on('close', () => abort.abort())
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  })
  const write = async (frame: string) => {
    if (signal.aborted) return
    if (!res.write(frame)) await once(res, 'drain', { signal }).catch(() => {})
  }
  const send = (type: string, data: unknown) =>
    write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)

  const followed = new Set<string>()
  const pumps: Promise<void>[] = []
  const follow = (sessionId: string) => {
    if (followed.has(sessionId) || signal.aborted) return
    followed.add(sessionId)
    pumps.push(
      (async () => {
        try {
          for await (const item of registry.stream(sessionId, { signal })) {
            await send(item.type, { sessionId, seq: item.seq, payload: item.payload })
          }
        } catch {
          // Overflow or a failed read: end the response; the page reconnects.
        }
        abort.abort()
      })(),
    )
  }
  // Listen first, so that no session created while the ids are read is missed;
  // the ones heard meanwhile are followed with the others, after `sessions`.
  let early: Set<string> | undefined = new Set()
  const unsubscribe = registry.subscribeAll((sessionId) => {
    if (early === undefined) follow(sessionId)
    else early.add(sessionId)
  })
  const keepAlive = setInterval(() => void write(': keep-alive\n\n'), 15_000)
  try {
    await write('retry: 1000\n\n')
    const ids = new Set([...(await sessionIdsOf(registry)), ...early])
    early = undefined
    await send('sessions', { sessionIds: [...ids] })
    for (const id of ids) follow(id)
    if (!signal.aborted) await once(signal, 'abort')
  } finally {
    clearInterval(keepAlive)
    unsubscribe()
    abort.abort()
    await Promise.allSettled(pumps)
    res.end()
  }
}

/**
 * Serves the inspector's routes; false when `url` is none of them (the
 * caller goes on with its own routes). Throws what {@link sendJsonError} sends.
 */
export async function handleInspector(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  { registry, supervisor }: { registry: SessionTaskRegistry; supervisor: TaskSupervisor },
): Promise<boolean> {
  const asset = ASSETS[url.pathname]
  if (asset !== undefined && req.method === 'GET') {
    const body = await readFile(fileURLToPath(new URL(`./${asset.file}`, import.meta.url)))
    res.writeHead(200, {
      'content-type': asset.type,
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    })
    res.end(body)
    return true
  }
  if (url.pathname === '/events' && req.method === 'GET') {
    await streamAllSessions(registry, res)
    return true
  }
  const match = TASK_ROUTE.exec(url.pathname)
  if (match === null) return false
  const action = match[3] as 'messages' | 'cancel' | 'answer'
  const method = action === 'messages' ? 'GET' : 'POST'
  if (req.method !== method) {
    throw new HttpError(405, `use ${method} for /${action}`, { allow: method })
  }
  const sessionId = idFrom(match[1] as string, 'the session id')
  const taskId = idFrom(match[2] as string, 'the task id')

  if (action === 'messages') {
    await taskOr404(registry, sessionId, taskId)
    const messages = await registry.listMessages(sessionId, taskId, { limit: MAX_MESSAGES })
    sendJson(res, 200, { messages })
    return true
  }

  checkOrigin(req)
  if (action === 'cancel') {
    req.resume()
    const before = await taskOr404(registry, sessionId, taskId)
    if (isTerminalState(before.state)) {
      throw new HttpError(409, `the task is already ${before.state}`)
    }
    const after = await supervisor.cancel(sessionId, taskId)
    if (after === undefined) throw new HttpError(404, `task '${short(taskId)}' is gone`)
    sendJson(res, 200, { task: toPublicTask(after) })
    return true
  }

  // The answer to the task's pending input request: supervisor.message with
  // inReplyTo set to the request's id records it, moves the task back to
  // running and hands it to the executor.
  const answer = parseAnswer(await readJson(req))
  const task = await taskOr404(registry, sessionId, taskId)
  if (task.state !== 'awaiting_input' || task.inputRequest === undefined) {
    throw new HttpError(409, `the task is ${task.state}, not awaiting input`)
  }
  if (task.inputRequest.id !== answer.inputRequestId) {
    throw new HttpError(
      409,
      `the task now waits for input request '${short(task.inputRequest.id)}', not '${short(answer.inputRequestId)}'`,
    )
  }
  const { message, delivery } = await supervisor.message(sessionId, taskId, {
    text: answer.text,
    inReplyTo: answer.inputRequestId,
  })
  if (delivery !== 'delivered') {
    throw new HttpError(409, `the answer was recorded but not delivered: ${delivery.failed}`)
  }
  const after = await registry.get(sessionId, taskId)
  sendJson(res, 200, { message, task: after === undefined ? undefined : toPublicTask(after) })
  return true
}
