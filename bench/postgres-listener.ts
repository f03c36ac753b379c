/**
 * The other process of the PostgreSQL event-latency benchmark, forked by
 * bench/postgres.ts: a registry on its own pool (its own LISTEN connection)
 * listening to one session. For each `task.updated` it reads the monotonic
 * clock (CLOCK_MONOTONIC, the same clock in every process of the machine)
 * and sends the reading to the parent over IPC; the parent subtracts the
 * time it started the update. The IPC hop is not in the measured time.
 *
 * argv: <prefix> <sessionId>; env: BENCH_PG_LISTENER_URL.
 */

import { fromPgPool, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'
import type { SessionTaskEvents } from '../src/events/emitter.js'

const url = process.env.BENCH_PG_LISTENER_URL
const [prefix, sessionId] = process.argv.slice(2)
const send = (message: unknown) => process.send?.(message)

if (url === undefined || prefix === undefined || sessionId === undefined || !process.send) {
  console.error('postgres-listener: run by bench/postgres.ts (fork with IPC)')
  process.exit(2)
}

const { default: pg } = await import('pg')
const pool = new pg.Pool({ connectionString: url, max: 2 })
const errors: unknown[] = []
const registry = new PostgresSessionTaskRegistry({
  client: fromPgPool(pool),
  prefix,
  onError: (error) => errors.push(error),
})
await registry.start()
registry.subscribe(sessionId, (type, payload) => {
  if (type !== 'task.updated') return
  const t = process.hrtime.bigint()
  const current = (payload as SessionTaskEvents['task.updated']).task.progress?.current
  if (current !== undefined) send({ i: current, t: t.toString() })
})

process.on('message', (message) => {
  if (message !== 'stop') return
  void (async () => {
    await registry.close()
    await pool.end()
    send({ stopped: true, errors: errors.map(String) })
    process.disconnect()
  })()
})

send({ ready: true })
