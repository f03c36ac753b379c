import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Message, Part, StreamResponse, Task } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'
import { RequestMalformedError } from '@a2a-js/sdk/errors'
import { ServerCallContext } from '@a2a-js/sdk/server'
import { PGlite } from '@electric-sql/pglite'
import type { QueuedMessage } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import type { Request } from '@modelcontextprotocol/sdk/types.js'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import {
  SessionTasksA2AEventBusManager,
  SessionTasksA2ATaskStore,
} from '../src/bridges/a2a/index.js'
import { SessionTasksMcpMessageQueue, SessionTasksMcpTaskStore } from '../src/bridges/mcp/index.js'
import { InMemorySessionTaskRegistry, SessionTaskRegistryCore } from '../src/index.js'
import {
  ctx,
  folded,
  isArtifact,
  reader,
  send,
  serve,
  stateOf,
  taskOf,
  userMessage,
} from './fixtures/a2a-handlers.js'
import { CountingRegistry } from './fixtures/counting-registry.js'
import { LossyStore } from './fixtures/lossy-store.js'

// An adversary's look at the A2A and MCP server-side bridges: gaps in the
// event feed, clocks that disagree, connections killed under streams,
// cancels and queues, a server SIGKILLed mid-stream, hostile SDK-shaped
// input, and what is left behind after many tasks. Six of these attacks
// found bugs, now fixed (each says why above it); the rest held up.

const url = process.env.TEST_DATABASE_URL
const hasPg = url !== undefined && url !== ''

const pglite = new PGlite()
afterAll(async () => {
  await pglite.close()
})
const newPrefix = (tag: string) => `${tag}${Math.random().toString(36).slice(2, 8)}_`

/** Resolves to the promise's value, or 'timeout' after `ms` (a deadline, not a sleep). */
const within = <T>(ms: number, p: Promise<T>): Promise<T | 'timeout'> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve('timeout'), ms)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(t)
        reject(e)
      },
    )
  })

const lastState = (events: StreamResponse[]) =>
  events
    .map(stateOf)
    .filter((s) => s !== undefined)
    .at(-1)

const queued = (n: number): QueuedMessage => ({
  type: 'notification',
  timestamp: n,
  message: { jsonrpc: '2.0', method: 'notifications/progress', params: { n } },
})
const request: Request = { method: 'tools/call', params: { name: 'slow', arguments: {} } }

