/**
 * Turns the measurements into the console report, bench/results.json,
 * BENCHMARKS.md and the hand-written SVG chart of the scaling runs.
 */
import {
  CORE_OP_LABELS,
  CORE_OPS,
  type CoreOp,
  REALISTIC_OPS,
  type RealisticOp,
  type SectionResult,
} from './core.js'
import {
  formatHz,
  type Measurement,
  ratio,
  SUBJECT_LABELS,
  SUBJECTS,
  type Subject,
} from './harness.js'
import {
  BACKEND_LABELS,
  BACKENDS,
  LATENCY_LABELS,
  PG_OP_LABELS,
  PG_OPS,
  type PgOp,
  type PostgresResult,
  SKIPPED_HINT,
} from './postgres.js'
import {
  type FloorScaling,
  type MemoryResult,
  SCALE_OP_LABELS,
  SCALE_OPS,
  type ScaleOp,
  type ScalingPoint,
} from './scaling.js'

export type Meta = {
  date: string
  cpu: string
  cores: number
  node: string
  platform: string
  mode: 'full' | 'quick'
  budget: { timeMs: number; warmupMs: number; rounds: number }
  taskSizes: number[]
  messageSizes: number[]
  durationSeconds: number
}

export type Results = {
  meta: Meta
  core: SectionResult<CoreOp>
  realistic: SectionResult<RealisticOp>
  scaling: Scaling
  memory: MemoryResult | undefined
  postgres: PostgresResult
  targets: TargetResult[]
}

/** The scaling runs; `floorTasks` is the floor's task scaling, for reference. */
export type Scaling = {
  tasks: ScalingPoint[]
  messages: ScalingPoint[]
  floorTasks: FloorScaling
}

export type TargetResult = {
  target: string
  /** `undefined` when it could not be measured (no `--expose-gc`). */
  pass: boolean | undefined
  value: string
}

const FLAT = 0.25
const MESSAGES_PER_TASK_LABEL = '100'
const MS = 'session-tasks' satisfies Subject

function fmtRatio(value: number): string {
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`
}

function fmtHz(m: Measurement | undefined): string {
  return m === undefined ? '—' : `${formatHz(m.hz)} ±${m.rme.toFixed(1)}%`
}

function fmtRatioOf(a: Measurement | undefined, b: Measurement | undefined): string {
  if (a === undefined || b === undefined) return '—'
  const r = ratio(a, b)
  return `${fmtRatio(r.value)} ±${r.rme.toFixed(0)}%`
}

function sizeLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`
  return String(n)
}

