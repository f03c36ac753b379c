import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Message, StreamResponse, Task } from '@a2a-js/sdk'
import { type Client, ClientFactory } from '@a2a-js/sdk/client'
import { afterAll, describe, expect, test } from 'vitest'

// The example A2A server (examples/a2a-server) driven over HTTP by the
// SDK's own client: send, stream, resubscribe, cancel, answer an input
// request and fetch the result. With a PostgreSQL server, two server
// processes share one database and each serves what the other started.

const children: ChildProcess[] = []
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
})

async function startServer(env: Record<string, string>): Promise<Client> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/a2a-server/server.ts'], {
    env: { ...process.env, PORT: '0', STEP_MS: '100', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the example server exited with ${code}`)))
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url))
  })
  return new ClientFactory().createFromUrl(url)
}

function userMessage(text: string, taskId = ''): Message {
  return {
    messageId: crypto.randomUUID(),
    role: 1,
    taskId,
    contextId: taskId === '' ? crypto.randomUUID() : '',
    parts: [
      {
        content: { $case: 'text', value: text },
        mediaType: 'text/plain',
        filename: '',
        metadata: {},
      },
    ],
    metadata: {},
    extensions: [],
    referenceTaskIds: [],
  }
}
const send = (text: string, taskId = '', contextId?: string) => {
  const message = userMessage(text, taskId)
  if (contextId !== undefined) message.contextId = contextId
  return { tenant: '', message, configuration: undefined, metadata: {} }
}

// Reads a stream in the background; `until` resolves at the first matching event.
function reader(stream: AsyncGenerator<StreamResponse>) {
  const events: StreamResponse[] = []
  const waiters: { test: (e: StreamResponse) => boolean; resolve: () => void }[] = []
  const done = (async () => {
    for await (const event of stream) {
      events.push(event)
      for (const w of [...waiters]) if (w.test(event)) w.resolve()
    }
  })()
  const until = (test: (e: StreamResponse) => boolean) =>
    events.some(test)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ test, resolve }))
  return { events, done, until }
}
const isArtifact = (e: StreamResponse) => e.payload?.$case === 'artifactUpdate'
const states = (events: StreamResponse[]) =>
  events.flatMap((e) =>
    e.payload?.$case === 'statusUpdate' ? [e.payload.value.status?.state] : [],
  )
const firstTask = (events: StreamResponse[]) => {
  for (const e of events) if (e.payload?.$case === 'task') return e.payload.value
  throw new Error('no task event')
}
const artifactText = (task: Task) =>
  task.artifacts
    .flatMap((a) => a.parts)
    .map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
    .join('')

// One scenario, run with two clients that may be the same server or two.
function scenarios(clients: () => Promise<[Client, Client]>) {
  test('a streamed task is followed by a resubscribe to the end, and its result fetched', async () => {
    const [a, b] = await clients()
    const stream = reader(a.sendMessageStream(send('count 12')))
    await stream.until(isArtifact)
    const id = firstTask(stream.events).id
    const follow = reader(b.resubscribeTask({ tenant: '', id }))
    await Promise.all([stream.done, follow.done])
    expect(states(stream.events).at(-1)).toBe(3)
    expect(states(follow.events).at(-1)).toBe(3)
    const result = await b.getTask({ tenant: '', id })
    expect(result.status?.state).toBe(3)
    expect(artifactText(result)).toBe('1 2 3 4 5 6 7 8 9 10 11 12')
    expect(result.status?.message?.parts[0]?.content).toMatchObject({ value: 'counted to 12' })
  })

  test('a cancel through the other client stops the work', async () => {
    const [a, b] = await clients()
    const stream = reader(a.sendMessageStream(send('hold')))
    await stream.until(isArtifact)
    const id = firstTask(stream.events).id
    const canceled = await b.cancelTask({ tenant: '', id, metadata: {} })
    expect(canceled.status?.state).toBe(5)
    await stream.done
    expect(states(stream.events).at(-1)).toBe(5)
    expect((await a.getTask({ tenant: '', id })).status?.state).toBe(5)
  })

  test('an input request is answered through the other client, and the result fetched', async () => {
    const [a, b] = await clients()
    const asked = (await a.sendMessage(send('ask'))) as Task
    expect(asked.status?.state).toBe(6)
    const follow = reader(a.resubscribeTask({ tenant: '', id: asked.id }))
    await follow.until((e) => e.payload?.$case === 'task')
    const done = (await b.sendMessage(send('green', asked.id, asked.contextId))) as Task
    expect(done.status?.state).toBe(3)
    await follow.done
    expect(states(follow.events).at(-1)).toBe(3)
    const fetched = await a.getTask({ tenant: '', id: asked.id })
    expect(artifactText(fetched)).toBe('you chose green')
    expect(fetched.history.length).toBeGreaterThanOrEqual(2)
  })
}

describe('the A2A example server, one process, tasks in memory', () => {
  let client: Promise<Client> | undefined
  scenarios(async () => {
    client ??= startServer({ DATABASE_URL: '' })
    const c = await client
    return [c, c]
  })
})

const url = process.env.TEST_DATABASE_URL
describe.skipIf(url === undefined || url === '')(
  'the A2A example server, two processes on one PostgreSQL database',
  () => {
    let pair: Promise<[Client, Client]> | undefined
    scenarios(() => {
      const env = {
        DATABASE_URL: url as string,
        TABLE_PREFIX: `a2ax${Math.random().toString(36).slice(2, 8)}_`,
      }
      pair ??= startServer(env).then(async (a) => [a, await startServer(env)])
      return pair
    })
  },
)
