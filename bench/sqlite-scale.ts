import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { fromPgPool, migrate as pgMigrate } from '../src/backends/postgres/index.js'
import { migrate } from '../src/backends/sqlite/index.js'
import { killChildren, startWorker, type Worker, withTimeout } from './bench-children.js'
import { withSection } from './kept-section.js'
import { machineCpuMs } from './pg-scale.js'
import { openSqlite, type StatementCost } from './sqlite-open.js'
import { dropPg, pgLatency, removeDatabase, sqliteLatency } from './sqlite-scale-latency.js'
import {
  type Case,
  type Latency,
  OPS,
  type Op,
  PROCESSES,
  type Results,
  sqliteScaleMarkdown,
  type Variant,
} from './sqlite-scale-report.js'
import type { WorkerCase, WorkerDone } from './sqlite-scale-worker.js'

const quick = process.env.BENCH_QUICK === '1'
const DURATION_MS = Number(process.env.BENCH_SQLITE_MS ?? (quick ? 300 : 3000))
const ROUNDS = Number(process.env.BENCH_SQLITE_ROUNDS ?? (quick ? 1 : 3))
const LATENCY_SAMPLES = quick ? 30 : 300
const POLLS = [20, 5] as const
// A case that has not finished by then fails the run (its workers killed): every wait is bounded.
const CASE_TIMEOUT_MS = DURATION_MS + 60_000
const worker = fileURLToPath(new URL('./sqlite-scale-worker.ts', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

const dir = mkdtempSync(join(os.tmpdir(), 'session-tasks-sqlite-bench-'))
function cleanup(): void {
  killChildren()
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup()
    process.exit(130)
  })
}

// The round with the median throughput, carrying every round's figure.
function median(runs: Case[]): Case {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec)
  const middle = sorted[Math.floor((sorted.length - 1) / 2)] as Case
  return { ...middle, rounds: runs.map((r) => Math.round(r.opsPerSec)) }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

// The workers of the run, started when the first case that needs them comes.
const workers: Worker[] = []
async function workersFor(n: number): Promise<Worker[]> {
  while (workers.length < n) {
    const w = startWorker(worker, root)
    workers.push(w)
    await withTimeout(w.next('started'), 60_000, 'a worker to start')
  }
  return workers.slice(0, n)
}

/** Asks every worker to leave and waits (bounded) for it; any left is killed by pid. */
async function stopWorkers(): Promise<void> {
  const exits = workers.map(
    (w) =>
      new Promise<void>((resolve) => {
        if (w.child.exitCode !== null || w.child.signalCode !== null) resolve()
        else w.child.once('exit', () => resolve())
      }),
  )
  for (const w of workers) if (w.child.connected) w.child.send('exit')
  await withTimeout(Promise.all(exits), 10_000, 'the workers to exit').catch(() => {})
  workers.length = 0
  killChildren()
}

type Setup = {
  /** What the case message carries for this backend (file and sync, or url and prefix). */
  fields: Partial<WorkerCase>
  teardown: () => Promise<void>
  /** SQLite: the WAL file, whose size is sampled while the loops run. */
  wal?: string | undefined
}

let caseNumber = 0

