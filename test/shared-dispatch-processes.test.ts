import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import type { SessionTask } from '../src/model/schemas.js'
import { isTerminalState } from '../src/model/state.js'
import type { NodeNotice, PlannedSpawn } from './fixtures/dispatch-node.js'

// SPEC 12.4 across real processes on one PostgreSQL server: process A
// spawns work under `dispatch: 'shared'` with a global limit and is
// SIGKILLed; B (and C) take over its queued tasks, re-queue and run its
// running ones, enforce its deadlines, and never exceed the global limit,
// counted here at every event. The same scenarios with several supervisors
// in one process are in test/dispatcher.test.ts. Run with a throwaway server:
//   bash scripts/with-postgres.sh npx vitest run test/shared-dispatch-processes.test.ts
const url = process.env.TEST_DATABASE_URL
const fixture = fileURLToPath(new URL('./fixtures/dispatch-node.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

type Node = {
  child: ChildProcess
  notices: NodeNotice[]
  exit: Promise<unknown>
  output(): string
}

async function eventually<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

if (url === undefined || url === '') {
  describe('shared dispatch across processes', () => {
    test.skip('SKIPPED: set TEST_DATABASE_URL (or use scripts/with-postgres.sh) to run', () => {})
  })
} else {
  const databaseUrl = url
  const prefix = `sd${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}_`
  const channel = `${prefix}notify`
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })
  const client = fromPgPool(pool)
  let registry: PostgresSessionTaskRegistry
  const nodes: Node[] = []

  function startNode(env: Record<string, string>): Node {
    const child = fork(fixture, [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, DN_PREFIX: prefix, DN_CHANNEL: channel, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const node: Node = {
      child,
      notices: [],
      exit: new Promise((resolve) => child.once('exit', resolve)),
      output: () => output,
    }
    child.on('message', (notice: NodeNotice) => node.notices.push(notice))
    nodes.push(node)
    return node
  }

  beforeAll(async () => {
    await migrate(client, { prefix })
    registry = new PostgresSessionTaskRegistry({ client, prefix, channel })
    await registry.start()
  })

  afterAll(async () => {
    for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL')
    await Promise.all(nodes.map((n) => n.exit))
    await registry.close()
    const t = tableNames(prefix)
    await pool.query(
      `DROP TABLE IF EXISTS ${t.events}, ${t.messages}, ${t.tasks}, ${t.sessions}, ${t.schema}`,
    )
    await pool.end()
  })

  // Every task of the run, as this process sees it, and the most holding a slot at once.
  function watch(sessionId: string) {
    const tasks = new Map<string, SessionTask>()
    let peak = 0
    const off = registry.subscribe(sessionId, (type, payload) => {
      if (type !== 'task.created' && type !== 'task.updated') return
      const { task } = payload as { task: SessionTask }
      tasks.set(task.id, task)
      let holding = 0
      for (const t of tasks.values())
        if (t.state === 'running' || t.state === 'awaiting_input') holding++
      peak = Math.max(peak, holding)
    })
    return { tasks, peak: () => peak, off }
  }

  const PLAN: PlannedSpawn[] = [
    { name: 't0', ms: 300 },
    { name: 't1', ms: 60_000, timeoutMs: 2500 },
    { name: 't2', ms: 300 },
    { name: 't3', ms: 300 },
    { name: 't4', ms: 300 },
    { name: 't5', ms: 60_000, timeoutMs: 3000 },
    { name: 't6', ms: 300 },
    { name: 't7', ms: 300 },
  ]
  const TIMED = new Set(['t1', 't5'])

  async function scenario(sessionId: string, takers: number) {
    const seen = watch(sessionId)
    const a = startNode({ DN_SESSION: sessionId, DN_HANG: '1', DN_SPAWN: JSON.stringify(PLAN) })
    const spawned = await eventually(
      () =>
        a.notices.find((n): n is Extract<NodeNotice, { kind: 'spawned' }> => n.kind === 'spawned'),
      `A to spawn\n${a.output()}`,
    )
    await eventually(
      () => a.notices.filter((n) => n.kind === 'started').length === 2,
      'A to start 2',
    )
    a.child.kill('SIGKILL')
    await a.exit
    const others = Array.from({ length: takers }, () => startNode({ DN_SESSION: sessionId }))
    const names = new Map(spawned.ids.map((id, i) => [id, PLAN[i]?.name ?? '?']))
    await eventually(
      () =>
        spawned.ids.every((id) => {
          const t = seen.tasks.get(id)
          return t !== undefined && isTerminalState(t.state)
        }),
      `every task to finish\n${others.map((o) => o.output()).join('\n')}\n${JSON.stringify([...seen.tasks.values()].map((t) => [t.displayName, t.state, t.attempt]))}`,
    )
    seen.off()
    for (const o of others) o.child.send('close')
    await Promise.all(others.map((o) => o.exit))

    const starts = others.flatMap((o) =>
      o.notices.filter((n): n is Extract<NodeNotice, { kind: 'started' }> => n.kind === 'started'),
    )
    const errors = others.flatMap((o) => o.notices.filter((n) => n.kind === 'error'))
    expect(errors).toEqual([])
    // Never more than the global limit holding a slot, A's dead tasks included.
    expect(seen.peak()).toBeLessThanOrEqual(2)
    for (const id of spawned.ids) {
      const name = names.get(id) ?? '?'
      const task = await registry.get(sessionId, id)
      if (task === undefined) throw new Error(`${name} vanished`)
      const mine = starts.filter((s) => s.taskId === id)
      // Started at most once per attempt by the takers, and once at most in all.
      expect(mine.length, `${name} started ${mine.length} times`).toBeLessThanOrEqual(1)
      if (TIMED.has(name)) {
        const timedOut = task.state === 'failed' && task.error?.kind === 'timeout'
        const canceledQueued =
          task.state === 'canceled' && /timed out .* before it started/.test(task.stateDetail ?? '')
        expect(timedOut || canceledQueued, `${name}: ${JSON.stringify(task)}`).toBe(true)
      } else {
        expect(task.state, name).toBe('succeeded')
        expect(mine, name).toHaveLength(1)
        // A's two running tasks come back on attempt 2; its queued ones on attempt 1.
        expect(mine[0]?.attempt, name).toBe(name === 't0' ? 2 : 1)
      }
    }
    return { starts }
  }

  describe('shared dispatch across processes on PostgreSQL', { timeout: 60_000 }, () => {
    test('A dies; B takes over its queued tasks, deadlines and running work within the global limit', async () => {
      const { starts } = await scenario('two', 1)
      expect(new Set(starts.map((s) => s.pid)).size).toBe(1)
    })

    test('A dies; B and C share its queued tasks, each started once, never over the limit', async () => {
      await scenario('three', 2)
    })

    for (const isolation of ['read committed', 'repeatable read', 'serializable']) {
      test(`concurrent claims over several connections keep the global limit (server default ${isolation})`, async () => {
        const other = new pg.Pool({
          connectionString: databaseUrl,
          max: 8,
          options: `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`,
        })
        const r = new PostgresSessionTaskRegistry({ client: fromPgPool(other), prefix, channel })
        try {
          const check = await other.query('SHOW default_transaction_isolation')
          expect(check.rows[0]?.default_transaction_isolation).toBe(isolation)
          const sessionId = `iso-${isolation.replace(' ', '-')}`
          const tasks = await Promise.all(
            Array.from({ length: 24 }, () =>
              r.create({ sessionId, kind: `k-${sessionId}`, displayName: 'c' }),
            ),
          )
          const claims = await Promise.all(
            tasks.map((t) =>
              r.claim(sessionId, t.id, { expectedAttempt: 1, limits: { perKind: 2 } }),
            ),
          )
          expect(claims.filter((c) => c?.claimed === true)).toHaveLength(2)
        } finally {
          await r.close()
          await other.end()
        }
      })
    }
  })
}