/** Worst relative change of an operation's ops/s from the first size. */
export function flatness(
  points: { size: number; ops: Record<ScaleOp, Measurement> }[],
  op: ScaleOp,
): { worst: number; devs: number[] } {
  const first = points[0]?.ops[op].hz ?? Number.NaN
  const devs = points.map((p) => p.ops[op].hz / first - 1)
  const worst = devs.reduce((w, d) => (Math.abs(d) > Math.abs(w) ? d : w), 0)
  return { worst, devs }
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%`
}

export function evaluateTargets(
  core: SectionResult<CoreOp>,
  realistic: SectionResult<RealisticOp>,
  scaling: Scaling,
  memory: MemoryResult | undefined,
): TargetResult[] {
  const out: TargetResult[] = []
  const against = (
    target: string,
    a: Measurement | undefined,
    b: Measurement | undefined,
    min: number,
    what: string,
  ) => {
    if (a === undefined || b === undefined) {
      out.push({ target, pass: undefined, value: 'not measured' })
      return
    }
    const r = ratio(a, b)
    out.push({
      target,
      pass: r.value >= min,
      value: `${fmtRatio(r.value)} ±${r.rme.toFixed(0)}% ${what} (${formatHz(a.hz)} vs ${formatHz(b.hz)} ops/s)`,
    })
  }
  against(
    'update with one listener ≥ 1/3 of the floor',
    core.update[MS],
    core.update.floor,
    1 / 3,
    'of the floor',
  )
  against('get ≥ 1/2 of the floor', core.get[MS], core.get.floor, 1 / 2, 'of the floor')
  against(
    'update ≥ 10× the A2A store (realistic task)',
    realistic.update[MS],
    realistic.update.a2a,
    10,
    'the A2A store',
  )
  against(
    'get ≥ 10× the A2A store (realistic task)',
    realistic.get[MS],
    realistic.get.a2a,
    10,
    'the A2A store',
  )
  against(
    'update ≥ 1/3 of the MCP store (realistic task)',
    realistic.update[MS],
    realistic.update.mcp,
    1 / 3,
    'of the MCP store',
  )
  for (const [dimension, points, unit, reference] of [
    ['tasks', scaling.tasks, 'tasks', scaling.floorTasks.points],
    ['messages per task', scaling.messages, 'messages', undefined],
  ] as const) {
    const first = points[0]
    const last = points.at(-1)
    if (first === undefined || last === undefined) continue
    for (const op of SCALE_OPS) {
      const { worst, devs } = flatness(points, op)
      out.push({
        target: `${SCALE_OP_LABELS[op]} flat within ±25%, ${sizeLabel(first.size)} → ${sizeLabel(last.size)} ${dimension}`,
        pass: Math.abs(worst) <= FLAT,
        value: `worst ${pct(worst)} (${points.map((p, k) => `${sizeLabel(p.size)} ${unit}: ${formatHz(p.ops[op].hz)}${k === 0 ? '' : ` ${pct(devs[k] ?? 0)}`}`).join(', ')})${reference === undefined || reference.length === 0 ? '' : `; the floor: worst ${pct(flatness(reference, op).worst)}`}`,
      })
    }
  }
  if (memory === undefined) {
    out.push({
      target: '≤ 1 KB heap per finished task',
      pass: undefined,
      value: 'run with node --expose-gc',
    })
    out.push({
      target: '≤ 300 bytes per short message',
      pass: undefined,
      value: 'run with node --expose-gc',
    })
  } else {
    out.push({
      target: `≤ 1 KB heap per finished task (at ${sizeLabel(memory.tasks)} tasks)`,
      pass: memory.bytesPerTask <= 1024,
      value: `${memory.bytesPerTask.toFixed(0)} B per task (heap +${(memory.taskHeapDelta / 2 ** 20).toFixed(1)} MB for ${memory.finishedTasks.toLocaleString('en-US')} finished tasks, less ${memory.specTextBytes.toFixed(1)} B of spec JSON each); the floor: ${scaling.floorTasks.bytesPerTask.toFixed(0)} B`,
    })
    out.push({
      target: `≤ 300 bytes per short message (at ${sizeLabel(memory.tasks)} tasks)`,
      pass: memory.bytesPerMessage <= 300,
      value: `${memory.bytesPerMessage.toFixed(0)} B per message (${sizeLabel(memory.messages)} messages, ${MESSAGES_PER_TASK_LABEL} on each of ${sizeLabel(memory.messageTasks)} tasks, less ${memory.messageTextBytes.toFixed(1)} B of text each); ${memory.bytesPerMessageSingleTask.toFixed(0)} B each for ${memory.singleTaskMessages.toLocaleString('en-US')} on one task`,
    })
  }
  return out
}

function mark(pass: boolean | undefined): string {
  return pass === undefined ? 'n/a ' : pass ? 'PASS' : 'MISS'
}

// ---------------------------------------------------------------- console

function table(rows: string[][]): string {
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

function sectionRows<Op extends string>(
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

function scalingRows(points: ScalingPoint[], unit: string): string[][] {
  const rows = [[`ops/s by ${unit}`, ...points.map((p) => sizeLabel(p.size)), 'worst']]
  const row = (label: string, values: (Measurement | undefined)[]) => {
    const first = values[0]?.hz ?? Number.NaN
    const devs = values.map((m) => (m === undefined ? Number.NaN : m.hz / first - 1))
    const worst = devs.reduce((w, d) => (Math.abs(d) > Math.abs(w) ? d : w), 0)
    rows.push([
      label,
      ...values.map((m, k) => `${fmtHz(m)}${k === 0 ? '' : ` (${pct(devs[k] ?? 0)})`}`),
      pct(worst),
    ])
  }
  for (const op of SCALE_OPS)
    row(
      SCALE_OP_LABELS[op],
      points.map((p) => p.ops[op]),
    )
  if (points.some((p) => p.getRandom !== undefined)) {
    row(
      GET_RANDOM_LABEL,
      points.map((p) => p.getRandom),
    )
  }
  return rows
}

const GET_RANDOM_LABEL = 'get, random task of the registry (info)'

const REALISTIC_LABELS: Record<RealisticOp, string> = {
  update: 'update (progress, 1 listener*)',
  get: 'get',
}

export function printConsole(results: Results): void {
  const { meta } = results
  const lines: string[] = []
  lines.push('')
  lines.push(
    `session-tasks benchmarks (${meta.mode}) — ${meta.cpu}, ${meta.cores} cores, Node ${meta.node}, ${meta.date}`,
  )
  lines.push('')
  lines.push(
    'Operations, small tasks (ratios: session-tasks ÷ the column; ± is the 95% margin of error)',
  )
  lines.push(table(sectionRows(CORE_OPS, CORE_OP_LABELS, results.core)))
  lines.push('')
  lines.push('Realistic task (~1 KB spec, 10 messages of history)')
  lines.push(table(sectionRows(REALISTIC_OPS, REALISTIC_LABELS, results.realistic)))
  lines.push('* peers have no events: their update notifies nobody')
  lines.push('')
  lines.push('Scaling with total tasks (change from the first size)')
  lines.push(table(scalingRows(results.scaling.tasks, 'total tasks')))
  lines.push('')
  lines.push('The floor, same scaling (reference)')
  lines.push(table(scalingRows(results.scaling.floorTasks.points, 'total tasks (floor)')))
  lines.push('')
  lines.push('Scaling with messages on the task')
  lines.push(table(scalingRows(results.scaling.messages, 'messages')))
  lines.push('')
  lines.push('PostgreSQL registry (sequential awaits)')
  if (results.postgres.server === undefined) {
    lines.push(`server part SKIPPED: ${SKIPPED_HINT}`)
  } else {
    lines.push(`${results.postgres.server} (${serverSettings(results.postgres)})`)
  }
  lines.push(`PGlite: ${results.postgres.pglite}`)
  lines.push(table(postgresRows(results)))
  lines.push('')
  lines.push(table(latencyRows(results.postgres)))
  for (const [path, error] of Object.entries(results.postgres.latencyErrors ?? {})) {
    lines.push(`event latency (${path}) not measured: ${error}`)
  }
  lines.push('')
  lines.push('Targets')
  for (const t of results.targets) lines.push(`${mark(t.pass)}  ${t.target}: ${t.value}`)
  lines.push('')
  process.stdout.write(`${lines.join('\n')}\n`)
}

// ---------------------------------------------------------------- postgres

function serverSettings(pg: PostgresResult): string {
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

function postgresRows(results: Results): string[][] {
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

function latencyRows(pg: PostgresResult): string[][] {
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

function postgresMarkdown(results: Results): string[] {
  const pg = results.postgres
  const out: string[] = []
  out.push('## PostgreSQL')
  out.push('')
  out.push(
    '`PostgresSessionTaskRegistry` (`session-tasks/postgres`) on a PostgreSQL server over loopback (node-postgres `pg.Pool` through `fromPgPool`) and on PGlite (PostgreSQL compiled to WebAssembly, in this process, through `fromPGlite`). Each operation is awaited before the next one starts, so ops/s is one caller\u2019s rate (1000 / ms per operation); a server serves many callers at once, which this does not measure.',
  )
  out.push('')
  if (pg.server === undefined) {
    out.push(
      `**Server part skipped in this run**: no \`BENCH_DATABASE_URL\` or \`TEST_DATABASE_URL\` was set. Run \`bash scripts/with-postgres.sh npm run bench\` (a throwaway PostgreSQL server on 127.0.0.1) to include it; the PGlite figures below are measured either way.`,
    )
    out.push('')
  } else {
    const settings = pg.serverSettings ?? {}
    const volatile = settings.fsync === 'off' || settings.synchronous_commit === 'off'
    out.push(
      `- Server: ${pg.server}; ${serverSettings(pg)}.${volatile ? ' Commits do not wait for the disk (the throwaway server of `scripts/with-postgres.sh` runs with `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`), so writes here are faster than on a durable server, where each one also waits for its WAL flush.' : ''}`,
    )
  }
  out.push(`- PGlite: ${pg.pglite}, in memory.`)
  out.push(
    `- tinybench ${pg.budget.timeMs} ms per case in ${pg.budget.rounds} ${pg.server === undefined ? 'rounds' : 'interleaved rounds (server and PGlite in turn)'} after ${pg.budget.warmupMs} ms warm-up; section ${pg.durationSeconds.toFixed(0)} s.`,
  )
  out.push('')
  out.push(mdTable(postgresRows(results)))
  out.push('')
  out.push(
    '\\* `InMemorySessionTaskRegistry` in this run, for reference: the Operations table above (create, update, get, recordMessage), and for list the task scaling at 1k tasks (a session of 100).',
  )
  out.push('')
  out.push('### Event latency')
  out.push('')
  out.push(
    `Registry A updates a task\u2019s progress (its transaction ends with a NOTIFY); registry B, which has called \`start()\` and listens to the session, gets the notification, reads the event from the events table and calls its listener. On the server B has its own pool, so its own LISTEN connection and its own connection for the read; on PGlite both share the one database. Measured from just before \`A.update()\` is called to B\u2019s listener (so it includes A\u2019s transaction), one update at a time, ${pg.latency[0]?.delivery.samples ?? 300} samples after 30 discarded. In the *another process* row B runs in a child process (\`bench/postgres-listener.ts\`) that reads the monotonic clock (\`process.hrtime\`, \`CLOCK_MONOTONIC\`, shared by every process on the machine) in its listener and reports the reading over IPC, which is not in the measured time. The last column is A\u2019s own write latency in the same samples.`,
  )
  out.push('')
  if (pg.latency.length > 0) out.push(mdTable(latencyRows(pg)))
  for (const [path, error] of Object.entries(pg.latencyErrors ?? {})) {
    out.push('')
    out.push(`Event latency (${path}) not measured: ${error}`)
  }
  if (pg.server === undefined) {
    out.push('')
    out.push('Server rows (another process, separate pools): not measured in this run, see above.')
  }
  return out
}

