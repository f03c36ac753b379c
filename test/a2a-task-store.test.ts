import type { Message, Part, Task } from '@a2a-js/sdk'
import { A2AError } from '@a2a-js/sdk/errors'
import { InMemoryTaskStore as SdkStore, ServerCallContext } from '@a2a-js/sdk/server'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
} from '../src/backends/postgres/index.js'
import { SessionTasksA2ATaskStore } from '../src/bridges/a2a/index.js'
import { InMemorySessionTaskRegistry } from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'
import { sqliteFiles } from './fixtures/sqlite.js'

// The A2A TaskStore over three registries: what the SDK's request handler
// does with a store (save after each event, load, list), checked against
// the SDK's own in-memory store where their behaviour must agree.

const user = (name: string) => ({ isAuthenticated: true, userName: name })
const ctx = (name = 'ana', tenant?: string) =>
  new ServerCallContext({ user: user(name), ...(tenant === undefined ? {} : { tenant }) })

const text = (value: string): Part => ({
  content: { $case: 'text', value },
  metadata: undefined,
  filename: '',
  mediaType: 'text/plain',
})

function message(id: string, role: 1 | 2, body: string, taskId = 't1'): Message {
  return {
    messageId: id,
    contextId: 'c1',
    taskId,
    role,
    parts: [text(body)],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  }
}

function task(id: string, state: number, at: string, extra: Partial<Task> = {}): Task {
  return {
    id,
    contextId: 'c1',
    status: { state, message: undefined, timestamp: at },
    artifacts: [],
    history: [],
    metadata: undefined,
    ...extra,
  } as Task
}

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString()

// `make(prefix)` opens a registry; PostgreSQL ones on the same prefix share tables, like processes.
type Backend = {
  name: string
  durable: boolean
  make: (prefix?: string) => Promise<SessionTaskRegistry>
  close: () => Promise<void>
}
const newPrefix = () => `a2a${Math.random().toString(36).slice(2, 8)}_`

const pglite = new PGlite()
const backends: Backend[] = [
  {
    name: 'in memory',
    durable: false,
    make: async () => new InMemorySessionTaskRegistry(),
    close: async () => {},
  },
  {
    name: 'PGlite',
    durable: true,
    make: async (prefix = newPrefix()) => {
      await pglite.waitReady
      const client = fromPGlite(pglite)
      await migrate(client, { prefix })
      return new PostgresSessionTaskRegistry({ client, prefix })
    },
    close: () => pglite.close(),
  },
]
const sqlite = sqliteFiles('a2a')
backends.push({
  name: sqlite.name,
  durable: true,
  make: (prefix) => sqlite.make(prefix),
  close: () => sqlite.close(),
})
const url = process.env.TEST_DATABASE_URL
const pools: pg.Pool[] = []
if (url !== undefined && url !== '') {
  backends.push({
    name: 'PostgreSQL',
    durable: true,
    make: async (prefix = newPrefix()) => {
      const pool = new pg.Pool({ connectionString: url, max: 3 })
      // Other suites on the server terminate backends; an idle client's error is not ours.
      pool.on('error', () => {})
      pools.push(pool)
      const client = fromPgPool(pool)
      await migrate(client, { prefix })
      return new PostgresSessionTaskRegistry({ client, prefix })
    },
    close: async () => {
      await Promise.all(pools.map((p) => p.end()))
    },
  })
}
afterAll(async () => {
  for (const b of backends) await b.close()
})