async function runCase(
  variant: Variant,
  op: Op,
  n: number,
  setup: () => Promise<Setup>,
): Promise<Case> {
  const { fields, teardown, wal } = await setup()
  let walPeakBytes = 0
  const what = `${variant.label} ${op} x${n}`
  try {
    const run = async () => {
      const ws = await workersFor(n)
      ws.forEach((w, index) => {
        const c: WorkerCase = {
          kind: 'case',
          backend: variant.backend,
          op,
          durationMs: DURATION_MS,
          index,
          ...fields,
        }
        w.child.send(c)
      })
      await Promise.all(ws.map((w) => w.next('ready')))
      const busyBefore = await machineCpuMs()
      const sampler =
        wal === undefined
          ? undefined
          : setInterval(() => {
              walPeakBytes = Math.max(walPeakBytes, fileSize(wal))
            }, 100)
      for (const w of ws) w.child.send('go')
      const results = (await Promise.all(ws.map((w) => w.next('done'))).finally(() =>
        clearInterval(sampler),
      )) as WorkerDone[]
      const busyAfter = await machineCpuMs()
      await Promise.all(ws.map((w) => w.next('closed')))
      return { results, busyBefore, busyAfter }
    }
    const { results, busyBefore, busyAfter } = await withTimeout(run(), CASE_TIMEOUT_MS, what)
    const sum = (pick: (r: WorkerDone) => number) => results.reduce((t, r) => t + pick(r), 0)
    const count = sum((r) => r.count)
    const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000
    let costs: Record<string, StatementCost> | undefined
    if (variant.backend === 'sqlite') {
      // Each process's per-op figures, weighted by its operations.
      costs = {}
      for (const r of results) {
        for (const [name, c] of Object.entries(r.costs ?? {})) {
          const into = costs[name] ?? { calls: 0, ms: 0 }
          into.calls += (c.calls * r.count) / count
          into.ms += (c.ms * r.count) / count
          costs[name] = into
        }
      }
    }
    return {
      variant: variant.key,
      backend: variant.backend,
      op,
      processes: n,
      opsPerSec: count / seconds,
      statementsPerOp: sum((r) => r.statements) / count,
      cpuMsPerOp: {
        processes: sum((r) => r.cpuMs) / count,
        machine:
          busyBefore === undefined || busyAfter === undefined
            ? undefined
            : (busyAfter - busyBefore) / count,
      },
      busyPerOp: variant.backend === 'sqlite' ? sum((r) => r.busy ?? 0) / count : undefined,
      walPeakBytes: wal === undefined ? undefined : walPeakBytes,
      costs,
      synchronous: results[0]?.synchronous,
      rounds: [],
    }
  } finally {
    await teardown()
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const load = os.loadavg()
  const url = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || undefined
  const probeFile = join(dir, 'probe.db')
  const probe = openSqlite(probeFile)
  const sqlite = {
    version: String((probe.db.prepare('select sqlite_version() as v').get() as { v: unknown }).v),
    driver: probe.driverName,
  }
  probe.db.close()
  removeDatabase(probeFile)

  const pool = url === undefined ? undefined : new pg.Pool({ connectionString: url, max: 2 })
  let server: { version: string; fsync: string; synchronousCommit: string } | undefined
  if (pool !== undefined) {
    const setting = async (name: string) =>
      String((await pool.query(`SELECT current_setting('${name}') AS v`)).rows[0]?.v)
    server = {
      version: await setting('server_version'),
      fsync: await setting('fsync'),
      synchronousCommit: await setting('synchronous_commit'),
    }
  }
  const run = Date.now().toString(36)

  const variants: Variant[] = [
    {
      key: 'sqlite-full',
      backend: 'sqlite',
      label: 'SQLite, synchronous FULL',
      sync: 'FULL',
      processes: PROCESSES,
    },
    {
      key: 'sqlite-normal',
      backend: 'sqlite',
      label: 'SQLite, synchronous NORMAL',
      sync: 'NORMAL',
      processes: PROCESSES,
    },
    ...(pool === undefined
      ? []
      : [
          {
            key: 'postgres',
            backend: 'postgres',
            label: 'PostgreSQL',
            processes: PROCESSES,
          } satisfies Variant,
        ]),
    { key: 'memory', backend: 'memory', label: 'in-memory', processes: [1] },
  ]

  const setupFor = (variant: Variant): (() => Promise<Setup>) => {
    if (variant.backend === 'sqlite') {
      return async () => {
        // A new file per case: no case runs on what an earlier one left.
        const file = join(dir, `case-${++caseNumber}.db`)
        const opened = openSqlite(file)
        await migrate(opened.driver)
        opened.db.close()
        return {
          fields: { file, sync: variant.sync ?? '' },
          teardown: async () => removeDatabase(file),
          wal: `${file}-wal`,
        }
      }
    }
    if (variant.backend === 'postgres' && pool !== undefined && url !== undefined) {
      return async () => {
        // New tables per case too, dropped after it.
        const prefix = `bq${run}_${++caseNumber}_`
        await pgMigrate(fromPgPool(pool), { prefix })
        return { fields: { url, prefix }, teardown: () => dropPg(pool, prefix) }
      }
    }
    return async () => ({ fields: {}, teardown: async () => {} })
  }

  // Every case runs ROUNDS times, the rounds one after another over all
  // cases, so a slow spell of the shared host hits every backend alike; the
  // median round is reported, with every round's figure.
  const rounds: Case[][] = []
  let latency: Latency[] = []
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const cases: Case[] = []
      for (const n of PROCESSES) {
        for (const variant of variants) {
          if (!variant.processes.includes(n)) continue
          for (const op of OPS) {
            const c = await runCase(variant, op, n, setupFor(variant))
            const extra =
              c.busyPerOp === undefined
                ? ''
                : `, ${c.busyPerOp.toFixed(2)} busy retries/op, WAL peak ${((c.walPeakBytes ?? 0) / 1048576).toFixed(1)} MB`
            console.log(
              `round ${round}: ${variant.label} ${op} x${n}: ${c.opsPerSec.toFixed(0)}/s, ${c.statementsPerOp.toFixed(2)} statements/op, CPU ${c.cpuMsPerOp.processes.toFixed(3)} ms/op (machine ${c.cpuMsPerOp.machine?.toFixed(3) ?? '?'})${extra}`,
            )
            cases.push(c)
          }
        }
      }
      rounds.push(cases)
    }
    await stopWorkers()
    latency = await sqliteLatency(dir, LATENCY_SAMPLES, POLLS)
    if (pool !== undefined && url !== undefined) {
      latency.push(...(await pgLatency(url, pool, `bl${run}_`, LATENCY_SAMPLES)))
    }
  } finally {
    await pool?.end()
    cleanup()
  }
  const cases = (rounds[0] ?? []).map((first, i) => median(rounds.map((r) => r[i] ?? first)))
  for (const l of latency) {
    const d = l.delivery
    console.log(
      `latency ${l.label}, ${l.spacing}: p50 ${d.p50Ms.toFixed(2)} ms, p95 ${d.p95Ms.toFixed(2)} ms, p99 ${d.p99Ms.toFixed(2)} ms (A's write p50 ${l.write.p50Ms.toFixed(2)} ms)`,
    )
  }

  const results: Results = {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    node: process.versions.node,
    platform: os.platform(),
    loadBefore: load.map((x) => Number(x.toFixed(2))),
    sqlite: {
      ...sqlite,
      journalMode: 'wal',
      defaultSynchronous: cases.find((c) => c.backend === 'sqlite')?.synchronous?.default,
    },
    server: server ?? null,
    durationMs: DURATION_MS,
    rounds: ROUNDS,
    elapsedSeconds: Math.round((performance.now() - started) / 1000),
    variants: variants.map(({ key, label, backend, sync, processes }) => ({
      key,
      label,
      backend,
      sync,
      processes,
    })),
    cases,
    latency,
  }
  const out = process.env.BENCH_OUT ?? root
  mkdirSync(join(out, 'bench'), { recursive: true })
  await writeFile(join(out, 'bench/sqlite-scale.json'), `${JSON.stringify(results, null, 2)}\n`)
  const section = sqliteScaleMarkdown(results)
  const doc = join(out, 'BENCHMARKS.md')
  const text = await readFile(doc, 'utf8').catch(() => '')
  await writeFile(doc, withSection(text, section, 'sqlite-scale'))
  console.log(section)
  console.log(`\n${results.elapsedSeconds} s in all`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await main()
  } catch (error) {
    cleanup()
    throw error
  }
}