// ---------------------------------------------------------------- markdown

function mdTable(rows: string[][], numeric = true): string {
  const [header, ...body] = rows
  if (header === undefined) return ''
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
  return [
    line(header),
    `|${header.map((_, k) => (k === 0 || !numeric ? '---' : '---:')).join('|')}|`,
    ...body.map(line),
  ].join('\n')
}

export function markdown(results: Results): string {
  const { meta, memory } = results
  const out: string[] = []
  out.push('# Benchmarks')
  out.push('')
  out.push(
    'Generated by `npm run bench` (`bench/index.ts`); do not edit by hand. Raw numbers are in [`bench/results.json`](bench/results.json), the scaling chart is [`bench/scaling.svg`](bench/scaling.svg).',
  )
  out.push('')
  out.push(`- Machine: ${meta.cpu}, ${meta.cores} cores (${meta.platform})`)
  out.push(`- Node ${meta.node}, ${meta.date}`)
  out.push(
    `- Mode: ${meta.mode === 'full' ? 'full' : 'quick (`BENCH_QUICK=1`: scaling to 100k tasks, shorter budgets; not the targets\u2019 full range)'}; tinybench ${meta.budget.timeMs} ms per case in ${meta.budget.rounds} interleaved rounds after ${meta.budget.warmupMs} ms warm-up; whole run ${meta.durationSeconds.toFixed(0)} s`,
  )
  out.push('')
  out.push('## Targets')
  out.push('')
  out.push(
    mdTable(
      [
        ['', 'target', 'measured'],
        ...results.targets.map((t) => [mark(t.pass).trim(), t.target, t.value]),
      ],
      false,
    ),
  )
  out.push('')
  out.push('## Operations')
  out.push('')
  out.push(
    'Operations per second (mean of batch means, ± the 95% margin of error). Ratios are session-tasks divided by the column. Small tasks (spec `{ n }`) in a store of 1k tasks per subject in sessions of 100 (list: 100k tasks, one subject’s store at a time), with one listener on the session under test; `—`: no equivalent operation.',
  )
  out.push('')
  out.push(mdTable(sectionRows(CORE_OPS, CORE_OP_LABELS, results.core)))
  out.push('')
  out.push('### Realistic task (~1 KB spec, 10 messages of history)')
  out.push('')
  out.push(mdTable(sectionRows(REALISTIC_OPS, REALISTIC_LABELS, results.realistic)))
  out.push('')
  out.push('\\* A2A and MCP have no events; their update notifies nobody.')
  out.push('')
  out.push('## Scaling')
  out.push('')
  out.push('![ops/s relative to the smallest size](bench/scaling.svg)')
  out.push('')
  out.push(mdTable(scalingRows(results.scaling.tasks, 'total tasks')))
  out.push('')
  out.push('The floor under the same scaling run, for reference:')
  out.push('')
  out.push(mdTable(scalingRows(results.scaling.floorTasks.points, 'total tasks (floor)')))
  out.push('')
  out.push(mdTable(scalingRows(results.scaling.messages, 'messages on the task')))
  out.push('')
  out.push('## Memory')
  out.push('')
  if (memory === undefined) {
    out.push('Not measured: run with `node --expose-gc` (the npm script does).')
  } else {
    out.push(
      mdTable([
        ['measure', 'value'],
        ['tasks in the registry', memory.tasks.toLocaleString('en-US')],
        ['heap per finished task (spec JSON subtracted)', `${memory.bytesPerTask.toFixed(0)} B`],
        ['spec JSON per task (subtracted)', `${memory.specTextBytes.toFixed(1)} B`],
        [
          'the floor, heap per finished task (reference)',
          `${results.scaling.floorTasks.bytesPerTask.toFixed(0)} B`,
        ],
        [
          `heap per short message (${MESSAGES_PER_TASK_LABEL} per task on ${memory.messageTasks.toLocaleString('en-US')} tasks; text subtracted)`,
          `${memory.bytesPerMessage.toFixed(0)} B`,
        ],
        ['message text per message (subtracted)', `${memory.messageTextBytes.toFixed(1)} B`],
        [
          `heap per message, ${memory.singleTaskMessages.toLocaleString('en-US')} on one task (text subtracted)`,
          `${memory.bytesPerMessageSingleTask.toFixed(0)} B`,
        ],
      ]),
    )
  }
  out.push('')
  out.push(...postgresMarkdown(results))
  out.push('')
  out.push('## Method')
  out.push('')
  out.push(METHOD)
  return `${out.join('\n')}\n`
}

