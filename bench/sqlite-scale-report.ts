/**
 * The figures of `npm run bench:sqlite` (bench/sqlite-scale.ts) and how the
 * "SQLite throughput" section of BENCHMARKS.md shows them.
 */
import type { Percentiles } from './postgres-latency.js'
import type { StatementCost } from './sqlite-open.js'

export const OPS = ['create', 'update', 'lifecycle'] as const
export type Op = (typeof OPS)[number]
export type Backend = 'sqlite' | 'postgres' | 'memory'
export const PROCESSES = [1, 3] as const
/** The latency runs' random spacing: a pause drawn uniformly from [0, MAX_PAUSE_MS) ms before each write. */
export const MAX_PAUSE_MS = 25

/** One row group of the table: a backend, its setting, the process counts it runs at. */
export type Variant = {
  key: string
  backend: Backend
  label: string
  sync?: 'FULL' | 'NORMAL' | undefined
  processes: readonly number[]
}

export type Case = {
  variant: string
  backend: Backend
  op: Op
  processes: number
  opsPerSec: number
  statementsPerOp: number
  /** CPU ms per operation: the processes', and the whole machine's (server included) when /proc/stat is readable. */
  cpuMsPerOp: { processes: number; machine: number | undefined }
  /** SQLite: SQLITE_BUSY retries per operation. */
  busyPerOp?: number | undefined
  /** SQLite: the largest size of the WAL file seen during the measured loop (sampled every 100 ms), in bytes. */
  walPeakBytes?: number | undefined
  /** SQLite: per statement, calls and ms inside the driver per operation (all processes' mean). */
  costs?: Record<string, StatementCost> | undefined
  /** SQLite: `PRAGMA synchronous` as each connection opened (the driver's default in WAL) and as it ran. */
  synchronous?: { default: number; used: number } | undefined
  /** Operations per second of every round, in run order. */
  rounds: number[]
}

/** How A's writes are spaced: at a random point of B's poll interval, or each right after the last delivery. */
export type Spacing = 'random' | 'back-to-back'

export type Latency = {
  key: string
  label: string
  spacing: Spacing
  /** From just before A's `update()` to B's listener, in another process. */
  delivery: Percentiles
  /** A's own `update()` (its commit). */
  write: Percentiles
}

export type Results = {
  date: string
  cpu: string
  cores: number
  node: string
  platform: string
  loadBefore: number[]
  sqlite: {
    version: string
    driver: string
    journalMode: string
    defaultSynchronous: number | undefined
  }
  server: { version: string; fsync: string; synchronousCommit: string } | null
  durationMs: number
  rounds: number
  elapsedSeconds: number
  variants: {
    key: string
    label: string
    backend: Backend
    sync?: string | undefined
    processes: readonly number[]
  }[]
  cases: Case[]
  latency: Latency[]
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))
const SYNC_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA']
// What SqliteSessionTaskRegistry sets when not told otherwise.
const REGISTRY_DEFAULT = 'FULL'

