import type { AdmissionCase } from './admission.js'
/**
 * The shapes of bench/results.json, the tables shared by the console report
 * and BENCHMARKS.md (bench/markdown.ts), and the console report itself.
 */
import { CORE_OP_LABELS, CORE_OPS, type CoreOp, type SectionResult } from './core.js'
import {
  type Budget,
  formatHz,
  type Measurement,
  ratio,
  SUBJECT_LABELS,
  SUBJECTS,
} from './harness.js'
import type { MemoryResult } from './memory.js'
import {
  BACKEND_LABELS,
  BACKENDS,
  PG_OP_LABELS,
  PG_OPS,
  type PgOp,
  type PostgresResult,
  SKIPPED_HINT,
} from './postgres.js'
import { LATENCY_LABELS } from './postgres-latency.js'
import { REALISTIC_OPS, type RealisticOp } from './realistic.js'
import { SCALE_OP_LABELS, SCALE_OPS, type ScalingPoint } from './scaling.js'
import {
  flatness,
  fmtDevSpread,
  fmtGc,
  fmtRatioSpread,
  pct,
  type Scaling,
  sizeLabel,
  type TargetResult,
} from './targets.js'

/** Where and how the run was made. */
export type Meta = {
  date: string
  cpu: string
  cores: number
  node: string
  platform: string
  mode: 'full' | 'quick'
  budget: Budget
  taskSizes: number[]
  messageSizes: number[]
  durationSeconds: number
}

/** Everything a run writes to bench/results.json. */
export type Results = {
  meta: Meta
  core: SectionResult<CoreOp>
  realistic: SectionResult<RealisticOp>
  scaling: Scaling
  memory: MemoryResult | undefined
  postgres: PostgresResult
  admission: AdmissionCase[]
  targets: TargetResult[]
}

const MS = 'session-tasks'

/** PASS, MISS, or n/a; `~` marks a verdict whose rounds disagree. */
export function mark(t: TargetResult): string {
  const base = t.pass === undefined ? 'n/a' : t.pass ? 'PASS' : 'MISS'
  return t.straddles === true ? `${base}~` : base
}

/** An aligned plain-text table. */
export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, k) => {
      widths[k] = Math.max(widths[k] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, k) => (k === 0 ? cell.padEnd(widths[k] ?? 0) : cell.padStart(widths[k] ?? 0)))
        .join('  '),
    )
    .join('\n')
}

/** A Markdown table (first row is the header). */
export function mdTable(rows: string[][], numeric = true): string {
  const [header, ...body] = rows
  if (header === undefined) return ''
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
  return [
    line(header),
    `|${header.map((_, k) => (k === 0 || !numeric ? '---' : '---:')).join('|')}|`,
    ...body.map(line),
  ].join('\n')
}

/** Ops/s with its margin, or `—`. */
export function fmtHz(m: Measurement | undefined): string {
  return m === undefined ? '—' : `${formatHz(m.hz)} ±${m.rme.toFixed(1)}%`
}

function fmtRatioOf(a: Measurement | undefined, b: Measurement | undefined): string {
  return a === undefined || b === undefined ? '—' : fmtRatioSpread(ratio(a, b))
}

/** Row labels of the realistic section. */
export const REALISTIC_LABELS: Record<RealisticOp, string> = {
  update: 'update (progress, 1 listener*)',
  get: 'get',
}

/** Ops/s per subject and session-tasks' ratio to each other subject, with spread. */
export function sectionRows<Op extends string>(
  ops: readonly Op[],
  labels: Record<Op, string>,
  section: SectionResult<Op>,
): string[][] {
  const header = [
    'operation (ops/s)',
    ...SUBJECTS.map((s) => SUBJECT_LABELS[s].split(' (')[0] ?? s),
    'vs floor',
    'vs A2A',
    'vs MCP',
  ]
  const rows = [header]
  for (const op of ops) {
    const row = section[op]
    rows.push([
      labels[op],
      ...SUBJECTS.map((s) => fmtHz(row[s])),
      fmtRatioOf(row[MS], row.floor),
      fmtRatioOf(row[MS], row.a2a),
      fmtRatioOf(row[MS], row.mcp),
    ])
  }
  return rows
}

