import { PGlite } from '@electric-sql/pglite'
import type { QueuedMessage } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import { InMemoryTaskStore as SdkStore } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js'
import type { Request } from '@modelcontextprotocol/sdk/types.js'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import {
  fromPGlite,
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
} from '../src/backends/postgres/index.js'
import { SessionTasksMcpMessageQueue, SessionTasksMcpTaskStore } from '../src/bridges/mcp/index.js'
import { InMemorySessionTaskRegistry } from '../src/index.js'
import type { SessionTaskRegistry } from '../src/registry/registry.js'
import { sqliteFiles } from './fixtures/sqlite.js'

// The MCP experimental-tasks TaskStore and TaskMessageQueue over three
// registries: what the SDK's task-aware server asks of them, checked
// against the SDK's in-memory store where their answers must agree.

const request: Request = { method: 'tools/call', params: { name: 'slow', arguments: { n: 1 } } }

type Clock = { ms: number }
type Backend = {
  name: string
  durable: boolean
  make: (clock: Clock, prefix?: string) => Promise<SessionTaskRegistry>
}
const newPrefix = () => `mcp${Math.random().toString(36).slice(2, 8)}_`
const now = (clock: Clock) => () => new Date(clock.ms)

const pglite = new PGlite()
const pools: pg.Pool[] = []
const backends: Backend[] = [
  {
    name: 'in memory',
    durable: false,
    make: async (clock) => new InMemorySessionTaskRegistry({ now: now(clock) }),
  },
  {
    name: 'PGlite',
    durable: true,
    make: async (clock, prefix = newPrefix()) => {
      await pglite.waitReady
      const client = fromPGlite(pglite)
      await migrate(client, { prefix })
      return new PostgresSessionTaskRegistry({ client, prefix, now: now(clock) })
    },
  },
]
const sqlite = sqliteFiles('mcp')
backends.push({
  name: sqlite.name,
  durable: true,
  make: (clock, prefix) => sqlite.make(prefix, { now: now(clock) }),
})
const url = process.env.TEST_DATABASE_URL
if (url !== undefined && url !== '') {
  backends.push({
    name: 'PostgreSQL',
    durable: true,
    make: async (clock, prefix = newPrefix()) => {
      const pool = new pg.Pool({ connectionString: url, max: 4 })
      // Other suites on the server terminate backends; an idle client's error is not ours.
      pool.on('error', () => {})
      pools.push(pool)
      const client = fromPgPool(pool)
      await migrate(client, { prefix })
      return new PostgresSessionTaskRegistry({ client, prefix, now: now(clock) })
    },
  })
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await pglite.close()
  await sqlite.close()
})

const queued = (n: number): QueuedMessage => ({
  type: 'notification',
  timestamp: n,
  message: { jsonrpc: '2.0', method: 'notifications/progress', params: { n } },
})

