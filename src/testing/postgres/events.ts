import { take } from '../contract/helpers.js'
import { crossProcessChecks } from '../contract/processes.js'
import type { PostgresChecks } from './harness.js'

/** PostgreSQL checks of events across processes: the shared ones, then how long events stay stored. */
export function eventChecks(checks: PostgresChecks): void {
  const { test, expect, clients, wipe, make, t } = checks
  crossProcessChecks({
    ...checks,
    async storedEvents(sessionId) {
      const [client] = await clients()
      const { rows } = await client.query<{ type: string; payload: string }>(
        `SELECT type, payload::text AS payload FROM ${t.events} WHERE session_id = $1 ORDER BY seq`,
        [sessionId],
      )
      return rows
    },
  })

  test('only the latest events stay stored', async () => {
    await wipe()
    const a = await make(0, { replayBuffer: 2 })
    const task = await a.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    // Pretend 5118 events happened, then write two more: the second crosses
    // a multiple of 256, where a write also trims what earlier ones left.
    const [client] = await clients()
    await client.query(`UPDATE ${t.sessions} SET seq = 5118 WHERE session_id = 's'`)
    await client.query(
      `INSERT INTO ${t.events} (session_id, seq, task_id, type, payload) SELECT 's', g, $1, 'task.output', '{}'::json FROM generate_series(2, 5118) AS g`,
      [task.id],
    )
    const count = async () => {
      const { rows } = await client.query<{ n: unknown; lo: unknown; hi: unknown }>(
        `SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM ${t.events} WHERE session_id = 's'`,
      )
      return [Number(rows[0]?.n), Number(rows[0]?.lo), Number(rows[0]?.hi)]
    }
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'x' })
    // A write trims only the seqs it pushed out of retention (4119).
    expect(await count()).toEqual([5118, 1, 5119])
    await a.publishOutput('s', task.id, { stream: 'o', delta: 'y' })
    // At least 1000 stay for other processes; replays serve only the last 2.
    expect(await count()).toEqual([1000, 4121, 5120])
    const it = a.stream('s', { since: 5117 })[Symbol.asyncIterator]()
    expect((await take(it, 1))[0]?.type).toBe('snapshot')
    await it.return?.()
    const near = a.stream('s', { since: 5118 })[Symbol.asyncIterator]()
    expect((await take(near, 1))[0]?.seq).toBe(5119)
    await near.return?.()
  })
}