describe('A2A bus manager across an event gap', () => {
  // A terminal status lost in an event gap must still end a resubscriber's
  // stream: the mirror reads the record again after a gap.
  it('a resubscriber whose task ended inside a gap still ends, with the terminal status', async () => {
    const store = new LossyStore()
    const registry = new SessionTaskRegistryCore(store, { onEventGap: () => {} })
    const a = serve(registry)
    const b = serve(registry)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    const follow = reader(b.handler.resubscribe({ tenant: '', id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    store.losing = true
    a.agent.release(id)
    await stream.done
    store.report('a2a//ana/c1')
    expect(await within(1000, follow.done)).not.toBe('timeout')
    expect(lastState(follow.events)).toBe(3)
  })

  // A cancel made elsewhere whose event was lost in a gap must still stop
  // the agent here: the run reads the record again after a gap.
  it('a cancel made elsewhere whose event fell in a gap still stops the agent here', async () => {
    const store = new LossyStore()
    const registry = new SessionTaskRegistryCore(store, { onEventGap: () => {} })
    const a = serve(registry)
    const b = serve(registry)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    store.losing = true
    const canceled = await b.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())
    expect(canceled.status?.state).toBe(5)
    store.report('a2a//ana/c1')
    const ended = await within(1000, stream.done)
    a.agent.release(id)
    expect(ended).not.toBe('timeout')
    expect(a.agent.cancels).toEqual([id])
  })
})

describe('A2A task store, hostile SDK-shaped input', () => {
  const user = (name: string) =>
    new ServerCallContext({ user: { isAuthenticated: true, userName: name } })
  const text = (value: string): Part => ({
    content: { $case: 'text', value },
    metadata: undefined,
    filename: '',
    mediaType: 'text/plain',
  })
  const message = (id: string, taskId: string): Message => ({
    messageId: id,
    contextId: 'c1',
    taskId,
    role: 1,
    parts: [text('hi')],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  })
  const task = (id: string, extra: Partial<Task> = {}): Task =>
    ({
      id,
      contextId: 'c1',
      status: { state: 2, message: undefined, timestamp: '2026-01-01T00:00:00.000Z' },
      artifacts: [],
      history: [],
      metadata: undefined,
      ...extra,
    }) as Task
  const open = () => {
    const registry = new InMemorySessionTaskRegistry()
    return { registry, store: new SessionTasksA2ATaskStore({ registry }) }
  }

  // A save refused only at its history (a message id another task holds)
  // must not leave the task it created behind.
  it('a save refused for a history message id of another task writes nothing', async () => {
    const { store } = open()
    await store.save(task('t1', { history: [message('m1', 't1')] }), user('ana'))
    await expect(
      store.save(task('t2', { history: [message('m1', 't2')] }), user('ana')),
    ).rejects.toBeInstanceOf(RequestMalformedError)
    expect(await store.load('t2', user('ana'))).toBeUndefined()
  })

  // encodeURIComponent throws a URIError on a lone surrogate; the caller
  // must get the SDK's error instead of an internal one.
  it('a contextId with a lone surrogate is refused with the SDK error', async () => {
    const { store } = open()
    await expect(
      store.save({ ...task('t1'), contextId: 'c\ud800' }, user('ana')),
    ).rejects.toBeInstanceOf(RequestMalformedError)
  })

  it('contexts and owners that look alike once encoded stay apart; __proto__ metadata round-trips as data', async () => {
    const { store } = open()
    await store.save({ ...task('t1'), contextId: 'a/b' }, user('ana'))
    await store.save({ ...task('t2'), contextId: 'a%2Fb' }, user('ana'))
    await store.save({ ...task('t3'), contextId: 'a' }, user('ana'))
    await store.save({ ...task('t4'), contextId: 'b' }, user('ana/a'))
    for (const [contextId, id] of [
      ['a/b', 't1'],
      ['a%2Fb', 't2'],
      ['a', 't3'],
    ] as const) {
      const page = await store.list({ contextId } as never, user('ana'))
      expect(page.tasks.map((t) => [t.id, t.contextId])).toEqual([[id, contextId]])
    }
    expect((await store.list({} as never, user('an'))).tasks).toEqual([])
    expect(await store.load('t4', user('ana'))).toBeUndefined()
    const metadata = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}')
    await store.save(task('t5', { metadata }), user('ana'))
    const loaded = await store.load('t5', user('ana'))
    expect(Object.keys(loaded?.metadata ?? {})).toEqual(['__proto__', 'constructor'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    await expect(store.save(task('a/b'), user('ana'))).rejects.toBeInstanceOf(RequestMalformedError)
  })

  it('a huge part is stored whole or not at all', async () => {
    const { store } = open()
    const big = 'x'.repeat(4 * 1024 * 1024)
    const artifacts = [
      {
        artifactId: 'big',
        name: 'big',
        description: '',
        parts: [text(big)],
        metadata: {},
        extensions: [],
      },
    ]
    await store.save(task('t1', { artifacts } as Partial<Task>), user('ana'))
    const loaded = await store.load('t1', user('ana'))
    const part = loaded?.artifacts[0]?.parts[0]?.content
    expect(part?.$case === 'text' ? part.value.length : 0).toBe(big.length)
  })
})

describe('MCP task store and queue', () => {
  // Message order by timestamp differs between processes whose clocks
  // differ; positions settled by unique message ids do not.
  it('two servers whose clocks differ: every message is taken once', async () => {
    await pglite.waitReady
    const client = fromPGlite(pglite)
    const prefix = newPrefix('advq')
    await migrate(client, { prefix })
    const ahead = new PostgresSessionTaskRegistry({
      client,
      prefix,
      now: () => new Date(Date.now() + 60_000),
    })
    const behind = new PostgresSessionTaskRegistry({ client, prefix })
    const qa = new SessionTasksMcpMessageQueue({ registry: ahead })
    const qb = new SessionTasksMcpMessageQueue({ registry: behind })
    await qa.enqueue('t1', queued(1))
    const first = await qb.dequeue('t1')
    await qb.enqueue('t1', queued(2))
    const second = await qa.dequeue('t1')
    const third = await qa.dequeue('t1')
    expect([first?.timestamp, second?.timestamp, third]).toEqual([1, 2, undefined])
  })

  // A dropped connection must not read as "no such task" to a polling client.
  it('a registry failure while reading a task is an error, not "no such task"', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const store = new SessionTasksMcpTaskStore({ registry })
    const created = await store.createTask({ ttl: null }, 1, request)
    registry.find = async () => {
      throw new Error('Connection terminated unexpectedly')
    }
    await expect(store.getTask(created.taskId)).rejects.toThrow('Connection terminated')
  })

  it('listTasks pages stay right while tasks are deleted and expire between pages', async () => {
    let ms = Date.parse('2030-01-01T00:00:00.000Z')
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(ms) })
    const store = new SessionTasksMcpTaskStore({ registry })
    const ids: string[] = []
    for (let i = 0; i < 25; i++) {
      const ttl = i % 3 === 0 ? 5000 : null
      ids.push((await store.createTask({ ttl }, i, request)).taskId)
      ms += 1
    }
    const p1 = await store.listTasks()
    expect(p1.tasks.map((t) => t.taskId)).toEqual(ids.slice(0, 10))
    const last = ids[9] as string
    await registry.delete('mcp', last)
    ms += 10_000
    const p2 = await store.listTasks(p1.nextCursor)
    const p3 = p2.nextCursor === undefined ? { tasks: [] } : await store.listTasks(p2.nextCursor)
    const rest = [...p2.tasks, ...p3.tasks].map((t) => t.taskId)
    expect(rest).toEqual(ids.slice(10).filter((_, i) => (i + 10) % 3 !== 0))
  })

  it('a result written as the ttl runs out is either stored or refused as not found, never resurrected', async () => {
    let ms = Date.parse('2030-01-01T00:00:00.000Z')
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(ms) })
    const store = new SessionTasksMcpTaskStore({ registry })
    const created = await store.createTask({ ttl: 1000 }, 1, request)
    const find = registry.find.bind(registry)
    // The clock passes the expiry between the store's read and its write.
    registry.find = async (id) => {
      const found = await find(id)
      ms += 5000
      return found
    }
    await expect(
      store.storeTaskResult(created.taskId, 'completed', { content: [] }),
    ).rejects.toThrow('not found')
    registry.find = find
    expect(await store.getTask(created.taskId)).toBeNull()
  })
})