export function sqliteScaleMarkdown(r: Results): string {
  const defaultName =
    r.sqlite.defaultSynchronous === undefined
      ? 'unknown'
      : (SYNC_NAMES[r.sqlite.defaultSynchronous] ?? String(r.sqlite.defaultSynchronous))
  const labelOf = (key: string) => r.variants.find((v) => v.key === key)?.label ?? key
  const find = (variant: string, op: Op, n: number) =>
    r.cases.find((c) => c.variant === variant && c.op === op && c.processes === n)
  const cell = (variant: Results['variants'][number], op: Op, n: number) => {
    if (!variant.processes.includes(n)) {
      return variant.backend === 'memory' ? 'n/a (one process only: not shareable)' : '—'
    }
    const c = find(variant.key, op, n)
    if (c === undefined) return '—'
    return variant.backend === 'memory'
      ? fmt(c.opsPerSec)
      : `${fmt(c.opsPerSec)} (${c.statementsPerOp.toFixed(1)})`
  }
  const rows: string[] = []
  for (const v of r.variants) {
    const label = v.sync === REGISTRY_DEFAULT ? `${v.label} (default)` : v.label
    for (const op of OPS) {
      rows.push(`| ${label} | ${op} | ${PROCESSES.map((n) => cell(v, op, n)).join(' | ')} |`)
    }
  }
  // Where the time of one SQLite operation goes, single process.
  const breakdown: string[] = []
  for (const variant of ['sqlite-full', 'sqlite-normal']) {
    for (const op of OPS) {
      const c = find(variant, op, 1)
      if (c?.costs === undefined) continue
      const entries = Object.entries(c.costs)
      const inside = entries.reduce((t, [, x]) => t + x.ms, 0)
      const commit = c.costs.COMMIT?.ms ?? 0
      const begin = c.costs['BEGIN IMMEDIATE']?.ms ?? 0
      const wall = 1000 / c.opsPerSec
      const top = entries
        .filter(([name]) => name !== 'COMMIT' && name !== 'BEGIN IMMEDIATE')
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, 3)
        .map(([name, x]) => `${name} ${x.ms.toFixed(3)}`)
        .join(', ')
      breakdown.push(
        `| ${labelOf(variant)} | ${op} | ${wall.toFixed(3)} | ${c.cpuMsPerOp.processes.toFixed(3)} | ${inside.toFixed(3)} | ${commit.toFixed(3)} | ${begin.toFixed(3)} | ${(inside - commit - begin).toFixed(3)} | ${(wall - inside).toFixed(3)} | ${top} |`,
      )
    }
  }
  const detailRows = r.cases
    .filter((c) => c.backend === 'sqlite')
    .map((c) => {
      const machine = c.cpuMsPerOp.machine === undefined ? '—' : c.cpuMsPerOp.machine.toFixed(2)
      return `| ${labelOf(c.variant)} | ${c.op} | ${c.processes} | ${(c.busyPerOp ?? 0).toFixed(2)} | ${((c.walPeakBytes ?? 0) / 1048576).toFixed(1)} | ${c.cpuMsPerOp.processes.toFixed(2)} | ${machine} |`
    })
  const server = r.server
  const pgText =
    server === null
      ? 'PostgreSQL was not in this run (no BENCH_DATABASE_URL or TEST_DATABASE_URL).'
      : `PostgreSQL ${server.version} on 127.0.0.1 with \`fsync=${server.fsync}\`, \`synchronous_commit=${server.synchronousCommit}\`, its data directory on the same disk as the SQLite files, new tables per case; each process a pool of 3 and its registry started (LISTEN).`
  const latencyRows = r.latency.map(
    (l) =>
      `| ${l.label} | ${l.spacing} | ${l.delivery.p50Ms.toFixed(2)} | ${l.delivery.p95Ms.toFixed(2)} | ${l.delivery.p99Ms.toFixed(2)} | ${l.delivery.maxMs.toFixed(2)} | ${l.write.p50Ms.toFixed(2)} |`,
  )
  const driverDefault =
    r.sqlite.driver === 'better-sqlite3'
      ? '; better-sqlite3 is built with `SQLITE_DEFAULT_WAL_SYNCHRONOUS=1`, where SQLite’s own default is FULL'
      : ''
  return [
    '## SQLite throughput',
    '',
    `SQLite ${r.sqlite.version} (\`select sqlite_version()\`) through ${r.sqlite.driver}, a new database file per case in the OS temp folder (${r.platform}), WAL mode (\`migrate\`), every process on its own connection; ${pgText} ${r.cpu}, ${r.cores} cores shared by the server and every process; Node ${r.node}; load average ${r.loadBefore.join(', ')} before the run; ${r.date.slice(0, 10)} (\`npm run bench:sqlite\`, \`bench/sqlite-scale.ts\`, ${r.elapsedSeconds} s in all). Each process (forked once, then given one case after another) runs one loop, every call awaited before the next, for ${r.durationMs / 1000} s after 20 warm-up calls; the figure is all processes' operations per second (the median of ${r.rounds} round${r.rounds === 1 ? '' : 's'}, each round running every case once in turn), and in brackets the statements per operation (SQLite: every driver call, BEGIN IMMEDIATE, COMMIT and the \`PRAGMA data_version\` of the poll included; PostgreSQL: every query a \`pg\` client sent).`,
    '',
    "- Operations as in the PostgreSQL throughput section: `create` (a queued task), `update` (progress of one running task), `lifecycle` = create, `claim` (queued → running, fenced on the attempt) and `update` to `succeeded`; one session per process; SQLite and PostgreSQL registries started, so each process is told of every other process's writes (SQLite: a poll of `PRAGMA data_version` every 20 ms, and the feed read at the start of every write).",
    `- The registry sets \`synchronous\` on its connection: FULL unless given \`synchronous: 'NORMAL'\`. Left alone, a ${r.sqlite.driver} connection on a WAL file would start at \`${defaultName}\` (read in each worker before the registry opened${driverDefault}). FULL syncs the WAL at every commit, durable like PostgreSQL with \`fsync=on\`; NORMAL syncs only at checkpoints, so a power loss can drop the last commits (never corrupt the file).`,
    '- The in-memory registry lives in one process and cannot be shared between processes, so it has no multi-process figure.',
    '- SQLite has one writer at a time: a write that finds the lock taken fails with SQLITE_BUSY and is retried (a 5 ms wait inside SQLite, then asynchronous pauses). The retries per operation, the largest WAL file and the CPU time per operation are in the third table.',
    '- The host is shared (a commit’s sync on its virtual disk varies several-fold from one second to the next): compare the rows of one run.',
    '',
    `| backend | operation | ${PROCESSES.map((n) => (n === 1 ? '1 process' : `${n} processes`)).join(' | ')} |`,
    `|---|---|${PROCESSES.map(() => '---:').join('|')}|`,
    ...rows,
    '',
    "Where the time of one SQLite operation goes, 1 process, in ms per operation: wall time (1 / throughput), CPU time of the process, time inside driver calls (all of them; COMMIT, which includes the WAL sync under FULL and the checkpoints, and BEGIN IMMEDIATE apart, then the other statements), the time outside them (the library's JavaScript: validation, rules, JSON, events, promise hops), and the three costliest other statements.",
    '',
    '| setting | operation | wall | CPU | in SQLite | COMMIT | BEGIN | other statements | outside SQLite | costliest statements |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...breakdown,
    '',
    'SQLite per case: SQLITE_BUSY retries per operation; the largest size of the WAL file seen while the loops ran (sampled every 100 ms; SQLite checkpoints it once it passes 1000 pages, 4 MB, but writing restarts at its start only when a checkpoint has caught up and no other connection is reading it, which writers that never pause rarely allow; so each registry also asks for a TRUNCATE checkpoint every 1000 of its commits, which empties the file when it gets through); CPU ms per operation: the processes’ (`process.cpuUsage()`) and the whole machine’s (`/proc/stat`, anything else running included).',
    '',
    '| setting | operation | processes | busy retries/op | WAL peak MB | CPU, processes | CPU, machine |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...detailRows,
    '',
    `Event latency to another process: A (this process, its registry started) updates a task's progress, B (a child process with its own connection or pool, registry started) hears the \`task.updated\`, measured on the monotonic clock shared by both, ${r.latency[0]?.delivery.samples ?? 0} samples per row while idle, after 30 warm-up ones; SQLite at \`synchronous\` ${REGISTRY_DEFAULT} (the registry's default). *random*: A waits a random 0–${MAX_PAUSE_MS - 1} ms before each update, so that it lands anywhere in B's poll interval, as unrelated writes do; *back-to-back*: each update right after B reported the last one, which for a polling B is right after a poll, so nearly a whole interval goes by (the method of the PostgreSQL throughput section). The last column is A's own \`update()\`, its commit.`,
    '',
    "| path | writes | p50 ms | p95 ms | p99 ms | max ms | A's write p50 ms |",
    '|---|---|---:|---:|---:|---:|---:|',
    ...latencyRows,
  ].join('\n')
}
