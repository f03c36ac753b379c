import { PGlite } from '@electric-sql/pglite'
import { afterAll, describe, expect, test } from 'vitest'
import { fromPGlite, migrate, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import { createWakeQueue, type SessionTaskRegistry } from '../src/index.js'
import { sqliteFiles } from './fixtures/sqlite.js'

// The queue learns a failed task's error from the task.updated event that
// precedes its wake. Written by another registry (another process), both
// events reach this one through the backend's feed: the relay's
// LISTEN/NOTIFY on PostgreSQL, the polled feed on SQLite.

const pglite = new PGlite()
const sqlite = sqliteFiles('wakes')
afterAll(async () => {
  await sqlite.close()
  await pglite.close()
})

type Pair = { writer: SessionTaskRegistry; reader: SessionTaskRegistry; close(): Promise<void> }

const backends: [string, () => Promise<Pair>][] = [
  [
    'PostgreSQL (PGlite)',
    async () => {
      const client = fromPGlite(pglite)
      await migrate(client, { prefix: 'wakes_' })
      const writer = new PostgresSessionTaskRegistry({ client, prefix: 'wakes_' })
      const reader = new PostgresSessionTaskRegistry({ client, prefix: 'wakes_' })
      await Promise.all([writer.start(), reader.start()])
      return {
        writer,
        reader,
        close: async () => void (await Promise.all([writer.close(), reader.close()])),
      }
    },
  ],
  [
    sqlite.name,
    async () => {
      const writer = await sqlite.make('shared', { pollIntervalMs: 5 })
      const reader = await sqlite.make('shared', { pollIntervalMs: 5 })
      return { writer, reader, close: async () => {} }
    },
  ],
]

describe.each(backends)('wakes written by another registry: %s', (_name, open) => {
  test("the failed task's wake reaches the waiting taker with its error", async () => {
    const { writer, reader, close } = await open()
    const queue = createWakeQueue(reader)
    try {
      const task = await writer.create({
        sessionId: 'chat',
        kind: 'k',
        displayName: 'deploy',
        wakePolicy: 'on_terminal',
        state: 'running',
      })
      const waiting = queue.next('chat', { timeoutMs: 20_000 })
      await writer.update('chat', task.id, {
        state: 'failed',
        error: { kind: 'exit', message: 'kubectl exited with 1' },
      })
      const wake = await waiting
      if (wake === undefined) throw new Error('the wake did not arrive')
      expect(wake.text).toBe(`Task "deploy" (${task.id}) finished: failed.`)
      expect(queue.describe(wake)).toBe(`${wake.text}\n- error: kubectl exited with 1`)
    } finally {
      queue.stop()
      await close()
    }
  }, 30_000)
})
