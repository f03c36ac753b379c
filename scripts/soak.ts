/**
 * `npm run soak`: creates, runs, finishes and prunes 1,000,000 tasks across
 * 10,000 sessions, printing heap used after GC as it goes; then deletes every
 * session. Heap must plateau while tasks churn and fall back near the start
 * once sessions are gone. Run with `--expose-gc` (the npm script does).
 *
 * Options (env): SOAK_TASKS (default 1000000), SOAK_SESSIONS (default 10000).
 */
import { InMemorySessionTaskRegistry, RegistryTaskSink } from '../src/index.js'

const TASKS = Number(process.env.SOAK_TASKS ?? 1_000_000)
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 10_000)
const REPORT_EVERY = Math.max(1, Math.floor(TASKS / 10))
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

function heapMb(): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

let clock = Date.parse('2026-01-01T00:00:00.000Z')
const registry = new InMemorySessionTaskRegistry({ now: () => new Date(clock) })
// A live listener on every session, as a UI bridge would have.
let events = 0
const unsubscribe = registry.subscribeAll(() => {
  events++
})

const start = heapMb()
console.log(`soak: ${TASKS.toLocaleString()} tasks across ${SESSIONS.toLocaleString()} sessions`)
console.log(`heap at start: ${start.toFixed(1)} MB`)
const samples: number[] = []
const t0 = performance.now()
for (let i = 0; i < TASKS; i++) {
  const sessionId = `session-${i % SESSIONS}`
  clock += 1
  const task = await registry.create({
    sessionId,
    kind: 'background_tool',
    displayName: `job ${i}`,
  })
  const sink = new RegistryTaskSink(registry, sessionId, task.id)
  await sink.state('running')
  await sink.progress({ current: 1, total: 2 })
  await sink.post({ content: [{ type: 'text', text: 'halfway' }] })
  await sink.update({ state: 'succeeded', summary: 'ok' })
  if ((i + 1) % SESSIONS === 0) {
    // Retention: everything finished more than a moment ago goes.
    let pruned: unknown[]
    do {
      pruned = await registry.prune({ finishedBefore: new Date(clock - 1), limit: 10_000 })
    } while (pruned.length > 0)
  }
  if ((i + 1) % REPORT_EVERY === 0) {
    const heap = heapMb()
    samples.push(heap)
    const rate = ((i + 1) / ((performance.now() - t0) / 1000)).toFixed(0)
    console.log(
      `${String(i + 1).padStart(9)} tasks  heap ${heap.toFixed(1).padStart(7)} MB  live ${registry.stats().tasks}  ${rate} tasks/s`,
    )
  }
}
const plateau = samples.slice(Math.floor(samples.length / 2))
const spread = Math.max(...plateau) - Math.min(...plateau)
console.log(
  `plateau (second half of samples): ${Math.min(...plateau).toFixed(1)}-${Math.max(...plateau).toFixed(1)} MB (spread ${spread.toFixed(1)} MB)`,
)

for (let s = 0; s < SESSIONS; s++) await registry.deleteSession(`session-${s}`)
unsubscribe()
const end = heapMb()
console.log(
  `after deleteSession of every session: ${end.toFixed(1)} MB (start ${start.toFixed(1)} MB), stats ${JSON.stringify(registry.stats())}`,
)
console.log(`events delivered: ${events.toLocaleString()}`)