describe('memory over many tasks', () => {
  it('no registry listener, bus or run is left behind after streams, resubscribes, cancels and answers', async () => {
    const registry = new CountingRegistry()
    const a = serve(registry)
    const b = serve(registry)
    for (let i = 0; i < 8; i++) {
      const kind = i % 4
      if (kind === 0) await a.handler.sendMessage(send('hi'), ctx())
      if (kind === 1) {
        const s = reader(a.handler.sendMessageStream(send('hold'), ctx()))
        await s.until(isArtifact)
        const id = taskOf(s.events)?.id as string
        const f = reader(b.handler.resubscribe({ tenant: '', id }, ctx()))
        await f.until((e) => e.payload?.$case === 'task')
        a.agent.release(id)
        await Promise.all([s.done, f.done])
      }
      if (kind === 2) {
        const s = reader(a.handler.sendMessageStream(send('hold'), ctx()))
        await s.until(isArtifact)
        const id = taskOf(s.events)?.id as string
        await b.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())
        await s.done
      }
      if (kind === 3) {
        const asked = (await a.handler.sendMessage(send('ask'), ctx())) as Task
        const f = reader(a.handler.resubscribe({ tenant: '', id: asked.id }, ctx()))
        await f.until((e) => e.payload?.$case === 'task')
        await b.handler.sendMessage(send('blue', asked.id), ctx())
        await f.done
      }
    }
    type Inside = {
      local: Map<unknown, unknown>
      runs: { runs: Map<unknown, unknown>; active: Map<unknown, unknown> }
    }
    const sizes = (buses: unknown) => {
      const x = buses as Inside
      return [x.local.size, x.runs.runs.size, x.runs.active.size]
    }
    const deadline = Date.now() + 5000
    while (registry.live !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    expect(registry.live).toBe(0)
    expect(sizes(a.buses)).toEqual([0, 0, 0])
    expect(sizes(b.buses)).toEqual([0, 0, 0])
  })
})

