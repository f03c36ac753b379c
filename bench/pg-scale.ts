/**
 * `npm run bench:pg-scale`: PostgreSQL throughput by number of processes,
 * against the server in BENCH_DATABASE_URL or TEST_DATABASE_URL (run it with
 * `PG_FSYNC=on bash scripts/with-postgres.sh npm run bench:pg-scale` for a
 * throwaway server that flushes its WAL like a production one). For 1, 4
 * and 8 processes (bench/pg-scale-worker.ts, forked), each running one
 * sequential loop: creates/s, updates/s and full task lifecycles/s of
 * session-tasks, and the same lifecycle with pg-boss and graphile-worker on
 * the same server in the same run; statements per operation; and the event
 * latency to another process. Writes bench/pg-scale.json and the
 * "PostgreSQL throughput" section of BENCHMARKS.md (between its markers).
 */
import { fork } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import { withSection } from './kept-section.js'
import {
  childReceiver,
  LATENCY_SESSION,
  type Percentiles,
  sampleLatency,
} from './postgres-latency.js'

const LIBS = ['session-tasks', 'pg-boss', 'graphile-worker'] as const
type Lib = (typeof LIBS)[number]
const OPS: Record<Lib, readonly string[]> = {
  'session-tasks': [
    'create',
    'update',
    'lifecycle',
    'lifecycle, limited',
    'lifecycle, not listening',
  ],
  'pg-boss': ['create', 'lifecycle'],
  'graphile-worker': ['create', 'lifecycle'],
}
// BENCH_PG_LIBS / BENCH_PG_PROCESSES (comma lists) narrow a run, for a look at one case.
const PROCESSES = (process.env.BENCH_PG_PROCESSES ?? '1,4,8').split(',').map(Number)
const ONLY = process.env.BENCH_PG_LIBS?.split(',')
const quick = process.env.BENCH_QUICK === '1'
const DURATION_MS = quick ? 500 : 3000
const ROUNDS = Number(process.env.BENCH_PG_ROUNDS ?? (quick ? 1 : 3))
const worker = fileURLToPath(new URL('./pg-scale-worker.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

type Case = {
  lib: Lib
  op: string
  processes: number
  opsPerSec: number
  statementsPerOp: number
  /** CPU ms per operation: the library's processes, and the whole machine (server included) when /proc/stat is readable. */
  cpuMsPerOp: { processes: number; machine: number | undefined }
  /** Operations per second of every round, in run order. */
  rounds: number[]
}

// The round with the median throughput, carrying every round's figure.
function median(runs: Case[]): Case {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec)
  const middle = sorted[Math.floor((sorted.length - 1) / 2)] as Case
  return { ...middle, rounds: runs.map((r) => Math.round(r.opsPerSec)) }
}
type Done = { kind: 'done'; count: number; elapsedMs: number; statements: number; cpuMs: number }

/** Busy CPU time of the whole machine in ms (Linux), or undefined elsewhere. */
export async function machineCpuMs(): Promise<number | undefined> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? ''
  if (!line.startsWith('cpu ')) return undefined
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0)
  return (busy * 1000) / 100 // USER_HZ is 100 on Linux
}