describe.each(backends)('SessionTasksA2ATaskStore on $name', (backend) => {
  const store = async () => new SessionTasksA2ATaskStore({ registry: await backend.make() })

  test('a save onto a finished task keeps its first terminal status', async () => {
    const s = await store()
    const first = message('m-cancel', 2, 'canceled by a user', 't1')
    await s.save(task('t1', 2, T(1)), ctx())
    await s.save(
      task('t1', 5, T(2), { status: { state: 5, message: first, timestamp: T(2) } }),
      ctx(),
    )
    // The agent's late events: another canceled status, then a working one.
    const late = message('m-late', 2, 'stopping', 't1')
    await s.save(
      task('t1', 5, T(3), { status: { state: 5, message: late, timestamp: T(3) } }),
      ctx(),
    )
    await s.save(task('t1', 2, T(4)), ctx())
    const loaded = await s.load('t1', ctx())
    expect(loaded?.status).toEqual({ state: 5, message: first, timestamp: T(2) })
    // failed and rejected share a registry state: the first one still stands.
    await s.save(task('t2', 4, T(1)), ctx())
    await s.save(task('t2', 7, T(2)), ctx())
    expect((await s.load('t2', ctx()))?.status?.state).toBe(4)
  })

  test('a saved task loads back equal, every part kind and field included', async () => {
    const s = await store()
    const raw: Part = {
      content: { $case: 'raw', value: Buffer.from([0, 1, 2, 255]) },
      metadata: { k: 1 },
      filename: 'blob.bin',
      mediaType: 'application/octet-stream',
    }
    const data: Part = {
      content: { $case: 'data', value: { rows: [1, 2], nested: { ok: true } } },
      metadata: undefined,
      filename: '',
      mediaType: 'application/json',
    }
    const link: Part = {
      content: { $case: 'url', value: 'https://x.test/f' },
      metadata: undefined,
      filename: 'f',
      mediaType: '',
    }
    const full = task('t1', 2, T(1), {
      status: { state: 2, message: message('m-status', 2, 'working on it'), timestamp: T(1) },
      history: [message('m-1', 1, 'please review'), message('m-2', 2, 'on it')],
      artifacts: [
        {
          artifactId: 'a-1',
          name: 'report',
          description: 'the report',
          parts: [text('line 1'), raw, data, link],
          metadata: { version: 2 },
          extensions: ['ext://x'],
        },
      ],
      metadata: { origin: 'test', deep: { list: [null, 'x'] } },
    } as Partial<Task>)
    await s.save(full, ctx())
    expect(await s.load('t1', ctx())).toStrictEqual(full)
  })

  test('saving again overwrites status, artifacts and metadata and appends new history', async () => {
    const s = await store()
    await s.save(task('t1', 1, T(1), { history: [message('m-1', 1, 'go')] }), ctx())
    const next = task('t1', 3, T(5), {
      history: [message('m-1', 1, 'go'), message('m-2', 2, 'done')],
      artifacts: [
        {
          artifactId: 'a',
          name: '',
          description: '',
          parts: [text('x')],
          metadata: undefined,
          extensions: [],
        },
      ],
      metadata: { n: 1 },
      status: { state: 3, message: message('m-final', 2, 'all done'), timestamp: T(5) },
    } as Partial<Task>)
    await s.save(next, ctx())
    expect(await s.load('t1', ctx())).toStrictEqual(next)
  })

  test('the waiting and refusing states round trip: input-required, auth-required, rejected, canceled', async () => {
    const s = await store()
    for (const [i, state] of [6, 8, 2, 6, 7].entries()) {
      await s.save(task('t1', state, T(i + 1)), ctx())
      expect((await s.load('t1', ctx()))?.status?.state).toBe(state)
    }
    await s.save(task('t2', 5, T(9)), ctx())
    expect((await s.load('t2', ctx()))?.status?.state).toBe(5)
  })

  test('tasks are scoped to their owner and tenant', async () => {
    const s = await store()
    await s.save(task('t1', 2, T(1)), ctx('ana'))
    expect(await s.load('t1', ctx('bob'))).toBeUndefined()
    expect(await s.load('t1', ctx('ana', 'acme'))).toBeUndefined()
    expect((await s.list({} as never, ctx('bob'))).tasks).toEqual([])
    // Another owner cannot overwrite it.
    await expect(s.save(task('t1', 3, T(2)), ctx('bob'))).rejects.toBeInstanceOf(A2AError)
    expect((await s.load('t1', ctx('ana')))?.status?.state).toBe(2)
  })

  test('values the registry cannot hold are refused with the SDK error, and nothing is written', async () => {
    const s = await store()
    await expect(s.save(task('has space', 2, T(1)), ctx())).rejects.toThrow(/id: 'has space'/)
    await expect(s.save(task('t0', 0, T(1)), ctx())).rejects.toBeInstanceOf(A2AError)
    await expect(s.save(task('t9', 2, 'yesterday'), ctx())).rejects.toBeInstanceOf(A2AError)
    expect((await s.list({} as never, ctx())).totalSize).toBe(0)
  })

  test('list filters, sorts and pages like the SDK in-memory store', async () => {
    const ours = await store()
    const sdk = new SdkStore()
    const tasks = [
      task('a', 2, T(3)),
      task('b', 3, T(1)),
      task('c', 2, T(5), { contextId: 'c2' } as Partial<Task>),
      task('d', 6, T(4)),
      task('e', 2, T(3)),
      task('f', 3, T(2), {
        artifacts: [
          {
            artifactId: 'x',
            name: 'n',
            description: '',
            parts: [text('t')],
            metadata: undefined,
            extensions: [],
          },
        ],
      } as Partial<Task>),
    ]
    for (const t of tasks) {
      await ours.save(t, ctx())
      await sdk.save(t, ctx())
    }
    const requests = [
      {},
      { contextId: 'c1' },
      { status: 2 },
      { statusTimestampAfter: T(2) },
      { pageSize: 2 },
      { includeArtifacts: true },
      { contextId: 'c2', status: 2 },
    ]
    for (const request of requests) {
      const a = await ours.list(request as never, ctx())
      const b = await sdk.list(request as never, ctx())
      expect(a.tasks.map((t) => t.id)).toEqual(b.tasks.map((t) => t.id))
      expect(a.tasks).toStrictEqual(b.tasks)
      expect(a.totalSize).toBe(b.totalSize)
      expect(a.nextPageToken !== '').toBe(b.nextPageToken !== '')
    }
    // Walk every page.
    const seen: string[] = []
    let pageToken = ''
    for (let i = 0; i < 10; i++) {
      const page = await ours.list({ pageSize: 2, pageToken } as never, ctx())
      seen.push(...page.tasks.map((t) => t.id))
      pageToken = page.nextPageToken
      if (pageToken === '') break
    }
    expect(seen).toEqual((await sdk.list({ pageSize: 50 } as never, ctx())).tasks.map((t) => t.id))
  })

  test('a fresh store (a fresh registry on durable backends) loads, lists and updates what another saved', async () => {
    const prefix = newPrefix()
    const registry = await backend.make(prefix)
    const first = new SessionTasksA2ATaskStore({ registry })
    const saved = task('t1', 2, T(1), { history: [message('m-1', 1, 'hi')] } as Partial<Task>)
    await first.save(saved, ctx())
    // A registry of its own over the same tables, as another process has.
    const other = backend.durable ? await backend.make(prefix) : registry
    const second = new SessionTasksA2ATaskStore({ registry: other })
    expect(await second.load('t1', ctx())).toStrictEqual(saved)
    expect((await second.list({} as never, ctx())).tasks.map((t) => t.id)).toEqual(['t1'])
    const done = task('t1', 3, T(2), {
      history: [message('m-1', 1, 'hi'), message('m-2', 2, 'bye')],
    } as Partial<Task>)
    await second.save(done, ctx())
    expect(await first.load('t1', ctx())).toStrictEqual(done)
  })
})