const METHOD = `- **One process, one run.** Every case runs in the same Node process with the same tinybench settings. Each tinybench sample is the mean of a batch of calls sized to ~2 ms (a single call of the fastest operations is below what one timer read resolves, and a batch that long carries its share of young-generation GC). The time per case is split into rounds that run the compared cases in turn (floor, session-tasks, A2A, MCP, then again), and the samples of all rounds are pooled: ops/s is 1000 / the mean of the batch means, and ± is the 95% relative margin of error of that mean (Student's t). Ratio margins add the two margins in quadrature. Between sections (and after each 100k-task list store) the heap is collected and left to settle, so no section pays for collecting what the previous one built; the first size of each scaling run is preceded by a discarded warm-up pass.
- **The floor** (\`bench/floor.ts\`) is the least this design can do: records in a \`Map\`, an update is one lookup, one object spread and one \`mitt\` emit on the session's emitter; a read is a lookup and a spread; no validation, no lifecycle rules, no deep copies, no secondary indexes, no clock read except where the operation is a timestamp (create, heartbeat). Its methods are \`async\` like the registry's, so both pay the same \`await\`.
- **session-tasks** is \`InMemorySessionTaskRegistry\` through its public API (validation, lifecycle rules, detached copies, replay buffer, events), with a clock that advances 1 ms per call so that every write changes the record (a heartbeat within the same millisecond would otherwise be a no-op). Heartbeat goes through \`RegistryTaskSink.heartbeat()\`; the supervisor case is \`createTaskSupervisor\` with an isolated \`TaskExecutorRegistry\` whose \`start\` moves the task to running and then succeeded through \`ctx.sink\`, measured from \`spawn\` to \`wait\` resolving.
- **A2A** (\`@a2a-js/sdk\` \`InMemoryTaskStore\`): create is \`save\` of a new \`Task\`; update is what A2A's ResultManager does for a status update (\`load\`, replace \`status\` with a working state and a status message carrying the progress, \`save\`; the status message is not appended to \`history\`, which would grow without bound); get is \`load\`; list is \`list\` filtered by \`contextId\` (= session), one page of 100. Each call deep-copies with \`structuredClone\`.
- **MCP** (\`@modelcontextprotocol/sdk\` experimental \`InMemoryTaskStore\`): create is \`createTask\` for a \`tools/call\` request whose arguments are the spec; update is \`updateTaskStatus(id, 'working', progressText)\`, which mutates in place; get is \`getTask\` (a shallow copy); list pages through \`listTasks\` for the session (10 per page, each page scans the whole store); the lifecycle ends with \`storeTaskResult\`. MCP tasks have no progress object, no history and no events.
- **Realistic task**: a ~1 KB JSON spec (A2A: \`metadata\`; MCP: the request arguments) and 10 messages (session-tasks: recorded messages; A2A: \`history\`; MCP: none).
- **Scaling**: one registry is filled with finished tasks (created, running, succeeded) in sessions of 100 and measured at each size on the session under test: get of one of its 100 tasks, update of one of its 99 running tasks (one listener), list of the session, listMessages (limit 20) of its task with 1,000 messages. The sizes are measured one after another (the registry only grows), so unlike the operations above they are not interleaved, and load from elsewhere on the machine shows up as noise between sizes. For information only, *get, random task of the registry* reads a task drawn at random (seeded reservoir sample of 1,024) from the whole registry: the registry's lookup is a \`Map\` get either way, so a drop at large sizes is likely cache misses (the target operations touch the same 100 tasks, which stay in cache). The floor runs the same task scaling after the registry (its own store, same layout and operations), as a reference for what any JavaScript store of that size pays. Message scaling grows one task of a 1k-task registry and measures get, update and listMessages on that task and list of its session. Flat means every size within ±25% of the smallest. At 1M tasks the heap is over 1 GB; the floor's run shows what a store of that size pays regardless of design (though the floor allocates less per operation, so it feeds the collector less).
- **Memory**: heap used after forced GCs (\`--expose-gc\`), read after the benchmarks at the smallest and at the largest size of the scaling registry (not before filling: a forced GC slows what runs right after it); the delta divided by the finished tasks added in between, less their spec's JSON length (as the issue asks). It includes everything the registry keeps for a task with default options, notably the per-session replay buffer (1000 events), which holds the earlier versions of a record while its events are buffered (sessions of 100 finished tasks never overflow it), and, negligibly at 1M tasks, what the benchmarks left in the session under test (at most 1000 buffered events). Messages: 100 short messages (\`step N ok\`) on each of 1,000 new tasks in the full registry (one session each, so no replay buffer overflows and frees older events), heap delta per message less the text length; this includes each task's message log and the buffered event. The single-task figure is the same on the message-scaling task, between its smallest and largest message counts. The floor's figure is measured the same way on its own scaling run.
- **PostgreSQL** (\`bench/postgres.ts\`): runs last, when \`BENCH_DATABASE_URL\` or \`TEST_DATABASE_URL\` is set against that server (\`pg\` is imported only then), and always on PGlite. The tables are created by \`migrate\` under a unique prefix (\`bench_…_\`) and dropped at the end. Each backend gets a registry that has called \`start()\` (LISTEN, as a deployed one would; it ignores its own notifications) with one listener on the session under test, and a store of 1k small tasks in sessions of 100 built through the API, the target session's 100 running: update sets the progress of one of them (one transaction: lock the row, store the record and the event, NOTIFY), get reads one, list reads the session's 100, recordMessage appends to a task of another session, create (measured last, so that the others run on exactly those 1k tasks) adds tasks to 1,000 other sessions. Each call is awaited before the next, through the same harness as above (batches of ~2 ms are one or a few calls here). Event latency: see the section above; the server is measured with B in a child process and with B in this process on a second pool, PGlite with both registries on its one in-process database (PGlite cannot be shared between processes).`