describe.each(backends)('SessionTasksMcpTaskStore on $name', (backend) => {
  const open = async () => {
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') }
    const registry = await backend.make(clock)
    return { clock, registry, store: new SessionTasksMcpTaskStore({ registry }) }
  }

  test('a created task is working, carries its ttl and poll interval, and is found again', async () => {
    const { store } = await open()
    const task = await store.createTask({ ttl: 60_000, pollInterval: 500 }, 7, request, 'sess-1')
    expect(task).toMatchObject({ status: 'working', ttl: 60_000, pollInterval: 500 })
    expect(task.createdAt).toBe(task.lastUpdatedAt)
    expect(await store.getTask(task.taskId, 'sess-1')).toStrictEqual(task)
    expect(await store.getTask(task.taskId)).toStrictEqual(task)
    expect(await store.getTask(task.taskId, 'sess-2')).toBeNull()
    expect(await store.getTask('nope')).toBeNull()
  })

  test('status updates, results once, and terminal tasks refuse more, like the SDK store', async () => {
    const { store } = await open()
    const sdk = new SdkStore()
    try {
      for (const s of [store, sdk]) {
        const t = await s.createTask({ ttl: null }, 1, request)
        await s.updateTaskStatus(t.taskId, 'input_required', 'need a name')
        expect((await s.getTask(t.taskId))?.status).toBe('input_required')
        await s.updateTaskStatus(t.taskId, 'working')
        expect((await s.getTask(t.taskId))?.statusMessage).toBe('need a name')
        await expect(s.getTaskResult(t.taskId)).rejects.toThrow(/no result/)
        const result = { content: [{ type: 'text' as const, text: 'done' }] }
        await s.storeTaskResult(t.taskId, 'completed', result)
        expect(await s.getTaskResult(t.taskId)).toStrictEqual(result)
        expect((await s.getTask(t.taskId))?.status).toBe('completed')
        await expect(s.storeTaskResult(t.taskId, 'failed', result)).rejects.toThrow(/terminal/)
        await expect(s.updateTaskStatus(t.taskId, 'working')).rejects.toThrow(/terminal/)
        await expect(s.updateTaskStatus('nope', 'working')).rejects.toThrow(/not found/)
      }
    } finally {
      sdk.cleanup()
    }
  })

  test('two racing results: exactly one is stored', async () => {
    const { store } = await open()
    const t = await store.createTask({}, 1, request)
    const outcomes = await Promise.allSettled(
      [1, 2, 3].map((n) => store.storeTaskResult(t.taskId, 'completed', { n })),
    )
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    const stored = (await store.getTaskResult(t.taskId)) as { n: number }
    const winner = outcomes.findIndex((o) => o.status === 'fulfilled') + 1
    expect(stored.n).toBe(winner)
  })

  test('the ttl expires a task, counted again from its end; prune deletes it', async () => {
    const { clock, registry, store } = await open()
    const t = await store.createTask({ ttl: 1000 }, 1, request)
    clock.ms += 600
    await store.storeTaskResult(t.taskId, 'completed', { ok: true })
    clock.ms += 600
    // 1,200 ms after creation but 600 after it ended: still there.
    expect((await store.getTask(t.taskId))?.status).toBe('completed')
    clock.ms += 400
    expect(await store.getTask(t.taskId)).toBeNull()
    expect((await store.listTasks()).tasks).toEqual([])
    await expect(store.getTaskResult(t.taskId)).rejects.toThrow(/not found/)
    const pruned = await registry.prune({ finishedBefore: new Date(0) })
    expect(pruned.map((p) => p.id)).toEqual([t.taskId])
  })

  test('listTasks pages 10 at a time, oldest first, scoped like the SDK', async () => {
    const { clock, store } = await open()
    const ids: string[] = []
    for (let i = 0; i < 23; i++) {
      clock.ms += 1
      ids.push((await store.createTask({}, i, request, i % 2 === 0 ? 'a' : 'b')).taskId)
    }
    const global = (await store.createTask({}, 99, request)).taskId
    const seen: string[] = []
    let cursor: string | undefined
    for (let i = 0; i < 5; i++) {
      const page = await store.listTasks(cursor)
      expect(page.tasks.length).toBeLessThanOrEqual(10)
      seen.push(...page.tasks.map((t) => t.taskId))
      cursor = page.nextCursor
      if (cursor === undefined) break
    }
    expect(seen).toEqual([...ids, global])
    const onlyA = (await store.listTasks(undefined, 'a')).tasks.map((t) => t.taskId)
    expect(onlyA).toEqual(ids.filter((_, i) => i % 2 === 0).slice(0, 10))
    const lastA = await store.listTasks(
      (await store.listTasks(undefined, 'a')).nextCursor as string,
      'a',
    )
    expect(lastA.tasks.map((t) => t.taskId)).toEqual([
      ...ids.filter((_, i) => i % 2 === 0).slice(10),
      global,
    ])
    await expect(store.listTasks('not-a-cursor')).rejects.toThrow(/cursor/)
  })

  test('a fresh store on a fresh registry over the same tables finds, lists and finishes the task', async () => {
    if (!backend.durable) return
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') }
    const prefix = newPrefix()
    const first = new SessionTasksMcpTaskStore({ registry: await backend.make(clock, prefix) })
    const t = await first.createTask({ ttl: 5000 }, 1, request, 'sess')
    const second = new SessionTasksMcpTaskStore({ registry: await backend.make(clock, prefix) })
    expect(await second.getTask(t.taskId, 'sess')).toStrictEqual(t)
    expect((await second.listTasks(undefined, 'sess')).tasks).toStrictEqual([t])
    await second.storeTaskResult(t.taskId, 'completed', { v: 1 }, 'sess')
    expect(await first.getTaskResult(t.taskId, 'sess')).toStrictEqual({ v: 1 })
    clock.ms += 6000
    expect(await first.getTask(t.taskId)).toBeNull()
  })
})

describe.each(backends)('SessionTasksMcpMessageQueue on $name', (backend) => {
  const open = async () => {
    const registry = await backend.make({ ms: Date.parse('2030-01-01T00:00:00.000Z') })
    return new SessionTasksMcpMessageQueue({ registry })
  }

  test('first in, first out, per task; dequeueAll drains', async () => {
    const q = await open()
    expect(await q.dequeue('t1')).toBeUndefined()
    for (let i = 1; i <= 4; i++) await q.enqueue('t1', queued(i))
    await q.enqueue('t2', queued(9))
    expect(await q.dequeue('t1')).toStrictEqual(queued(1))
    expect(await q.dequeueAll('t1')).toStrictEqual([queued(2), queued(3), queued(4)])
    expect(await q.dequeue('t1')).toBeUndefined()
    expect(await q.dequeueAll('t2')).toStrictEqual([queued(9)])
  })

  test('maxSize bounds what waits', async () => {
    const q = await open()
    await q.enqueue('t1', queued(1), undefined, 2)
    await q.enqueue('t1', queued(2), undefined, 2)
    await expect(q.enqueue('t1', queued(3), undefined, 2)).rejects.toThrow(/overflow/)
    await q.dequeue('t1')
    await q.enqueue('t1', queued(3), undefined, 2)
    expect(await q.dequeueAll('t1')).toStrictEqual([queued(2), queued(3)])
  })

  test('concurrent dequeues never take one message twice', async () => {
    const q = await open()
    for (let i = 1; i <= 6; i++) await q.enqueue('t1', queued(i))
    const taken = await Promise.all(Array.from({ length: 8 }, () => q.dequeue('t1')))
    const got = taken.filter((m) => m !== undefined).map((m) => m.timestamp)
    expect(got.sort()).toEqual([1, 2, 3, 4, 5, 6])
  })

  test('a task id that cannot name a queue is refused', async () => {
    const q = await open()
    await expect(q.enqueue('has space', queued(1))).rejects.toThrow(/taskId/)
  })
})
