/**
 * Admission: how long a supervisor takes to drain a long wait list through
 * each kind of concurrency limit. Every task is spawned first (all but the
 * limit's worth wait), then each one ends as soon as it starts; the figure
 * is from the first release to the last task finished.
 */
import {
  type ConcurrencyLimits,
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  type TaskExecutionContext,
  TaskExecutorRegistry,
} from '../src/index.js'
import { progress } from './harness.js'

/** One drain: its limits, how many tasks, the time it took. */
export type AdmissionCase = { label: string; tasks: number; ms: number }

const CASES: { label: string; limits: ConcurrencyLimits; sessions: number }[] = [
  { label: 'global: 1', limits: { global: 1 }, sessions: 1 },
  { label: 'perSession: 1, one session', limits: { perSession: 1 }, sessions: 1 },
  {
    label: 'perKind: 1, a session per task',
    limits: { perKind: 1 },
    sessions: Number.POSITIVE_INFINITY,
  },
  {
    label: 'perSession: 1 + perKind: 2, 100 sessions',
    limits: { perSession: 1, perKind: 2 },
    sessions: 100,
  },
]

async function drain(tasks: number, limits: ConcurrencyLimits, sessions: number): Promise<number> {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  let released = false
  let done = 0
  const held: TaskExecutionContext[] = []
  const finish = (ctx: TaskExecutionContext) =>
    queueMicrotask(() => {
      void ctx.sink.state('succeeded').then(() => done++)
    })
  executors.register({
    kind: 'job',
    executor: () => ({
      kind: 'job',
      async start(_task, ctx) {
        if (released) finish(ctx)
        else held.push(ctx)
      },
      async cancel() {},
    }),
  })
  const supervisor = createTaskSupervisor({
    registry,
    executors,
    concurrency: limits,
    onError: () => {},
  })
  for (let i = 0; i < tasks; i++) {
    const sessionId = `s${Number.isFinite(sessions) ? i % sessions : i}`
    await supervisor.spawn({ sessionId, kind: 'job', displayName: 'queued job' })
  }
  const started = performance.now()
  released = true
  for (const ctx of held) finish(ctx)
  // Bounded: a drain that stalls is reported, not waited on for ever.
  for (let spins = 0; done < tasks && spins < 600_000; spins++) {
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const ms = performance.now() - started
  await supervisor.close()
  if (done < tasks) throw new Error(`admission drain stalled at ${done}/${tasks}`)
  return ms
}

/** Drains `tasks` queued tasks through each kind of limit. */
export async function runAdmission(tasks: number): Promise<AdmissionCase[]> {
  const out: AdmissionCase[] = []
  for (const c of CASES) {
    progress(`admission: ${c.label}, ${tasks} tasks`)
    out.push({ label: c.label, tasks, ms: await drain(tasks, c.limits, c.sessions) })
  }
  return out
}
