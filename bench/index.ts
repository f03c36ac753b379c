/**
 * `npm run bench`: the floor, session-tasks and its peers per operation,
 * scaling with tasks and messages (interleaved), GC share and memory, all in
 * one process and one run. Writes bench/results.json, BENCHMARKS.md and
 * bench/scaling.svg, and prints PASS/MISS per target.
 *
 * Env: BENCH_QUICK=1 for a smoke test of every section with tiny sizes and
 * budgets (well under a minute; its figures mean nothing). BENCH_DATABASE_URL
 * or TEST_DATABASE_URL adds the PostgreSQL registry on that server (`bash
 * scripts/with-postgres.sh npm run bench` starts a throwaway one); PGlite is
 * measured either way. Run with `node --expose-gc` for the memory figures
 * (the npm script does). A quick run writes its files to a temporary
 * directory (printed), not over the committed ones; BENCH_OUT=<dir> picks the
 * directory in either mode.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runAdmission } from './admission.js'
import { runCore } from './core.js'
import { type Budget, canMeasureHeap, progress, quick, settle } from './harness.js'
import { withKeptSections } from './kept-section.js'
import { markdown } from './markdown.js'
import { type MemoryResult, runMessageMemory } from './memory.js'
import { runPostgres } from './postgres.js'
import { runRealistic } from './realistic.js'
import { printConsole, type Results } from './report.js'
import { runFloorTaskScaling, runMessageScaling, runTaskScaling } from './scaling.js'
import { svg } from './svg.js'
import { evaluateTargets } from './targets.js'

const budget: Budget = quick
  ? { timeMs: 60, warmupMs: 20, rounds: 2 }
  : { timeMs: 1500, warmupMs: 200, rounds: 6 }
const taskSizes = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000]
const messageSizes = quick ? [100, 1_000] : [100, 1_000, 10_000, 100_000]
// 100 short messages on each of these tasks for the heap per message.
const messageMemoryTasks = quick ? 100 : 1_000
// Database operations take ~0.1-3 ms each: a longer budget per case than the
// in-memory sections for enough samples.
const dbBudget: Budget = quick
  ? { timeMs: 100, warmupMs: 30, rounds: 2 }
  : { timeMs: 1500, warmupMs: 300, rounds: 3 }

const outDir =
  process.env.BENCH_OUT ??
  (quick ? join(os.tmpdir(), 'session-tasks-bench') : fileURLToPath(new URL('..', import.meta.url)))
const out = (path: string) => join(outDir, path)

async function main(): Promise<void> {
  const started = performance.now()
  if (!canMeasureHeap) {
    progress('no global gc(): memory is not measured (run with node --expose-gc)')
  }
  progress(`mode: ${quick ? 'quick (BENCH_QUICK=1)' : 'full'}`)

  // Each section starts on a clean heap: what the previous one built is
  // collected first, not in the middle of the next measurements.
  const core = await runCore(budget)
  await settle()
  const realistic = await runRealistic(budget)
  await settle()
  const tasks = await runTaskScaling(taskSizes, budget)
  await settle()
  const floorTasks = await runFloorTaskScaling(taskSizes, budget)
  await settle()
  const messages = await runMessageScaling(messageSizes, budget)
  await settle()
  const messageMemory = await runMessageMemory(messageMemoryTasks, 100)
  await settle()
  const postgres = await runPostgres(dbBudget)
  await settle()
  const admission = await runAdmission(quick ? 1_000 : 20_000)
  const memory: MemoryResult | undefined =
    tasks.memory === undefined || messageMemory === undefined
      ? undefined
      : {
          ...tasks.memory,
          ...messageMemory,
          singleTaskMessages: messages.messages,
          bytesPerMessageSingleTask: messages.bytesPerMessage,
        }

  const scaling = { tasks: tasks.points, messages: messages.points, floorTasks }
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      cores: os.cpus().length,
      node: process.versions.node,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      mode: quick ? 'quick' : 'full',
      budget,
      taskSizes,
      messageSizes,
      durationSeconds: (performance.now() - started) / 1000,
    },
    core,
    realistic,
    scaling,
    memory,
    postgres,
    admission,
    targets: evaluateTargets(core, realistic, scaling, memory),
  }

  printConsole(results)
  await mkdir(out('bench'), { recursive: true })
  await writeFile(out('bench/results.json'), `${JSON.stringify(results, null, 2)}\n`)
  // The PostgreSQL and SQLite throughput sections come from `npm run
  // bench:pg-scale` and `npm run bench:sqlite`: kept as they are.
  const previous = await readFile(out('BENCHMARKS.md'), 'utf8').catch(() => '')
  await writeFile(out('BENCHMARKS.md'), withKeptSections(markdown(results), previous))
  await writeFile(out('bench/scaling.svg'), svg(results))
  progress(
    `wrote BENCHMARKS.md, bench/results.json and bench/scaling.svg under ${outDir} in ${results.meta.durationSeconds.toFixed(0)} s`,
  )
}

await main()
