import { afterEach, describe, expect, test } from 'vitest'
import { type SseServer, startSseServer } from '../examples/sse-server/server.js'
import {
  InMemorySessionTaskRegistry,
  type StreamItem,
  serverSentEventFrame,
  sinceFromLastEventId,
  toServerSentEvents,
} from '../src/index.js'

type Frame = { id?: string; event?: string; data?: string; retry?: string }

function parseFrames(text: string): Frame[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const frame: Frame = {}
      for (const line of block.split('\n')) {
        const at = line.indexOf(': ')
        frame[line.slice(0, at) as keyof Frame] = line.slice(at + 2)
      }
      return frame
    })
}

// Reads an SSE response until `enough` says so, then aborts the request.
async function readFrames(
  url: string,
  headers: Record<string, string>,
  enough: (frames: Frame[]) => boolean,
) {
  const abort = new AbortController()
  const response = await fetch(url, { headers, signal: abort.signal })
  expect(response.headers.get('content-type')).toContain('text/event-stream')
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!enough(parseFrames(text))) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  abort.abort()
  return parseFrames(text)
}

describe('server-sent events', () => {
  test('a frame carries the seq as id, the type as event and the payload as one JSON line', () => {
    const item: StreamItem = {
      seq: 7,
      type: 'task.output',
      payload: { taskId: 't', stream: 'stdout', delta: 'two\nlines' },
    }
    expect(serverSentEventFrame(item)).toBe(
      'id: 7\nevent: task.output\ndata: {"taskId":"t","stream":"stdout","delta":"two\\nlines"}\n\n',
    )
  })

  test('toServerSentEvents sends retry first, then one frame per stream item', async () => {
    const registry = new InMemorySessionTaskRegistry()
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    const abort = new AbortController()
    const frames: string[] = []
    for await (const frame of toServerSentEvents(registry.stream('s', { signal: abort.signal }), {
      retryMs: 1500,
    })) {
      frames.push(frame)
      if (frames.length === 2) abort.abort()
    }
    expect(frames[0]).toBe('retry: 1500\n\n')
    expect(parseFrames(frames[1] ?? '')[0]).toMatchObject({ id: '1', event: 'snapshot' })
  })

  test('Last-Event-ID parsing accepts sequence numbers only', () => {
    expect(sinceFromLastEventId('42')).toBe(42)
    expect(sinceFromLastEventId(' 0 ')).toBe(0)
    expect(sinceFromLastEventId('-1')).toBeUndefined()
    expect(sinceFromLastEventId('abc')).toBeUndefined()
    expect(sinceFromLastEventId(null)).toBeUndefined()
    expect(sinceFromLastEventId(undefined)).toBeUndefined()
  })
})

describe('example SSE server', () => {
  let server: SseServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  test('streams a snapshot then live changes, and resumes from Last-Event-ID without a snapshot', async () => {
    server = await startSseServer()
    // Steps long enough that the task is still running when the stream
    // connects, also on a loaded machine: a task finished before it would
    // show in the snapshot, and no live change would come.
    const spawned = await fetch(`${server.url}/sessions/demo/tasks?steps=2&stepMs=400`, {
      method: 'POST',
    })
    expect(spawned.status).toBe(201)
    const task = (await spawned.json()) as { id: string }
    const frames = await readFrames(`${server.url}/sessions/demo/events`, {}, (f) =>
      f.some((x) => x.event === 'task.updated' && x.data?.includes('"succeeded"')),
    )
    expect(frames[0]).toEqual({ retry: '1000' })
    expect(frames[1]?.event).toBe('snapshot')
    expect(JSON.parse(frames[1]?.data ?? '{}').tasks[0].id).toBe(task.id)
    const ids = frames.slice(2).map((f) => Number(f.id))
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe((ids[i - 1] ?? 0) + 1)

    // Reconnect as an EventSource would, after the snapshot's seq.
    const resumed = await readFrames(
      `${server.url}/sessions/demo/events`,
      { 'last-event-id': frames[1]?.id ?? '0' },
      (f) => f.some((x) => x.event === 'task.wake'),
    )
    expect(resumed.some((f) => f.event === 'snapshot')).toBe(false)
    expect(Number(resumed[1]?.id)).toBe(Number(frames[1]?.id) + 1)
  })

  test('serves the page and 404s anything else', async () => {
    server = await startSseServer()
    const page = await fetch(`${server.url}/`)
    expect(await page.text()).toContain('new EventSource')
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
  })
})
