/**
 * One process of `bench/pg-scale.ts`: drives one library's operation in a
 * sequential loop (each call awaited before the next) for a fixed time and
 * reports how many it finished, how many SQL statements it sent (every
 * `pg` client query, BEGIN and COMMIT included, counted by wrapping
 * `pg.Client.prototype.query`, which all three libraries go through) and
 * the CPU time it used.
 *
 * Env: PS_URL, PS_LIB (session-tasks | pg-boss | graphile-worker), PS_OP
 * (create | update | lifecycle | ...), PS_MS, PS_PREFIX (table prefix or schema).
 * Waits for a 'go' message so that every process starts at once.
 */
import pg from 'pg'
import { fromPgPool, PostgresSessionTaskRegistry } from '../src/backends/postgres/index.js'

let statements = 0
const query = pg.Client.prototype.query
pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
  statements++
  return (query as (...a: unknown[]) => unknown).apply(this, args)
} as typeof query

const env = process.env
const url = env.PS_URL ?? ''
const lib = env.PS_LIB ?? ''
const op = env.PS_OP ?? ''
const durationMs = Number(env.PS_MS ?? 3000)
const prefix = env.PS_PREFIX ?? 'bench_'
// Each process's own session, queue or task identifier (pg-boss queues are made up front).
const tag = env.PS_INDEX ?? '0'

type Loop = { step: () => Promise<void>; close: () => Promise<void> }

async function sessionTasks(): Promise<Loop> {
  const pool = new pg.Pool({ connectionString: url, max: 3 })
  const registry = new PostgresSessionTaskRegistry({
    client: fromPgPool(pool),
    prefix,
  })
  // The peers' workers hear nothing of each other; this row shows what hearing every write costs.
  const listening = op !== 'lifecycle, not listening'
  if (listening && env.PS_NO_LISTEN !== '1') await registry.start()
  const sessionId = `bench-${tag}`
  const base = { sessionId, kind: 'job', displayName: 'job' }
  const claim = registry.claim.bind(registry)
  const target = await registry.create({ ...base, state: 'running' })
  let i = 0
  // Enqueue, claim (queued -> running, fenced), finish: what the peers do.
  const lifecycle = async () => {
    const task = await registry.create(base)
    await claim(sessionId, task.id, { expectedAttempt: 1 })
    await registry.update(sessionId, task.id, { state: 'succeeded' })
  }
  const steps: Record<string, () => Promise<void>> = {
    create: async () => {
      await registry.create(base)
    },
    update: async () => {
      await registry.update(sessionId, target.id, { progress: { current: ++i, total: 1_000_000 } })
    },
    lifecycle,
    'lifecycle, not listening': lifecycle,
    // The same with a global limit, counted across every process at the claim.
    'lifecycle, limited': async () => {
      const task = await registry.create(base)
      await claim(sessionId, task.id, { expectedAttempt: 1, limits: { global: 1_000 } })
      await registry.update(sessionId, task.id, { state: 'succeeded' })
    },
  }
  const step = steps[op]
  if (step === undefined) throw new Error(`session-tasks has no op ${op}`)
  return {
    step,
    close: async () => {
      await registry.close()
      await pool.end()
    },
  }
}

async function pgBoss(): Promise<Loop> {
  const { default: PgBoss } = await import('pg-boss')
  const boss = new PgBoss({
    connectionString: url,
    schema: prefix,
    max: 3,
    supervise: false,
    schedule: false,
  })
  boss.on('error', () => {})
  await boss.start()
  const queue = `q_${tag}`
  const steps: Record<string, () => Promise<void>> = {
    create: async () => {
      await boss.send(queue, {})
    },
    // send, fetch (takes the job: created -> active), complete.
    lifecycle: async () => {
      await boss.send(queue, {})
      const [job] = await boss.fetch(queue)
      if (job === undefined) throw new Error('pg-boss fetched nothing')
      await boss.complete(queue, job.id)
    },
  }
  const step = steps[op]
  if (step === undefined) throw new Error(`pg-boss has no op ${op}`)
  return { step, close: () => boss.stop({ graceful: false, wait: true }) }
}

async function graphileWorker(): Promise<Loop> {
  const { Logger, makeWorkerUtils, run } = await import('graphile-worker')
  // Quiet: the default logger prints every job.
  const logger = new Logger(() => () => {})
  const utils = await makeWorkerUtils({ connectionString: url, schema: prefix, logger })
  const identifier = `job_${tag}`
  const waiting = new Map<string, () => void>()
  // A worker of this process only runs this process's task identifier.
  const runner =
    op === 'lifecycle'
      ? await run({
          connectionString: url,
          schema: prefix,
          concurrency: 1,
          noHandleSignals: true,
          pollInterval: 1000,
          taskList: { [identifier]: async () => {} },
          logger,
        })
      : undefined
  // A job can finish before addJob's own reply is handled: remember it.
  const finished = new Set<string>()
  // 'job:complete' follows the completing statement; 'job:success' comes
  // before it, and waiting for that one would leave the completion out.
  runner?.events.on('job:complete', ({ job }) => {
    const resolve = waiting.get(String(job.id))
    if (resolve === undefined) finished.add(String(job.id))
    else {
      waiting.delete(String(job.id))
      resolve()
    }
  })
  const steps: Record<string, () => Promise<void>> = {
    create: async () => {
      await utils.addJob(identifier, {})
    },
    // addJob, then this process's worker takes it (LISTEN/NOTIFY) and completes it.
    lifecycle: async () => {
      const job = await utils.addJob(identifier, {})
      const id = String(job.id)
      if (finished.delete(id)) return
      await new Promise<void>((resolve) => waiting.set(id, resolve))
    },
  }
  const step = steps[op]
  if (step === undefined) throw new Error(`graphile-worker has no op ${op}`)
  return {
    step,
    close: async () => {
      await runner?.stop()
      await utils.release()
    },
  }
}

async function main(): Promise<void> {
  const loop =
    lib === 'session-tasks'
      ? await sessionTasks()
      : lib === 'pg-boss'
        ? await pgBoss()
        : await graphileWorker()
  for (let i = 0; i < 20; i++) await loop.step()
  process.send?.({ kind: 'ready' })
  await new Promise<void>((resolve) => process.once('message', () => resolve()))
  const before = statements
  const cpu = process.cpuUsage()
  const until = performance.now() + durationMs
  let count = 0
  while (performance.now() < until) {
    await loop.step()
    count++
  }
  const elapsedMs = durationMs + (performance.now() - until)
  const used = process.cpuUsage(cpu)
  process.send?.({
    kind: 'done',
    count,
    elapsedMs,
    statements: statements - before,
    cpuMs: (used.user + used.system) / 1000,
  })
  await loop.close()
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
