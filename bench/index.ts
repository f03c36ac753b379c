/**
 * `npm run bench`: the floor, session-tasks and its peers per operation,
 * scaling with tasks and messages, and memory, all in one process and one
 * run. Writes bench/results.json, BENCHMARKS.md and bench/scaling.svg.
 *
 * Env: BENCH_QUICK=1 for a reduced run (scaling to 100k tasks, shorter
 * budgets; about a minute). BENCH_DATABASE_URL or TEST_DATABASE_URL adds the
 * PostgreSQL registry on that server (`bash scripts/with-postgres.sh npm run
 * bench` starts a throwaway one); PGlite is measured either way. Run with
 * `node --expose-gc` for the memory figures (the npm script does).
 */
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { runCore, runRealistic } from './core.js'
import { type Budget, canMeasureHeap, progress, settle } from './harness.js'
import { runPostgres } from './postgres.js'
import { evaluateTargets, markdown, printConsole, type Results, svg } from './report.js'
import { runFloorTaskScaling, runMessageScaling, runTaskScaling } from './scaling.js'

const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true'
const budget: Budget = quick
  ? { timeMs: 200, warmupMs: 60, rounds: 2 }
  : { timeMs: 900, warmupMs: 200, rounds: 3 }
const taskSizes = quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000]
const messageSizes = [100, 1_000, 10_000, 100_000]
// Database operations take ~0.1-3 ms each: a longer budget per case than the
// in-memory sections for enough samples, still well under a minute in all.
const dbBudget: Budget = quick
  ? { timeMs: 400, warmupMs: 100, rounds: 2 }
  : { timeMs: 1500, warmupMs: 300, rounds: 3 }

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url))

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
  const postgres = await runPostgres(dbBudget)
  const memory = tasks.memory
  if (memory !== undefined) {
    memory.singleTaskMessages = messages.messages
    memory.bytesPerMessageSingleTask = messages.bytesPerMessage
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
    targets: evaluateTargets(core, realistic, scaling, memory),
  }

  printConsole(results)
  await writeFile(root('bench/results.json'), `${JSON.stringify(results, null, 2)}\n`)
  await writeFile(root('BENCHMARKS.md'), markdown(results))
  await writeFile(root('bench/scaling.svg'), svg(results))
  progress(
    `wrote bench/results.json, BENCHMARKS.md and bench/scaling.svg in ${results.meta.durationSeconds.toFixed(0)} s`,
  )
}

await main()