describe.skipIf(!hasPg)('bridges on PostgreSQL under killed connections and processes', () => {
  const admin = new pg.Pool({ connectionString: url, max: 1 })
  admin.on('error', () => {})
  const pools: pg.Pool[] = []
  const registries: PostgresSessionTaskRegistry[] = []
  const prefixes: string[] = []
  const children: ChildProcess[] = []
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        process.kill(child.pid as number, 'SIGKILL')
        await exited
      }
    }
    for (const r of registries) await r.close().catch(() => {})
    for (const prefix of prefixes) {
      const t = tableNames(prefix)
      await admin
        .query(
          `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
        )
        .catch(() => {})
    }
    await Promise.all(pools.map((p) => p.end()))
    await admin.end()
  })

  const registryOn = async (prefix: string, app: string, migrateFirst = false) => {
    const pool = new pg.Pool({ connectionString: url, max: 4, application_name: app })
    pool.on('error', () => {})
    pools.push(pool)
    const client = fromPgPool(pool, { onError: () => {} })
    if (migrateFirst) await migrate(client, { prefix })
    const registry = new PostgresSessionTaskRegistry({ client, prefix, onError: () => {} })
    await registry.start()
    registries.push(registry)
    return registry
  }
  // Two "processes": registries over one set of tables, each on its own pool.
  const pair = async (tag: string) => {
    const prefix = newPrefix('advpg')
    prefixes.push(prefix)
    const ra = await registryOn(prefix, `adv-${tag}-a`, true)
    const rb = await registryOn(prefix, `adv-${tag}-b`)
    return [ra, rb] as const
  }
  const terminate = async (app: string) => {
    const { rows } = await admin.query(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [app],
    )
    return (rows[0] as { n: number }).n
  }

  it("a resubscriber whose connections are killed follows the other process's task to its end, each part once", async () => {
    const [ra, rb] = await pair('r')
    const a = serve(ra)
    const b = serve(rb)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    const follow = reader(b.handler.resubscribe({ tenant: '', id }, ctx()))
    await follow.until((e) => e.payload?.$case === 'task')
    expect(await terminate('adv-r-b')).toBeGreaterThan(0)
    a.agent.release(id)
    await stream.done
    expect(await within(15_000, follow.done)).not.toBe('timeout')
    expect(lastState(follow.events)).toBe(3)
    expect(folded(follow.events)).toEqual(['first part', ', second part'])
  })

  it("a cancel sent to B while A's connections are killed still stops A's agent", async () => {
    const [ra, rb] = await pair('c')
    const a = serve(ra)
    const b = serve(rb)
    const stream = reader(a.handler.sendMessageStream(send('hold'), ctx()))
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    expect(await terminate('adv-c-a')).toBeGreaterThan(0)
    const canceled = await b.handler.cancelTask({ tenant: '', id, metadata: {} }, ctx())
    expect(canceled.status?.state).toBe(5)
    const ended = await within(15_000, stream.done)
    a.agent.release(id)
    expect(ended).not.toBe('timeout')
    expect(a.agent.cancels).toEqual([id])
    expect(lastState(stream.events)).toBe(5)
  })

  it('two processes dequeuing under killed connections never take a message twice', async () => {
    const [ra, rb] = await pair('q')
    const qs = [ra, rb].map((registry) => new SessionTasksMcpMessageQueue({ registry }))
    const total = 40
    for (let i = 0; i < total; i++)
      await (qs[i % 2] as SessionTasksMcpMessageQueue).enqueue('t1', queued(i))
    const got: number[] = []
    let failures = 0
    const consume = async (q: SessionTasksMcpMessageQueue) => {
      for (let empty = 0; empty < 3; ) {
        try {
          const m = await q.dequeue('t1')
          if (m === undefined) empty++
          else got.push(m.timestamp as number)
        } catch {
          failures++
        }
      }
    }
    const consumers = qs.map(consume)
    for (let k = 0; k < 3; k++) {
      await terminate(k % 2 === 0 ? 'adv-q-a' : 'adv-q-b')
    }
    await Promise.all(consumers)
    // At most once: a dequeue cut off after its commit may lose its
    // message, but none is ever taken twice.
    expect(new Set(got).size).toBe(got.length)
    if (failures === 0) expect(got.length).toBe(total)
  })

  it('a server SIGKILLed mid-stream: a resubscriber in the other process ends within followIdleMs', async () => {
    const prefix = newPrefix('advk')
    prefixes.push(prefix)
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/a2a-server/server.ts'], {
      env: { ...process.env, PORT: '0', STEP_MS: '50', DATABASE_URL: url, TABLE_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const base = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the example server exited with ${code}`)))
      lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url))
    })
    const client = await new ClientFactory().createFromUrl(base)
    const message = userMessage('hold', '', crypto.randomUUID())
    const stream = reader(client.sendMessageStream({ ...send('hold'), message }))
    // The stream breaks when its server dies: handled from the start.
    const broken = stream.done.then(
      () => 'ended',
      () => 'broken',
    )
    await stream.until(isArtifact)
    const id = taskOf(stream.events)?.id as string
    // The other process, in this one, follows the task from the registry.
    const registry = await registryOn(prefix, 'adv-k-b')
    const buses = new SessionTasksA2AEventBusManager({ registry, followIdleMs: 1500 })
    const store = new SessionTasksA2ATaskStore({ registry })
    const { DefaultRequestHandler } = await import('@a2a-js/sdk/server')
    const { SampleAgent, sampleCard } = await import('../examples/a2a-server/agent.js')
    const handler = new DefaultRequestHandler(
      sampleCard('http://127.0.0.1/'),
      store,
      buses.agentExecutor(new SampleAgent()),
      buses,
    )
    const anon = new ServerCallContext()
    const follow = reader(handler.resubscribe({ tenant: '', id }, anon))
    await follow.until((e) => e.payload?.$case === 'task')
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(child.pid as number, 'SIGKILL')
    await exited
    await broken
    // Documented: the task stays working; the follower ends at the idle bound, not never.
    expect(await within(10_000, follow.done)).not.toBe('timeout')
    expect((await store.load(id, anon))?.status?.state).toBe(2)
    // And a cancel from this process of the orphan ends it here.
    const canceled = await handler.cancelTask({ tenant: '', id, metadata: {} }, anon)
    expect(canceled.status?.state).toBe(5)
  })
})