async function runCase(
  url: string,
  lib: Lib,
  op: string,
  n: number,
  prefix: string,
): Promise<Case> {
  const children = Array.from({ length: n }, (_, i) =>
    fork(worker, [], {
      cwd: root,
      env: {
        ...process.env,
        PS_URL: url,
        PS_LIB: lib,
        PS_OP: op,
        PS_MS: String(DURATION_MS),
        PS_PREFIX: prefix,
        PS_INDEX: String(i),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  const message = (child: (typeof children)[number], kind: string) =>
    new Promise<unknown>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${lib} ${op}: a worker exited (${code})`)))
      child.on('message', (m: { kind: string }) => {
        if (m.kind === kind) resolve(m)
      })
    })
  // Made now: a child may exit before anyone waits for it.
  const exits = children.map((c) => new Promise((resolve) => c.once('exit', resolve)))
  await Promise.all(children.map((c) => message(c, 'ready')))
  const done = children.map((c) => message(c, 'done') as Promise<Done>)
  const busyBefore = await machineCpuMs()
  for (const c of children) c.send('go')
  const results = await Promise.all(done)
  const busyAfter = await machineCpuMs()
  await Promise.all(exits)
  const sum = (pick: (r: Done) => number) => results.reduce((total, r) => total + pick(r), 0)
  const count = sum((r) => r.count)
  const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000
  const machine =
    busyBefore === undefined || busyAfter === undefined
      ? undefined
      : (busyAfter - busyBefore) / count
  return {
    lib,
    op,
    processes: n,
    opsPerSec: count / seconds,
    statementsPerOp: sum((r) => r.statements) / count,
    cpuMsPerOp: { processes: sum((r) => r.cpuMs) / count, machine },
    rounds: [],
  }
}

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL
  if (url === undefined || url === '') {
    console.error(
      'set BENCH_DATABASE_URL or TEST_DATABASE_URL, or run under scripts/with-postgres.sh',
    )
    process.exit(1)
  }
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  const setting = async (name: string) =>
    String((await pool.query(`SELECT current_setting('${name}') AS v`)).rows[0]?.v)
  const server = {
    version: await setting('server_version'),
    fsync: await setting('fsync'),
    synchronousCommit: await setting('synchronous_commit'),
  }
  const run = `${Date.now().toString(36)}`
  const prefixes: Record<Lib, string> = {
    'session-tasks': `bs${run}_`,
    'pg-boss': `bb${run}`,
    'graphile-worker': `bg${run}`,
  }
  await migrate(fromPgPool(pool), { prefix: prefixes['session-tasks'] })
  const { default: PgBoss } = await import('pg-boss')
  const boss = new PgBoss({
    connectionString: url,
    schema: prefixes['pg-boss'],
    supervise: false,
    schedule: false,
  })
  await boss.start()
  // Made here: concurrent createQueue calls deadlock on its partition DDL.
  for (let i = 0; i < Math.max(...PROCESSES); i++) await boss.createQueue(`q_${i}`)
  await boss.stop({ graceful: false, wait: true })
  const { runMigrations } = await import('graphile-worker')
  await runMigrations({ connectionString: url, schema: prefixes['graphile-worker'] })

  // Every case runs ROUNDS times, the rounds one after another over all
  // cases, so a slow spell of the shared host hits every library alike; the
  // median round is reported, with every round's figure.
  const rounds: Case[][] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const cases: Case[] = []
    for (const n of PROCESSES) {
      for (const lib of LIBS) {
        if (ONLY !== undefined && !ONLY.includes(lib)) continue
        for (const op of OPS[lib]) {
          const c = await runCase(url, lib, op, n, prefixes[lib])
          console.log(
            `round ${round}: ${lib} ${op} x${n}: ${c.opsPerSec.toFixed(0)}/s, ${c.statementsPerOp.toFixed(2)} statements/op, CPU ${c.cpuMsPerOp.processes.toFixed(2)} ms/op (machine ${c.cpuMsPerOp.machine?.toFixed(2) ?? '?'})`,
          )
          cases.push(c)
        }
      }
    }
    rounds.push(cases)
  }
  const cases = (rounds[0] ?? []).map((first, i) => median(rounds.map((r) => r[i] ?? first)))

  // Event latency to another process: A updates, B (a child with its own pool) hears it.
  const prefix = prefixes['session-tasks']
  const a = new PostgresSessionTaskRegistry({
    client: fromPgPool(pool),
    prefix,
  })
  await a.start()
  const task = await a.create({
    sessionId: LATENCY_SESSION,
    kind: 'probe',
    displayName: 'probe',
    state: 'running',
  })
  const receiver = await childReceiver(url, prefix)
  const latency: Percentiles = (
    await sampleLatency(a, task.id, receiver, 'process', quick ? 30 : 300)
  ).delivery
  await receiver.close()
  await a.close()

  const t = tableNames(prefix)
  await pool.query(
    `DROP TABLE IF EXISTS ${t.events}, ${t.messages}, ${t.tasks}, ${t.sessions}, ${t.schema}`,
  )
  await pool.query(`DROP SCHEMA IF EXISTS ${prefixes['pg-boss']} CASCADE`)
  await pool.query(`DROP SCHEMA IF EXISTS ${prefixes['graphile-worker']} CASCADE`)
  await pool.end()

  const results = {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    node: process.versions.node,
    server,
    durationMs: DURATION_MS,
    rounds: ROUNDS,
    cases,
    latency,
  }
  const out = process.env.BENCH_OUT ?? root
  await writeFile(`${out}/bench/pg-scale.json`, `${JSON.stringify(results, null, 2)}\n`)
  const section = pgScaleMarkdown(results)
  const doc = `${out}/BENCHMARKS.md`
  const text = await readFile(doc, 'utf8').catch(() => '')
  await writeFile(doc, withSection(text, section))
  console.log(section)
}

type Results = {
  date: string
  cpu: string
  cores: number
  node: string
  server: { version: string; fsync: string; synchronousCommit: string }
  durationMs: number
  rounds: number
  cases: Case[]
  latency: Percentiles
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

function pgScaleMarkdown(r: Results): string {
  const rows: string[] = []
  const cell = (lib: Lib, op: string, n: number) => {
    const c = r.cases.find((x) => x.lib === lib && x.op === op && x.processes === n)
    return c === undefined ? '—' : `${fmt(c.opsPerSec)} (${c.statementsPerOp.toFixed(1)})`
  }
  for (const lib of LIBS) {
    for (const op of OPS[lib]) {
      rows.push(`| ${lib} | ${op} | ${PROCESSES.map((n) => cell(lib, op, n)).join(' | ')} |`)
    }
  }
  const most = Math.max(...PROCESSES)
  const cpuRows = r.cases
    .filter((c) => c.processes === most)
    .map(
      (c) =>
        `| ${c.lib} | ${c.op} | ${c.cpuMsPerOp.processes.toFixed(2)} | ${c.cpuMsPerOp.machine === undefined ? '—' : c.cpuMsPerOp.machine.toFixed(2)} |`,
    )
  return [
    '## PostgreSQL throughput',
    '',
    `PostgreSQL ${r.server.version} on 127.0.0.1 with \`fsync=${r.server.fsync}\`, \`synchronous_commit=${r.server.synchronousCommit}\`; ${r.cpu}, ${r.cores} cores shared by the server and every process; Node ${r.node}; ${r.date.slice(0, 10)} (\`bench/pg-scale.ts\`). Each process runs one loop, every call awaited before the next, for ${r.durationMs / 1000} s after 20 warm-up calls; the figure is all processes' operations per second (the median of ${r.rounds} rounds, each round running every case once in turn), and in brackets the SQL statements per operation (every query a \`pg\` client sent, BEGIN and COMMIT included, background work of the library included).`,
    '',
    '- session-tasks: `create` (a queued task), `update` (progress of one running task), `lifecycle` = create, `claim` (queued → running, fenced on state and attempt, as a peer takes a job) and `update` to `succeeded`; `lifecycle, limited` claims under `{ global: 1000 }`, counted across every process in the claim (the peers have no such limit); one session per process, registry started (LISTEN).',
    '- pg-boss 10: `create` = `send`, `lifecycle` = `send`, `fetch`, `complete`; one queue per process.',
    "- graphile-worker 0.16: `create` = `addJob`, `lifecycle` = `addJob` and this process's worker (concurrency 1) running it, woken by its NOTIFY, until its `job:complete` (emitted after the completing statement; `job:success` comes before it); one task identifier per process.",
    "- `lifecycle, not listening`: the same lifecycle on a registry that was not started, so it hears nothing of the other processes, as the peers' processes hear nothing of each other's jobs. A started registry is told of every write of every process (one NOTIFY per write, which PostgreSQL delivers to every listening connection), which is what costs the difference.",
    '- The host is shared: the same case can vary by up to 2x between runs, so compare the rows of one run.',
    '',
    `| library | operation | ${PROCESSES.map((n) => (n === 1 ? '1 process' : `${n} processes`)).join(' | ')} |`,
    `|---|---|${PROCESSES.map(() => '---:').join('|')}|`,
    ...rows,
    '',
    `CPU time per operation at ${most} processes, in ms: the library's processes (their \`process.cpuUsage()\`), and the whole machine (busy time in \`/proc/stat\`: the server, the processes and anything else running), which bounds throughput on ${r.cores} cores.`,
    '',
    '| library | operation | processes | machine |',
    '|---|---|---:|---:|',
    ...cpuRows,
    '',
    `Event latency to another process (A updates, B in a child process with its own pool hears it), ${r.latency.samples} samples while idle: p50 ${r.latency.p50Ms.toFixed(2)} ms, p95 ${r.latency.p95Ms.toFixed(2)} ms, p99 ${r.latency.p99Ms.toFixed(2)} ms.`,
  ].join('\n')
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1])
  await main()