/** GC pause time as a share of each measured run, per subject. */
export function gcSectionRows<Op extends string>(
  ops: readonly Op[],
  labels: Record<Op, string>,
  section: SectionResult<Op>,
): string[][] {
  const rows = [
    ['GC share of run time', ...SUBJECTS.map((s) => SUBJECT_LABELS[s].split(' (')[0] ?? s)],
  ]
  for (const op of ops) {
    const row = section[op]
    rows.push([labels[op], ...SUBJECTS.map((s) => (row[s] === undefined ? '—' : gcCell(row[s])))])
  }
  return rows
}

function gcCell(m: Measurement | undefined): string {
  if (m === undefined) return '—'
  const major = m.runMs > 0 ? (100 * m.majorGcMs) / m.runMs : 0
  return major >= 0.05 ? `${fmtGc(m)} (major ${major.toFixed(1)}%)` : fmtGc(m)
}

/** The label of the information-only random-get row. */
export const GET_RANDOM_LABEL = 'get, random task of the registry (info)'

/** Ops/s per size, each with its change from the smallest size and that change's spread. */
export function scalingRows(points: ScalingPoint[], unit: string): string[][] {
  const rows = [[`ops/s by ${unit}`, ...points.map((p) => sizeLabel(p.size)), 'worst']]
  for (const op of SCALE_OPS) {
    const { ratios, worst } = flatness(points, op)
    rows.push([
      SCALE_OP_LABELS[op],
      ...points.map((p, k) =>
        k === 0 ? fmtHz(p.ops[op]) : `${fmtHz(p.ops[op])} (${fmtDevSpread(ratios[k] ?? worst)})`,
      ),
      pct(worst.value - 1),
    ])
  }
  const first = points[0]?.getRandom
  if (first !== undefined) {
    rows.push([
      GET_RANDOM_LABEL,
      ...points.map((p, k) => {
        const m = p.getRandom
        if (m === undefined) return '—'
        return k === 0 ? fmtHz(m) : `${fmtHz(m)} (${fmtDevSpread(ratio(m, first))})`
      }),
      '',
    ])
  }
  return rows
}

/** GC share per size. */
export function gcScalingRows(points: ScalingPoint[], unit: string): string[][] {
  const rows = [[`GC share by ${unit}`, ...points.map((p) => sizeLabel(p.size))]]
  for (const op of SCALE_OPS) {
    rows.push([SCALE_OP_LABELS[op], ...points.map((p) => gcCell(p.ops[op]))])
  }
  return rows
}

/** The server settings that matter for write latency, as `name=value, ...`. */
export function serverSettings(pg: PostgresResult): string {
  return Object.entries(pg.serverSettings ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(', ')
}

function fmtMs(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)
}

/** The in-memory registry's figure for the same operation, for reference. */
function inMemory(results: Results, op: PgOp): Measurement | undefined {
  if (op === 'list') return results.scaling.tasks.find((p) => p.size === 1_000)?.ops.list
  return results.core[op][MS]
}

/** Ops/s and ms per operation of each PostgreSQL backend. */
export function postgresRows(results: Results): string[][] {
  const pg = results.postgres
  const rows = [
    [
      'operation (ops/s)',
      ...BACKENDS.map((b) => BACKEND_LABELS[b]),
      'in-memory registry*',
      ...BACKENDS.map((b) => `${BACKEND_LABELS[b].split(' (')[0]} ms/op`),
    ],
  ]
  for (const op of PG_OPS) {
    const row = pg.ops[op]
    rows.push([
      PG_OP_LABELS[op],
      ...BACKENDS.map((b) => fmtHz(row[b])),
      fmtHz(inMemory(results, op)),
      ...BACKENDS.map((b) => {
        const m = row[b]
        return m === undefined ? '—' : fmtMs(m.meanNs / 1e6)
      }),
    ])
  }
  return rows
}

