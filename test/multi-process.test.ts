import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
  tableNames,
} from '../src/backends/postgres/index.js'
import type { SessionTaskEvents, SessionTaskEventType } from '../src/events/emitter.js'
import { TaskExecutorRegistry } from '../src/execution/executor-registry.js'
import { RegistryTaskSink } from '../src/execution/sink.js'
import { createTaskSupervisor, type TaskSupervisor } from '../src/execution/supervisor.js'
import { StaleAttemptError } from '../src/model/errors.js'
import { taskMessageText } from '../src/model/message-text.js'
import type { SessionTask, TaskMessage } from '../src/model/schemas.js'
import type { StartedInfo, WorkerNotice, WorkerRequest } from './fixtures/worker-process.js'

// Several real Node processes on one PostgreSQL database: this process ("P")
// and worker processes ("W", test/fixtures/worker-process.ts, forked with
// `node --import tsx`, driven over IPC). Run it with a throwaway server:
//   bash scripts/with-postgres.sh npx vitest run test/multi-process.test.ts
const url = process.env.TEST_DATABASE_URL

if (url === undefined || url === '') {
  console.warn(
    [
      '',
      '='.repeat(78),
      '  SKIPPED: multi-process PostgreSQL tests (test/multi-process.test.ts)',
      '  TEST_DATABASE_URL is not set, so two processes sharing one PostgreSQL',
      '  server were NOT tested. Run them with a throwaway server:',
      '    bash scripts/with-postgres.sh npx vitest run test/multi-process.test.ts',
      '='.repeat(78),
      '',
    ].join('\n'),
  )
  describe('several processes on one PostgreSQL server', () => {
    test.skip('SKIPPED: set TEST_DATABASE_URL (or use scripts/with-postgres.sh) to run', () => {})
  })
} else {
  const databaseUrl = url
  // A fresh prefix (and NOTIFY channel) per run: runs and other suites never collide.
  const prefix = `mp${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}_`
  const channel = `${prefix}notify`
  const HEARTBEAT_MS = 100
  const fixture = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url))
  const root = fileURLToPath(new URL('..', import.meta.url))

  type Seen = {
    type: SessionTaskEventType
    payload: SessionTaskEvents[SessionTaskEventType]
  }
  type Body = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never

  /** A forked worker process and what it has told us. */
  type Worker = {
    child: ChildProcess
    pid: number
    events: Seen[]
    aborted: { taskId: string; reason: string }[]
    errors: { context: string; message: string }[]
    exited: boolean
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
    output(): string
    request<T>(body: Body, timeoutMs?: number): Promise<T>
  }

  /** Resolves with the first truthy value of `check`, polling every 10 ms; rejects after `timeoutMs`. */
  async function eventually<T>(
    check: () => T | undefined | false | null,
    what: string,
    detail: () => string = () => '',
    timeoutMs = 8000,
  ): Promise<T> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const value = check()
      if (value !== undefined && value !== false && value !== null) return value
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${detail()}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  const workers: Worker[] = []

  async function startWorker(): Promise<Worker> {
    const child = fork(fixture, [], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        TEST_DATABASE_URL: databaseUrl,
        MP_PREFIX: prefix,
        MP_CHANNEL: channel,
        MP_HEARTBEAT_MS: String(HEARTBEAT_MS),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
    let nextId = 1
    let ready: (() => void) | undefined
    const worker: Worker = {
      child,
      pid: child.pid ?? -1,
      events: [],
      aborted: [],
      errors: [],
      exited: false,
      exit: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          worker.exited = true
          for (const p of pending.values()) p.reject(new Error(`worker exited (${signal ?? code})`))
          pending.clear()
          resolve({ code, signal })
        })
      }),
      output: () => output,
      request<T>(body: Body, timeoutMs = 10_000): Promise<T> {
        const id = nextId++
        return new Promise<T>((resolve, reject) => {
          if (worker.exited) return reject(new Error('worker already exited'))
          const timer = setTimeout(() => {
            pending.delete(id)
            reject(new Error(`worker request ${body.cmd} timed out\n${output}`))
          }, timeoutMs)
          pending.set(id, {
            resolve: (v) => {
              clearTimeout(timer)
              resolve(v as T)
            },
            reject: (e) => {
              clearTimeout(timer)
              reject(e)
            },
          })
          child.send({ ...body, id } as WorkerRequest)
        })
      },
    }
    workers.push(worker)
    child.on('message', (raw) => {
      const notice = raw as WorkerNotice
      switch (notice.kind) {
        case 'ready':
          ready?.()
          break
        case 'reply': {
          const p = pending.get(notice.id)
          pending.delete(notice.id)
          if (notice.ok) p?.resolve(notice.value)
          else
            p?.reject(Object.assign(new Error(notice.error.message), { name: notice.error.name }))
          break
        }
        case 'event':
          worker.events.push({ type: notice.type, payload: notice.payload })
          break
        case 'aborted':
          worker.aborted.push({ taskId: notice.taskId, reason: notice.reason })
          break
        case 'error':
          worker.errors.push({ context: notice.context, message: notice.message })
          break
      }
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker did not start in time\n${output}`)),
        15_000,
      )
      ready = () => {
        clearTimeout(timer)
        resolve()
      }
      void worker.exit.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`worker exited before it was ready (${signal ?? code})\n${output}`))
      })
    })
    return worker
  }

  async function stopWorker(worker: Worker): Promise<void> {
    if (worker.exited) return
    try {
      await worker.request({ cmd: 'close' }, 3000)
    } catch {
      // Killed below.
    }
    const gone = await Promise.race([worker.exit.then(() => true), sleep(3000).then(() => false)])
    if (!gone) {
      worker.child.kill('SIGKILL')
      await worker.exit
    }
  }

  const taskOf = (seen: Seen) => (seen.payload as { task?: SessionTask }).task
  const messageOf = (seen: Seen) => (seen.payload as { message?: TaskMessage }).message
  /** A readable label per event, for checking the order of milestones. */
  const label = (seen: Seen): string => {
    const task = taskOf(seen)
    if (seen.type === 'task.created') return `created:${task?.state}`
    if (seen.type === 'task.updated') {
      return `updated:${task?.state}${task?.cancelRequestedAt === undefined ? '' : '+cancel'}`
    }
    if (seen.type === 'task.message.sent') return 'message.sent'
    if (seen.type === 'task.message.received') return 'message.received'
    return seen.type
  }
  /** True when `expected` appears in `labels` in this order (other labels may come between). */
  const inOrder = (labels: string[], expected: string[]) => {
    let i = 0
    for (const l of labels) if (l === expected[i]) i++
    return i === expected.length
  }

  describe('several processes on one PostgreSQL server', () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 })
    pool.on('error', () => {})
    const client = fromPgPool(pool)
    const backgroundErrors: unknown[] = []
    const cleanups: Array<() => Promise<void> | void> = []
    let registryP: PostgresSessionTaskRegistry
    let supervisorP: TaskSupervisor

    // P's executor for 'job': it never starts work here (W does), but it is
    // how P delivers messages (the database carries them) and cancels (it
    // settles the task through the sink, fenced on the current attempt).
    // Not re-attachable, so the reaper fails orphans.
    const executorsP = new TaskExecutorRegistry()
    executorsP.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        async deliver() {},
        async cancel(_task, ctx) {
          await ctx.sink.state('canceled', 'canceled from process P')
        },
      }),
    })

    beforeAll(async () => {
      await migrate(client, { prefix })
      registryP = new PostgresSessionTaskRegistry({
        client,
        prefix,
        channel,
        onError: (error) => backgroundErrors.push(error),
      })
      await registryP.start()
      supervisorP = createTaskSupervisor({ registry: registryP, executors: executorsP })
    })

    afterAll(async () => {
      const failures: unknown[] = []
      const attempt = async (fn: () => Promise<void> | void) => {
        try {
          await fn()
        } catch (error) {
          failures.push(error)
        }
      }
      await Promise.all(workers.map((w) => attempt(() => stopWorker(w))))
      for (const fn of cleanups.reverse()) await attempt(fn)
      await attempt(() => supervisorP?.close())
      await attempt(() => registryP?.close())
      await attempt(async () => {
        const t = tableNames(prefix)
        await pool.query(
          `DROP TABLE IF EXISTS ${t.events}, ${t.sessions}, ${t.messages}, ${t.tasks}, ${t.schema}`,
        )
      })
      await attempt(() => pool.end())
      if (failures.length > 0) throw failures[0]
    })

    test('a task spawned in one process is seen, messaged and canceled from the other', async () => {
      const sessionId = `mp-cross-${Date.now().toString(36)}`
      const seenP: Seen[] = []
      cleanups.push(
        registryP.subscribe(sessionId, (type, payload) => seenP.push({ type, payload })),
      )
      const w = await startWorker()
      const dump = () =>
        `P saw: ${seenP.map(label).join(', ')}\nW saw: ${w.events.map(label).join(', ')}\nW errors: ${JSON.stringify(w.errors)}\n${w.output()}`
      await w.request({ cmd: 'watch', sessionId })

      // W spawns; its executor goes running and heartbeats.
      const info = await w.request<StartedInfo>({
        cmd: 'spawn',
        input: { sessionId, kind: 'job', displayName: 'cross-process job' },
      })
      const taskId = info.taskId
      expect(info.attempt).toBe(1)
      expect(info.task).toMatchObject({ id: taskId, state: 'running', attempt: 1 })
      expect(info.workerId).toBe(`worker-pid-${w.pid}`)

      // P sees it through NOTIFY: created, then running with W's worker id and a heartbeat.
      const created = await eventually(
        () => seenP.find((s) => s.type === 'task.created' && taskOf(s)?.id === taskId),
        'P to see task.created',
        dump,
      )
      expect(taskOf(created)).toMatchObject({
        id: taskId,
        sessionId,
        kind: 'job',
        displayName: 'cross-process job',
        state: 'queued',
      })
      const running = await eventually(
        () =>
          seenP.find((s) => {
            const t = taskOf(s)
            return s.type === 'task.updated' && t?.state === 'running' && t.heartbeatAt
          }),
        'P to see the running task with a heartbeat',
        dump,
      )
      expect(taskOf(running)).toMatchObject({ id: taskId, workerId: info.workerId })

      // P messages the task; W's listener sees task.message.sent, and W's work answers.
      const { message, delivery } = await supervisorP.message(sessionId, taskId, {
        text: 'ping from P',
      })
      expect(delivery).toBe('delivered')
      expect(message).toMatchObject({ taskId, direction: 'inbound' })
      const sentInW = await eventually(
        () =>
          w.events.find((s) => s.type === 'task.message.sent' && messageOf(s)?.id === message.id),
        'W to see task.message.sent',
        dump,
      )
      expect(sentInW.payload).toEqual({ taskId, message })
      const reply = await eventually(
        () =>
          seenP.find(
            (s) => s.type === 'task.message.received' && messageOf(s)?.inReplyTo === message.id,
          ),
        "P to see W's reply (task.message.received)",
        dump,
      )
      const replyMessage = messageOf(reply) as TaskMessage
      expect(replyMessage.direction).toBe('outbound')
      expect(taskMessageText(replyMessage.content)).toBe('pong: ping from P')
      expect(await registryP.listMessages(sessionId, taskId)).toEqual([message, replyMessage])

      // P cancels: cancel intent, then its executor settles the task through a sink.
      const canceled = await supervisorP.cancel(sessionId, taskId)
      expect(canceled).toMatchObject({
        id: taskId,
        state: 'canceled',
        stateDetail: 'canceled from process P',
        attempt: 1,
      })
      expect(canceled?.cancelRequestedAt).toBeDefined()
      expect(canceled?.finishedAt).toBeDefined()
      expect(seenP.some((s) => s.type === 'task.updated' && taskOf(s)?.state === 'canceled')).toBe(
        true,
      )

      // W sees the terminal update, and its supervisor stops the work it was running.
      const terminalInW = await eventually(
        () =>
          w.events.find(
            (s) =>
              s.type === 'task.updated' &&
              taskOf(s)?.id === taskId &&
              taskOf(s)?.state === 'canceled',
          ),
        'W to see the terminal task.updated',
        dump,
      )
      expect(taskOf(terminalInW)).toMatchObject({
        state: 'canceled',
        stateDetail: 'canceled from process P',
        cancelRequestedAt: canceled?.cancelRequestedAt,
        finishedAt: canceled?.finishedAt,
      })
      const aborted = await eventually(
        () => w.aborted.find((a) => a.taskId === taskId),
        "W's running work to be aborted",
        dump,
      )
      expect(aborted.reason).toBe('task reached a terminal state')

      // Both processes saw the milestones in the same order...
      const milestones = [
        'created:queued',
        'updated:running',
        'message.sent',
        'message.received',
        'updated:running+cancel',
        'updated:canceled+cancel',
      ]
      expect(inOrder(seenP.map(label), milestones), dump()).toBe(true)
      expect(inOrder(w.events.map(label), milestones), dump()).toBe(true)
      // ...and, once W stopped heartbeating, exactly the same events.
      const [p, wv] = await eventually(
        () => {
          const a = seenP.slice()
          const b = w.events.slice()
          return a.length === b.length ? ([a, b] as const) : undefined
        },
        'both processes to have seen the same number of events',
        dump,
      )
      expect(wv).toEqual(p)
      expect(w.errors).toEqual([])
      expect(backgroundErrors).toEqual([])
    })

    test("a SIGKILLed worker's task is reaped 'orphaned' by another process; its late writes are rejected", async () => {
      const sessionId = `mp-reap-${Date.now().toString(36)}`
      // Process P's reaper: its own registry on P's pool, with a clock it can move.
      let offsetMs = 0
      const clock = () => new Date(Date.now() + offsetMs)
      const registryR = new PostgresSessionTaskRegistry({
        client,
        prefix,
        channel,
        now: clock,
        onError: (error) => backgroundErrors.push(error),
      })
      await registryR.start()
      const reaper = createTaskSupervisor({ registry: registryR, executors: executorsP })
      cleanups.push(
        () => registryR.close(),
        () => reaper.close(),
      )
      const seenR: Seen[] = []
      cleanups.push(
        registryR.subscribe(sessionId, (type, payload) => seenR.push({ type, payload })),
      )
      // Another listener in P (the first registry) that only learns through NOTIFY.
      const seenP: Seen[] = []
      cleanups.push(
        registryP.subscribe(sessionId, (type, payload) => seenP.push({ type, payload })),
      )

      const w = await startWorker()
      const dump = () =>
        `R saw: ${seenR.map(label).join(', ')}\nW errors: ${JSON.stringify(w.errors)}\n${w.output()}`
      const info = await w.request<StartedInfo>({
        cmd: 'spawn',
        input: { sessionId, kind: 'job', displayName: 'doomed job' },
      })
      const taskId = info.taskId
      expect(info.attempt).toBe(1)
      expect(info.task).toMatchObject({ state: 'running', attempt: 1, workerId: info.workerId })

      // W's heartbeats keep arriving in P.
      const beats = () =>
        new Set(
          seenR
            .map((s) => (s.type === 'task.updated' ? taskOf(s) : undefined))
            .filter((t) => t?.id === taskId && t.state === 'running')
            .map((t) => t?.heartbeatAt)
            .filter((at) => at !== undefined),
        )
      await eventually(() => beats().size >= 3, 'three heartbeats from W to reach P', dump)

      // While W lives, the task is not stale.
      const early = await reaper.reap({ staleAfterMs: 60_000 })
      expect(early.outcomes.filter((o) => o.taskId === taskId)).toEqual([])

      // SIGKILL: no shutdown, no last write.
      expect(w.child.kill('SIGKILL')).toBe(true)
      expect(await w.exit).toEqual({ code: null, signal: 'SIGKILL' })
      const orphan = (await registryR.get(sessionId, taskId)) as SessionTask
      expect(orphan).toMatchObject({ state: 'running', attempt: 1, workerId: info.workerId })
      const lastBeat = orphan.heartbeatAt as string
      expect(lastBeat).toBeDefined()
      // The heartbeat goes stale: nothing writes it any more.
      await sleep(HEARTBEAT_MS * 3)
      expect((await registryR.get(sessionId, taskId))?.heartbeatAt).toBe(lastBeat)

      // P's clock moves 10 minutes ahead; its reaper fails the task 'orphaned'.
      offsetMs = 10 * 60_000
      const result = await reaper.reap({ staleAfterMs: 60_000 })
      expect(result.outcomes.filter((o) => o.taskId === taskId)).toEqual([
        { sessionId, taskId, outcome: 'reaped' },
      ])
      const reaped = (await registryR.get(sessionId, taskId)) as SessionTask
      expect(reaped).toMatchObject({
        state: 'failed',
        error: { kind: 'orphaned', message: 'worker heartbeat stopped' },
        attempt: 2,
        workerId: info.workerId,
        heartbeatAt: lastBeat,
      })
      expect(Date.parse(reaped.finishedAt as string)).toBeGreaterThanOrEqual(
        Date.parse(lastBeat) + 9 * 60_000,
      )
      expect(seenR.at(-1)).toEqual({ type: 'task.updated', payload: { task: reaped } })
      // The other registry in P hears of it only through NOTIFY.
      const failedInP = await eventually(
        () =>
          seenP.find((s) => s.type === 'task.updated' && taskOf(s)?.state === 'failed')?.payload,
        'the other registry to see the orphaned failure',
        dump,
      )
      expect(failedInP).toEqual({ task: reaped })
      // Reaped once: a second pass finds nothing of ours.
      const again = await reaper.reap({ staleAfterMs: 60_000 })
      expect(again.outcomes.filter((o) => o.taskId === taskId)).toEqual([])

      // The killed worker's late writes, replayed from a sink saved with its attempt.
      const eventsBefore = seenR.length
      const sink = new RegistryTaskSink(registryR, sessionId, taskId, info.attempt)
      await sink.state('succeeded', 'late success')
      await sink.progress({ current: 10, total: 10, label: 'late' })
      await sink.heartbeat()
      await sink.artifact({ name: 'late.txt', type: 'file', path: '/late.txt' })
      await sink.requestInput({ id: 'late-question', prompt: 'still there?' })
      await sink.update({ summary: 'late summary' })
      await sink.output('stdout', 'late output\n')
      expect(await registryR.get(sessionId, taskId)).toEqual(reaped)
      await expect(
        sink.post({ content: [{ type: 'text', text: 'late message' }] }),
      ).rejects.toBeInstanceOf(StaleAttemptError)
      expect(await registryR.listMessages(sessionId, taskId)).toEqual([])
      expect(seenR.slice(eventsBefore)).toEqual([])
      expect(await registryR.get(sessionId, taskId)).toEqual(reaped)
      expect(backgroundErrors).toEqual([])
    })
  })
}
