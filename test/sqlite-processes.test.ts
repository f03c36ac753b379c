import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { migrate, SqliteSessionTaskRegistry } from '../src/backends/sqlite/index.js'
import { tableNames } from '../src/backends/table-names.js'
import type { SessionTask } from '../src/model/schemas.js'
import { isTerminalState } from '../src/model/state.js'
import type { ClaimResult, TaskUpdateResult } from '../src/registry/registry.js'
import { anySqlite } from './fixtures/sqlite.js'
import type { Delivered, NodeFailure, NodeNotice, NodeRequest } from './fixtures/sqlite-node.js'

// Several real Node processes on one SQLite database file (this one and the
// nodes of test/fixtures/sqlite-node.ts, forked with `node --import tsx`,
// driven over IPC), through whichever driver this Node loads: better-sqlite3
// on Node 20, node:sqlite on 22+. Every check of what was committed reads the
// file through a fresh connection of this process.
const [driverName, open] = anySqlite
const fixture = fileURLToPath(new URL('./fixtures/sqlite-node.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))
const t = tableNames()

type Body = NodeRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never
type Notice = Exclude<NodeNotice, { kind: 'reply' }>

/** A forked node and what it has told us. */
type Node = {
  name: string
  child: ChildProcess
  notices: Notice[]
  exited: boolean
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output(): string
  request<T = unknown>(body: Body, timeoutMs?: number): Promise<T>
}

/** A request the node failed, with what it said about the error. */
class NodeError extends Error {
  constructor(readonly failure: NodeFailure) {
    super(failure.message)
    this.name = failure.name
  }
}

/** Resolves with the first truthy value of `check`, polling every 20 ms; rejects after `timeoutMs`. */
async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  detail: () => string = () => '',
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${detail()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

let dir: string
const nodes: Node[] = []

function startNode(name: string, db: string): Promise<Node> {
  const child = fork(fixture, [], {
    cwd: root,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SN_DB: db },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let ready: (() => void) | undefined
  const node: Node = {
    name,
    child,
    notices: [],
    exited: false,
    exit: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        node.exited = true
        for (const p of pending.values()) p.reject(new Error(`${name} exited (${signal ?? code})`))
        pending.clear()
        resolve({ code, signal })
      })
    }),
    output: () => output,
    request<T>(body: Body, timeoutMs = 15_000): Promise<T> {
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        if (node.exited) return reject(new Error(`${name} already exited`))
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name}: request ${body.cmd} timed out\n${output}`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer)
            resolve(v as T)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.send({ ...body, id } as NodeRequest)
      })
    },
  }
  nodes.push(node)
  child.on('message', (raw) => {
    const notice = raw as NodeNotice
    if (notice.kind === 'ready') ready?.()
    if (notice.kind !== 'reply') {
      node.notices.push(notice)
      return
    }
    const p = pending.get(notice.id)
    pending.delete(notice.id)
    if (notice.ok) p?.resolve(notice.value)
    else p?.reject(new NodeError(notice.error))
  })
  return new Promise<Node>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start\n${output}`)), 20_000)
    ready = () => {
      clearTimeout(timer)
      resolve(node)
    }
    void node.exit.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited before it was ready (${signal ?? code})\n${output}`))
    })
  })
}

const startNodes = (db: string, names: string[]) =>
  Promise.all(names.map((name) => startNode(name, db)))

/** Closes a node (supervisor, registry) and waits for its exit; SIGKILL when it does not go. */
async function stopNode(node: Node): Promise<void> {
  if (!node.exited) {
    try {
      await node.request({ cmd: 'close' }, 5000)
    } catch {
      // Killed below.
    }
  }
  const gone = await Promise.race([
    node.exit.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 3000)),
  ])
  if (!gone) {
    node.child.kill('SIGKILL')
    await node.exit
  }
}

async function kill(node: Node) {
  node.child.kill('SIGKILL')
  return node.exit
}

const errorsOf = (node: Node) =>
  node.notices.filter((n): n is Extract<Notice, { kind: 'error' }> => n.kind === 'error')
const gapsOf = (node: Node) => node.notices.filter((n) => n.kind === 'gap')

/** An events-table row, with the token of the write that made it. */
type EventRow = { gid: number; sessionId: string; seq: number; type: string; token: string }

/** The token of a stored payload: as test/fixtures/sqlite-node.ts names its writes. */
function tokenOf(type: string, payload: string): string {
  const data = JSON.parse(payload) as {
    displayName?: string
    stateDetail?: string
    content?: { type: string; text?: string }[]
  }
  if (type === 'task.created') return data.displayName ?? '?'
  if (type === 'task.updated') return data.stateDetail ?? '?'
  if (type === 'task.message.sent' || type === 'task.message.received') {
    return data.content?.[0]?.text ?? '?'
  }
  return '?'
}

/** What the file holds, read through a fresh connection. */
function readBack(db: string) {
  const driver = open(db)
  const integrity = driver.prepare('PRAGMA integrity_check').all()
  const events: EventRow[] = driver
    .prepare(
      `SELECT gid, session_id, seq, type, payload FROM ${t.events} WHERE seq > 0 ORDER BY gid`,
    )
    .all()
    .map((row) => ({
      gid: Number(row.gid),
      sessionId: String(row.session_id),
      seq: Number(row.seq),
      type: String(row.type),
      token: tokenOf(String(row.type), String(row.payload)),
    }))
  const heads = new Map(
    driver
      .prepare(`SELECT session_id, seq FROM ${t.sessions}`)
      .all()
      .map((row) => [String(row.session_id), Number(row.seq)]),
  )
  const tasks = driver
    .prepare(`SELECT record FROM ${t.tasks}`)
    .all()
    .map((row) => JSON.parse(String(row.record)) as SessionTask)
  const messages = driver
    .prepare(`SELECT task_id, record FROM ${t.messages}`)
    .all()
    .map((row) => ({
      taskId: String(row.task_id),
      text: (JSON.parse(String(row.record)) as { content: { text?: string }[] }).content[0]?.text,
    }))
  return { integrity, events, heads, tasks, messages }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'session-tasks-sqlite-'))
})

afterAll(async () => {
  for (const node of nodes) if (!node.exited) node.child.kill('SIGKILL')
  await Promise.all(nodes.map((n) => n.exit))
  rmSync(dir, { recursive: true, force: true })
})

describe(`several processes on one SQLite file (${driverName})`, { timeout: 45_000 }, () => {
  test('a process SIGKILLed inside a write transaction leaves the file intact, and each survivor gets every later event exactly once, in commit order', async () => {
    const db = join(dir, 'writes.db')
    await migrate(open(db))
    const [a, b, victim] = await startNodes(db, ['a', 'b', 'v'])
    if (a === undefined || b === undefined || victim === undefined) throw new Error('3 nodes')
    const sessions = ['s0', 's1', 's2']
    const OPS = 200
    const HOLD_AT = 40
    const GATE_AT = 100
    try {
      // a listens through subscribeAll, b through one subscribe per session.
      await Promise.all([
        a.request({ cmd: 'listen', mode: 'all', sessions }),
        b.request({ cmd: 'listen', mode: 'sessions', sessions }),
        victim.request({ cmd: 'listen', mode: 'all', sessions }),
      ])
      // Nothing is written yet: every event from here on is the survivors' to get.
      const startGid = Math.max(0, ...readBack(db).events.map((e) => e.gid))

      const holdFile = join(dir, 'held')
      // The survivors cannot finish before the victim holds the lock: at GATE_AT they wait for it.
      const loops = [a, b].map((n) =>
        n.request<number>(
          { cmd: 'loop', tag: n.name, sessions, ops: OPS, gateAt: GATE_AT, holdFile },
          40_000,
        ),
      )
      const victimLoop = victim
        .request({ cmd: 'loop', tag: 'v', sessions, ops: OPS, holdAt: HOLD_AT, holdFile }, 40_000)
        .then(
          () => 'finished',
          () => 'died',
        )
      const heldToken = await eventually(
        () => {
          try {
            return readFileSync(holdFile, 'utf8') || undefined
          } catch {
            return undefined
          }
        },
        'the victim to hold the write lock',
        () => victim.output(),
      )
      expect(heldToken).toBe(`v.${HOLD_AT}`)
      // Both survivors are inside a write, waiting for the victim's lock, when it dies.
      type Progress = { done: number; writing: boolean }
      const atKill = await eventually(async () => {
        const now = await Promise.all([a, b].map((n) => n.request<Progress>({ cmd: 'progress' })))
        return now.every((p) => p.writing) ? now : undefined
      }, 'the survivors to wait for the lock')
      for (const p of atKill) expect(p.done).toBeLessThanOrEqual(GATE_AT)
      const { signal } = await kill(victim)
      expect(signal).toBe('SIGKILL')
      expect(await victimLoop).toBe('died')
      expect(await Promise.all(loops)).toEqual([OPS, OPS])

      const stored = readBack(db)
      expect(stored.integrity).toEqual([{ integrity_check: 'ok' }])
      const events = stored.events.filter((e) => e.gid > startGid)
      const byToken = new Map(events.map((e) => [e.token, e]))
      // One event per committed write: each token once, the victim's up to the held one.
      expect(byToken.size).toBe(events.length)
      const author = (e: EventRow) => e.token.split('.')[0]
      expect(events.filter((e) => author(e) === 'a')).toHaveLength(OPS)
      expect(events.filter((e) => author(e) === 'b')).toHaveLength(OPS)
      expect(
        events.filter((e) => author(e) === 'v').map((e) => e.token),
        'the victim committed each write before the held one, and not the held one',
      ).toEqual(Array.from({ length: HOLD_AT }, (_, i) => `v.${i}`))
      expect(stored.tasks.some((task) => task.displayName === heldToken)).toBe(false)
      expect(stored.tasks.some((task) => task.stateDetail === heldToken)).toBe(false)
      expect(stored.messages.some((m) => m.text === heldToken)).toBe(false)
      // The survivors' writes from the one in flight at the kill on all landed after it.
      const victimLast = Math.max(...events.filter((e) => author(e) === 'v').map((e) => e.gid))
      for (const [i, name] of ['a', 'b'].entries()) {
        const later = events.filter((e) => e.gid > victimLast && author(e) === name)
        expect(later.length, name).toBeGreaterThanOrEqual(OPS - (atKill[i]?.done ?? OPS))
      }
      // Every session's seqs are 1..head, each once: none lost or reused by the rollback.
      for (const sessionId of sessions) {
        const seqs = stored.events.filter((e) => e.sessionId === sessionId).map((e) => e.seq)
        const head = stored.heads.get(sessionId)
        expect(head, sessionId).toBeGreaterThan(0)
        expect(seqs, sessionId).toEqual(Array.from({ length: head ?? 0 }, (_, i) => i + 1))
      }

      const received = new Map<string, Delivered[]>()
      for (const survivor of [a, b]) {
        const delivered = await eventually(
          async () => {
            const got = await survivor.request<Delivered[]>({ cmd: 'delivered' })
            return got.length >= events.length ? got : undefined
          },
          `${survivor.name} to get ${events.length} events`,
          () => '',
          5000,
        ).catch(() => survivor.request<Delivered[]>({ cmd: 'delivered' }))
        received.set(survivor.name, delivered)
        expect(errorsOf(survivor), survivor.name).toEqual([])
        expect(gapsOf(survivor), survivor.name).toEqual([])
        const rows = delivered.map((d) => byToken.get(d.token))
        // Each delivered event is a committed one of that session and type.
        expect(
          delivered.filter(
            (d, i) => rows[i]?.sessionId !== d.sessionId || rows[i]?.type !== d.type,
          ),
          `${survivor.name}: delivered events not in the table`,
        ).toEqual([])
        const gids = rows.map((r) => r?.gid ?? -1)
        expect(new Set(gids).size, `${survivor.name}: an event delivered twice`).toBe(gids.length)
        // In commit order across sessions, and every committed event: exactly once.
        expect(gids, survivor.name).toEqual(events.map((e) => e.gid))
        for (const sessionId of sessions) {
          const seqs = rows.filter((r) => r?.sessionId === sessionId).map((r) => r?.seq ?? -1)
          expect(
            seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] ?? 0)),
            `${survivor.name} ${sessionId}: seqs strictly increasing`,
          ).toBe(true)
          expect(seqs, `${survivor.name} ${sessionId}`).toEqual(
            events.filter((e) => e.sessionId === sessionId).map((e) => e.seq),
          )
        }
      }
      // The survivors agree on each session's order and event types.
      for (const sessionId of sessions) {
        const view = (name: string) =>
          (received.get(name) ?? [])
            .filter((d) => d.sessionId === sessionId)
            .map((d) => [byToken.get(d.token)?.seq, d.type])
        expect(view('a').length, sessionId).toBeGreaterThan(0)
        expect(view('a'), sessionId).toEqual(view('b'))
      }
    } finally {
      await Promise.all([a, b, victim].map(stopNode))
    }
  })

  test('a write fenced on an attempt another process moved past is rejected and stores nothing', async () => {
    const db = join(dir, 'fence.db')
    await migrate(open(db))
    const [a, b, c] = await startNodes(db, ['a', 'b', 'c'])
    if (a === undefined || b === undefined || c === undefined) throw new Error('3 nodes')
    const sessionId = 'fence'
    try {
      const task = await a.request<SessionTask>({
        cmd: 'create',
        input: { sessionId, kind: 'job', displayName: 'fenced' },
      })
      const taskId = task.id
      const first = await a.request<ClaimResult>({
        cmd: 'claim',
        sessionId,
        taskId,
        options: { expectedAttempt: 1, workerId: 'a', limits: { global: 5 } },
      })
      expect(first.claimed).toBe(true)
      expect(first.task).toMatchObject({ state: 'running', attempt: 1, workerId: 'a' })

      // b and c both judge a's attempt stale and re-queue it at once (as reapers do): one wins.
      const bumps = await Promise.all(
        [b, c].map((n) =>
          n.request<TaskUpdateResult>({
            cmd: 'update',
            sessionId,
            taskId,
            update: {
              state: 'queued',
              incrementAttempt: true,
              stateDetail: `re-queued by ${n.name}`,
              expectedAttempt: 1,
              expectedState: 'running',
            },
          }),
        ),
      )
      expect(bumps.map((o) => o.applied).sort()).toEqual([false, true])
      for (const o of bumps) expect(o.task).toMatchObject({ state: 'queued', attempt: 2 })
      // ... and both claim attempt 2 at once: one wins.
      const claims = await Promise.all(
        [b, c].map((n) =>
          n.request<ClaimResult>({
            cmd: 'claim',
            sessionId,
            taskId,
            options: { expectedAttempt: 2, workerId: n.name, limits: { global: 5 } },
          }),
        ),
      )
      expect(claims.map((r) => r.claimed).sort()).toEqual([false, true])
      const winner = claims.find((r) => r.claimed)?.task.workerId
      expect(['b', 'c']).toContain(winner)

      const before = readBack(db)
      const record = before.tasks.find((x) => x.id === taskId)
      expect(record).toMatchObject({ state: 'running', attempt: 2, workerId: winner })
      expect(before.events.map((e) => [e.seq, e.type])).toEqual([
        [1, 'task.created'],
        [2, 'task.updated'],
        [3, 'task.updated'],
        [4, 'task.updated'],
      ])

      // a still works on attempt 1: every write fenced on it is refused.
      const stale = (body: Body) =>
        a.request(body).then(
          () => undefined,
          (error: unknown) => error,
        )
      const messageError = await stale({
        cmd: 'message',
        sessionId,
        taskId,
        message: {
          direction: 'outbound',
          content: [{ type: 'text', text: 'stale message' }],
          expectedAttempt: 1,
        },
      })
      expect(messageError).toBeInstanceOf(NodeError)
      expect((messageError as NodeError).name).toBe('StaleAttemptError')
      expect((messageError as NodeError).failure.stale).toBe(true)
      const postError = await stale({ cmd: 'post', sessionId, taskId, attempt: 1, text: 'stale' })
      expect((postError as NodeError | undefined)?.name).toBe('StaleAttemptError')
      const finish = await a.request<TaskUpdateResult>({
        cmd: 'update',
        sessionId,
        taskId,
        update: { state: 'succeeded', stateDetail: 'stale finish', expectedAttempt: 1 },
      })
      expect(finish).toMatchObject({ applied: false, changed: false })
      expect(finish.task).toMatchObject({ state: 'running', attempt: 2, workerId: winner })
      const output = await a.request<boolean>({
        cmd: 'output',
        sessionId,
        taskId,
        output: { stream: 'stdout', delta: 'stale output', expectedAttempt: 1 },
      })
      expect(output).toBe(false)
      const reclaim = await a.request<ClaimResult>({
        cmd: 'claim',
        sessionId,
        taskId,
        options: { expectedAttempt: 1, workerId: 'a', limits: { global: 5 } },
      })
      expect(reclaim).toMatchObject({ claimed: false, reason: 'taken' })

      const after = readBack(db)
      expect(after.integrity).toEqual([{ integrity_check: 'ok' }])
      expect(after.events).toEqual(before.events)
      expect(after.heads).toEqual(before.heads)
      expect(after.messages).toEqual([])
      expect(after.tasks).toEqual(before.tasks)

      // The fence is per attempt, not a lock-out: the current attempt's writes land.
      const current = claims.find((r) => r.claimed)?.task.workerId === 'b' ? b : c
      await current.request({ cmd: 'post', sessionId, taskId, attempt: 2, text: 'current' })
      const last = readBack(db)
      expect(last.messages).toEqual([{ taskId, text: 'current' }])
      expect(last.events.map((e) => e.type).at(-1)).toBe('task.message.received')
      for (const n of [a, b, c]) expect(errorsOf(n), n.name).toEqual([])
    } finally {
      await Promise.all([a, b, c].map(stopNode))
    }
  })

  test("a SIGKILLed supervisor's running tasks are reaped and run again by the survivors, each finished once, never over the global limit", async () => {
    const db = join(dir, 'dispatch.db')
    await migrate(open(db))
    const [victim, s1, s2] = await startNodes(db, ['v', 's1', 's2'])
    if (victim === undefined || s1 === undefined || s2 === undefined) throw new Error('3 nodes')
    const survivors = [s1, s2]
    const sessionId = 'work'
    const GLOBAL = 2
    const options = { global: GLOBAL, staleAfterMs: 800, heartbeatMs: 150 }
    const plan = Array.from({ length: 6 }, (_, i) => ({ name: `t${i}`, ms: 300 }))
    const observer = new SqliteSessionTaskRegistry({ driver: open(db) })
    try {
      await victim.request({ cmd: 'supervise', options: { ...options, hang: true } })
      const ids = await victim.request<string[]>({ cmd: 'spawn', sessionId, tasks: plan })
      expect(ids).toHaveLength(plan.length)
      const started = (n: Node) =>
        n.notices.filter((x): x is Extract<Notice, { kind: 'started' }> => x.kind === 'started')
      // Its spawns have claimed what the limit allows (spawn resolved after each claim).
      await eventually(
        () => started(victim).length >= GLOBAL,
        'the victim to run its first tasks',
        () => victim.output(),
      )
      expect(started(victim)).toHaveLength(GLOBAL)
      // The survivors' supervisors run before the victim dies; then it dies mid-run.
      await Promise.all(
        survivors.map((n) => n.request({ cmd: 'supervise', options: { ...options, hang: false } })),
      )
      const { signal } = await kill(victim)
      expect(signal).toBe('SIGKILL')

      const tasks = await eventually(
        async () => {
          const list = await observer.list(sessionId)
          return list.length === ids.length && list.every((x) => isTerminalState(x.state))
            ? list
            : undefined
        },
        'every task to finish',
        () =>
          JSON.stringify(survivors.map((n) => [n.name, n.notices, n.output()])) +
          JSON.stringify(readBack(db).tasks.map((x) => [x.displayName, x.state, x.attempt])),
      )
      await Promise.all(survivors.map(stopNode))

      const victimRuns = started(victim)
      expect(victimRuns.map((s) => s.attempt)).toEqual([1, 1])
      const orphaned = new Set(victimRuns.map((s) => s.taskId))
      const starts = survivors.flatMap(started)
      const finishes = survivors.flatMap((n) =>
        n.notices.filter((x): x is Extract<Notice, { kind: 'finished' }> => x.kind === 'finished'),
      )
      for (const n of survivors) expect(errorsOf(n), n.name).toEqual([])
      for (const task of tasks) {
        const name = task.displayName
        expect(task.state, name).toBe('succeeded')
        const mine = starts.filter((s) => s.taskId === task.id)
        // Each task ran to its end once, in one survivor, on its current attempt.
        expect(mine, `${name} started ${mine.length} times`).toHaveLength(1)
        expect(
          finishes.filter((f) => f.taskId === task.id),
          `${name} finished once`,
        ).toHaveLength(1)
        // The victim's running tasks come back on attempt 2, its queued ones on attempt 1.
        expect(mine[0]?.attempt, name).toBe(orphaned.has(task.id) ? 2 : 1)
        expect(task.attempt, name).toBe(orphaned.has(task.id) ? 2 : 1)
      }

      // The slots, replayed from the committed events: never more than the limit held at once.
      const stored = readBack(db)
      expect(stored.integrity).toEqual([{ integrity_check: 'ok' }])
      const driver = open(db)
      const rows = driver
        .prepare(`SELECT payload FROM ${t.events} WHERE session_id = ? AND seq > 0 ORDER BY gid`)
        .all(sessionId)
      const states = new Map<string, string>()
      let peak = 0
      const requeued = new Set<string>()
      for (const row of rows) {
        const task = JSON.parse(String(row.payload)) as Partial<SessionTask>
        if (task.id === undefined || task.state === undefined) continue
        states.set(task.id, task.state)
        if (task.state === 'queued' && task.attempt === 2) requeued.add(task.id)
        const holding = [...states.values()].filter(
          (s) => s === 'running' || s === 'awaiting_input',
        )
        peak = Math.max(peak, holding.length)
      }
      expect(peak).toBe(GLOBAL)
      // The victim's tasks went back to the queue on a new attempt (reaped), the others never.
      expect([...requeued].sort()).toEqual([...orphaned].sort())
    } finally {
      await observer.close()
      await Promise.all([victim, s1, s2].map(stopNode))
    }
  })
})