/** Event latency percentiles per path. */
export function latencyRows(pg: PostgresResult): string[][] {
  const rows = [
    [
      'event latency, A.update() → B listener (ms)',
      'samples',
      'p50',
      'p95',
      'p99',
      'max',
      'A.update() resolves, p50',
    ],
  ]
  for (const l of pg.latency) {
    rows.push([
      LATENCY_LABELS[l.path],
      String(l.delivery.samples),
      fmtMs(l.delivery.p50Ms),
      fmtMs(l.delivery.p95Ms),
      fmtMs(l.delivery.p99Ms),
      fmtMs(l.delivery.maxMs),
      fmtMs(l.write.p50Ms),
    ])
  }
  return rows
}

/** Prints the whole report to stdout. */
export function printConsole(results: Results): void {
  const { meta } = results
  const lines: string[] = []
  const add = (...more: string[]) => lines.push(...more)
  add(
    '',
    `session-tasks benchmarks (${meta.mode}) — ${meta.cpu}, ${meta.cores} cores, Node ${meta.node}, ${meta.date}`,
    '',
    'Operations, small tasks (ratios: session-tasks ÷ the column [min–max over rounds]; ± is the 95% margin of error)',
    table(sectionRows(CORE_OPS, CORE_OP_LABELS, results.core)),
    '',
    'Realistic task (~1 KB spec, 10 messages of history)',
    table(sectionRows(REALISTIC_OPS, REALISTIC_LABELS, results.realistic)),
    '* peers have no events: their update notifies nobody',
    '',
    'GC share of run time (small tasks)',
    table(gcSectionRows(CORE_OPS, CORE_OP_LABELS, results.core)),
    '',
    'Scaling with finished tasks, interleaved (change from the first size [min…max over rounds])',
    table(scalingRows(results.scaling.tasks, 'finished tasks')),
    table(gcScalingRows(results.scaling.tasks, 'finished tasks')),
    '',
    'The floor, same scaling (reference)',
    table(scalingRows(results.scaling.floorTasks.points, 'finished tasks (floor)')),
    '',
    'Scaling with messages on the task, interleaved',
    table(scalingRows(results.scaling.messages, 'messages')),
    table(gcScalingRows(results.scaling.messages, 'messages')),
    '',
    'PostgreSQL registry (sequential awaits)',
  )
  const pg = results.postgres
  if (pg.server === undefined) add(`server part SKIPPED: ${SKIPPED_HINT}`)
  else add(`${pg.server} (${serverSettings(pg)})`)
  add(`PGlite: ${pg.pglite}`, table(postgresRows(results)), '', table(latencyRows(pg)))
  for (const [path, error] of Object.entries(pg.latencyErrors ?? {})) {
    add(`event latency (${path}) not measured: ${error}`)
  }
  add('', 'Admission: draining a long wait list', table(admissionRows(results.admission)))
  add('', 'Targets (~: the rounds disagree on the verdict)')
  for (const t of results.targets) add(`${mark(t).padEnd(5)} ${t.target}: ${t.value}`)
  add('')
  process.stdout.write(`${lines.join('\n')}\n`)
}

/** The admission drains as table rows. */
export function admissionRows(cases: readonly AdmissionCase[]): string[][] {
  return [
    ['limits', 'queued tasks', 'drain', 'per task'],
    ...cases.map((c) => [
      c.label,
      c.tasks.toLocaleString('en-US'),
      `${(c.ms / 1000).toFixed(2)} s`,
      `${((c.ms * 1000) / c.tasks).toFixed(1)} \u00b5s`,
    ]),
  ]
}
