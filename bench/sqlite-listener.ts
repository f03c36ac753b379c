/**
 * The other process of the SQLite event-latency benchmark, forked by
 * bench/sqlite-scale.ts: a registry on its own connection to the database
 * file, started (polling `PRAGMA data_version` every pollIntervalMs),
 * listening to one session. For each `task.updated` it reads the monotonic
 * clock (the same clock in every process of the machine) and sends the
 * reading to the parent over IPC, as bench/postgres-listener.ts does.
 *
 * argv: <database file> <sessionId> <pollIntervalMs>.
 */
import { SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import type { SessionTaskEvents } from '../src/events/emitter.js'
import { openSqlite } from './sqlite-open.js'

const [file, sessionId, poll] = process.argv.slice(2)
const send = (message: unknown) => process.send?.(message)

if (file === undefined || sessionId === undefined || poll === undefined || !process.send) {
  console.error('sqlite-listener: run by bench/sqlite-scale.ts (fork with IPC)')
  process.exit(2)
}

const { driver, db } = openSqlite(file)
const errors: unknown[] = []
const registry = new SqliteSessionTaskRegistry({
  driver,
  pollIntervalMs: Number(poll),
  onError: (error) => errors.push(error),
})
await registry.start()
registry.subscribe(sessionId, (type, payload) => {
  if (type !== 'task.updated') return
  const t = process.hrtime.bigint()
  const current = (payload as SessionTaskEvents['task.updated']).task.progress?.current
  if (current !== undefined) send({ i: current, t: t.toString() })
})

// The parent gone (killed, or failed): nothing more to do.
process.on('disconnect', () => process.exit(0))

process.on('message', (message) => {
  if (message !== 'stop') return
  void (async () => {
    await registry.close()
    db.close()
    send({ stopped: true, errors: errors.map(String) })
    process.disconnect()
  })()
})

send({ ready: true })