// ---------------------------------------------------------------- svg

const COLORS: Record<ScaleOp, string> = {
  get: '#1f77b4',
  update: '#d62728',
  list: '#2ca02c',
  listMessages: '#9467bd',
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

function panel(
  points: ScalingPoint[],
  reference: { size: number; ops: Record<ScaleOp, Measurement> }[] | undefined,
  title: string,
  xLabel: string,
  x0: number,
  y0: number,
  w: number,
  h: number,
): string {
  const out: string[] = []
  const left = x0 + 56
  const right = x0 + w - 28
  const top = y0 + 34
  const bottom = y0 + h - 150
  out.push(
    `<text x="${(left + right) / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  )
  if (points.length === 0) return out.join('\n')
  const firstRandom = points[0]?.getRandom?.hz
  const randomRel = points.map((p) =>
    p.getRandom === undefined || firstRandom === undefined
      ? undefined
      : p.getRandom.hz / firstRandom,
  )
  const rel = [
    ...SCALE_OPS.flatMap((op) => flatness(points, op).devs.map((d) => d + 1)),
    ...SCALE_OPS.flatMap((op) =>
      reference === undefined ? [] : flatness(reference, op).devs.map((d) => d + 1),
    ),
    ...randomRel.filter((v): v is number => v !== undefined),
  ].filter((v) => Number.isFinite(v))
  const yMin = Math.max(0, Math.min(0.5, Math.floor(Math.min(...rel) * 4) / 4))
  const yMax = Math.max(1.5, Math.ceil(Math.max(...rel) * 4) / 4)
  const sizes = points.map((p) => p.size)
  const lx0 = Math.log10(Math.min(...sizes))
  const lx1 = Math.log10(Math.max(...sizes))
  const sx = (size: number) =>
    lx1 === lx0
      ? (left + right) / 2
      : left + ((Math.log10(size) - lx0) / (lx1 - lx0)) * (right - left)
  const sy = (v: number) => bottom - ((v - yMin) / (yMax - yMin)) * (bottom - top)
  // The ±25% band, the axes and the gridlines.
  out.push(
    `<rect x="${left}" y="${sy(1 + FLAT)}" width="${right - left}" height="${sy(1 - FLAT) - sy(1 + FLAT)}" fill="#2ca02c" fill-opacity="0.08"/>`,
  )
  for (let v = Math.ceil(yMin * 4) / 4; v <= yMax + 1e-9; v += 0.25) {
    const y = sy(v).toFixed(1)
    out.push(
      `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${Math.abs(v - 1) < 1e-9 ? '#888' : '#e5e5e5'}" stroke-width="1"/>`,
    )
    out.push(
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${v.toFixed(2)}×</text>`,
    )
  }
  for (const size of sizes) {
    const x = sx(size).toFixed(1)
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#f0f0f0"/>`)
    out.push(
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle" font-size="11">${sizeLabel(size)}</text>`,
    )
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`)
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`)
  out.push(
    `<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle" font-size="12">${esc(xLabel)} (log scale)</text>`,
  )
  out.push(
    `<text x="${x0 + 14}" y="${(top + bottom) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${(top + bottom) / 2})">ops/s ÷ ops/s at ${sizeLabel(sizes[0] ?? 0)}</text>`,
  )
  for (const op of SCALE_OPS) {
    const { devs } = flatness(points, op)
    const coords = points.map(
      (p, k) => `${sx(p.size).toFixed(1)},${sy((devs[k] ?? 0) + 1).toFixed(1)}`,
    )
    out.push(
      `<polyline points="${coords.join(' ')}" fill="none" stroke="${COLORS[op]}" stroke-width="2"/>`,
    )
    for (const c of coords) {
      const [cx, cy] = c.split(',')
      out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${COLORS[op]}"/>`)
    }
  }
  if (reference !== undefined && reference.length === points.length) {
    for (const op of SCALE_OPS) {
      const { devs } = flatness(reference, op)
      const coords = reference.map(
        (p, k) => `${sx(p.size).toFixed(1)},${sy((devs[k] ?? 0) + 1).toFixed(1)}`,
      )
      out.push(
        `<polyline points="${coords.join(' ')}" fill="none" stroke="${COLORS[op]}" stroke-width="1.2" stroke-dasharray="1 3" stroke-linecap="round"/>`,
      )
    }
    const y = bottom + 56 + (SCALE_OPS.length + 1) * 16
    out.push(
      `<line x1="${left}" y1="${y - 7}" x2="${left + 14}" y2="${y - 7}" stroke="#555" stroke-width="1.2" stroke-dasharray="1 3" stroke-linecap="round"/>`,
    )
    out.push(
      `<text x="${left + 20}" y="${y - 3}" font-size="11">dotted, same colors: the floor in the same scaling run</text>`,
    )
  }
  if (randomRel.every((v) => v !== undefined)) {
    const coords = points.map(
      (p, k) => `${sx(p.size).toFixed(1)},${sy(randomRel[k] ?? 1).toFixed(1)}`,
    )
    out.push(
      `<polyline points="${coords.join(' ')}" fill="none" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    )
    const first = points[0]?.getRandom
    const last = points.at(-1)?.getRandom
    const y = bottom + 56 + SCALE_OPS.length * 16
    out.push(
      `<line x1="${left}" y1="${y - 7}" x2="${left + 14}" y2="${y - 7}" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="4 2"/>`,
    )
    out.push(
      `<text x="${left + 20}" y="${y - 3}" font-size="11">${esc(`${GET_RANDOM_LABEL}: ${first === undefined ? '' : formatHz(first.hz)} → ${last === undefined ? '' : formatHz(last.hz)} ops/s`)}</text>`,
    )
  }
  // Legend: absolute ops/s at the smallest and largest size.
  SCALE_OPS.forEach((op, k) => {
    const y = bottom + 56 + k * 16
    const first = points[0]?.ops[op]
    const last = points.at(-1)?.ops[op]
    const text = `${SCALE_OP_LABELS[op]}: ${first === undefined ? '' : formatHz(first.hz)} → ${last === undefined ? '' : formatHz(last.hz)} ops/s`
    out.push(`<rect x="${left}" y="${y - 9}" width="14" height="4" fill="${COLORS[op]}"/>`)
    out.push(`<text x="${left + 20}" y="${y - 3}" font-size="11">${esc(text)}</text>`)
  })
  return out.join('\n')
}

export function svg(results: Results): string {
  const w = 480
  const h = 460
  const { meta } = results
  const body = [
    panel(
      results.scaling.tasks,
      results.scaling.floorTasks.points,
      'Total tasks in the registry',
      'total tasks',
      0,
      24,
      w,
      h,
    ),
    panel(
      results.scaling.messages,
      undefined,
      'Messages on the task',
      'messages on the task',
      w,
      24,
      w,
      h,
    ),
  ]
  const caption = `session-tasks scaling (${meta.mode}); shaded: ±25% of the smallest size. ${meta.cpu}, ${meta.cores} cores, Node ${meta.node}, ${meta.date}`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h + 24}" viewBox="0 0 ${2 * w} ${h + 24}" role="img" aria-labelledby="title" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<title id="title">session-tasks: ops/s as total tasks and messages per task grow, relative to the smallest size</title>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${w}" y="16" text-anchor="middle" font-size="11" fill="#555">${esc(caption)}</text>
${body.join('\n')}
</svg>
`
}
