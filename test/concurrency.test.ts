/**
 * Concurrency: many async writers racing on one registry (SPEC 3, 4, 5, 8, 9).
 *
 * Races are produced with Promise.all and a deterministic number of
 * microtask yields per participant (no timers, no sleeping); the clock is a
 * variable the test moves by hand. The randomised tests run under fast-check:
 * a failure prints `{ seed, path }`; replay with
 *     FC_SEED=<seed> FC_PATH=<path> npx vitest run test/concurrency.test.ts
 */

import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  applyTaskUpdate,
  createTaskSupervisor,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  isStaleAttemptError,
  isTaskConflictError,
  isTerminalState,
  RegistryTaskSink,
  type SessionTask,
  type SessionTaskEventType,
  type SessionTaskState,
  type SessionTaskUpdate,
  TaskExecutorRegistry,
  type TaskSink,
  type TaskWake,
} from '../src/index.js'
import type { Writable } from './fixtures/writable.js'

const T0 = Date.parse('2026-03-01T00:00:00.000Z')
const MIN = 60_000
const S = 'session-c'
const TERMINAL: ReadonlySet<SessionTaskState> = new Set(['succeeded', 'failed', 'canceled'])

const replay = (() => {
  const seed = process.env.FC_SEED
  const path = process.env.FC_PATH
  return {
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
  }
})()

async function yieldTimes(n: number) {
  for (let i = 0; i < n; i++) await Promise.resolve()
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort())
      out[key] = sortKeys((value as Record<string, unknown>)[key])
    return out
  }
  return value
}
const withoutUpdatedAt = (t: SessionTask) => {
  const { updatedAt: _u, ...rest } = t
  return JSON.stringify(sortKeys(rest))
}

/** mulberry32: a tiny deterministic PRNG for the writer plans. */
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Seen = { sessionId: string; type: SessionTaskEventType; payload: unknown }
const taskOf = (e: Seen): SessionTask => (e.payload as { task: SessionTask }).task

/** Per-task snapshots only move forward; returns the number of terminal transitions seen. */
function checkSnapshots(events: Seen[], taskId: string): number {
  let previous: SessionTask | undefined
  let transitions = 0
  for (const e of events) {
    if (e.type !== 'task.updated' && e.type !== 'task.created') continue
    const task = taskOf(e)
    if (task.id !== taskId) continue
    if (previous !== undefined) {
      if (TERMINAL.has(previous.state)) expect(task.state).toBe(previous.state)
      else if (TERMINAL.has(task.state)) transitions++
      if (previous.finishedAt !== undefined) expect(task.finishedAt).toBe(previous.finishedAt)
      if (previous.startedAt !== undefined) expect(task.startedAt).toBe(previous.startedAt)
      expect(task.attempt).toBeGreaterThanOrEqual(previous.attempt)
    } else if (TERMINAL.has(task.state)) {
      transitions++
    }
    previous = task
  }
  return transitions
}

// ---------------------------------------------------------------------------

describe('2,000 interleaved writers on one task', () => {
  const WRITERS = 2000

  test('the final record is the call-order fold of applyTaskUpdate; one task.updated per changing update', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 0x7fffffff }), async (seed) => {
        runs++
        const rand = prng(seed)
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
        let t = T0
        const registry = new InMemorySessionTaskRegistry({ now: () => new Date(t) })
        const created = await registry.create({
          sessionId: S,
          kind: 'k',
          displayName: 'contended',
          wakePolicy: 'on_activity',
        })
        const events: Seen[] = []
        registry.subscribeAll((sessionId, type, payload) =>
          events.push({ sessionId, type, payload }),
        )

        // The oracle: applyTaskUpdate folded in CALL order (a no-op update,
        // one that changes nothing but updatedAt, is not stored: SPEC 4.1).
        let oracle: SessionTask = created
        const oracleAfter: SessionTask[] = []
        const changedSnapshots: SessionTask[] = []
        const results: (SessionTask | undefined)[] = []
        const kinds = { fencedCurrent: 0, fencedOnRead: 0, stale: 0, increment: 0, free: 0 }

        let firstIncrement: number | undefined
        let finishedAt: number | undefined
        const writer = async (i: number) => {
          await yieldTimes(Math.floor(rand() * 8))
          const read = await registry.get(S, created.id)
          await yieldTimes(Math.floor(rand() * 8))
          const mode = pick([
            'fencedCurrent',
            'fencedOnRead',
            'stale',
            'increment',
            'free',
          ] as const)
          kinds[mode]++
          const update: Writable<SessionTaskUpdate> = {}
          const r = rand()
          if (r < 0.3) update.progress = { current: i, total: WRITERS }
          else if (r < 0.45) update.stateDetail = pick(['a', 'b', `w${i % 5}`])
          else if (r < 0.6) update.appendArtifact = { name: `a${i}`, type: 'file' }
          else if (r < 0.7) update.state = pick(['queued', 'running', 'awaiting_input'] as const)
          else if (r < 0.75) update.inputRequest = { id: `q${i % 3}`, prompt: 'next?' }
          else if (r < 0.8) update.links = { resourceIds: [`res${i % 7}`] }
          else if (r < 0.85) update.heartbeatAt = new Date(T0 + (i % 11) * 1000).toISOString()
          else if (r < 0.9) update.summary = pick(['', 's1', 's2'])
          else if (r < 0.9015) update.state = pick(['succeeded', 'failed', 'canceled'] as const)
          // else: no content (pure fence / increment probes)
          // The attempt fence is decided at call time, against the live record.
          if (mode === 'fencedCurrent') update.expectedAttempt = oracle.attempt
          if (mode === 'fencedOnRead') update.expectedAttempt = read?.attempt ?? 1
          if (mode === 'stale')
            update.expectedAttempt =
              oracle.attempt > 1 && rand() < 0.5 ? oracle.attempt - 1 : oracle.attempt + 1
          if (mode === 'increment') {
            update.incrementAttempt = true
            if (rand() < 0.5) update.expectedAttempt = oracle.attempt
          }
          // Synchronously: advance the clock, fold the oracle, issue the call.
          t += 1
          const next = applyTaskUpdate(oracle, update, new Date(t))
          if (mode === 'increment' && firstIncrement === undefined) firstIncrement = i
          if (isTerminalState(next.state) && finishedAt === undefined) finishedAt = i
          if (withoutUpdatedAt(next) !== withoutUpdatedAt(oracle)) {
            oracle = next
            changedSnapshots.push(next)
          }
          const index = oracleAfter.push(oracle) - 1
          results[index] = await registry.update(S, created.id, update)
        }
        await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)))

        expect(oracleAfter).toHaveLength(WRITERS)
        const final = await registry.get(S, created.id)
        expect(final).toStrictEqual(oracle)
        // Every call returned the record as of its own place in the order.
        expect(results).toStrictEqual(oracleAfter)
        const updates = events.filter((e) => e.type === 'task.updated')
        expect(updates).toHaveLength(changedSnapshots.length)
        expect(updates.map(taskOf)).toStrictEqual(changedSnapshots)
        checkSnapshots(events, created.id)
        // The plan really mixed every kind of writer, and the fence bit.
        for (const count of Object.values(kinds)) expect(count).toBeGreaterThan(100)
        expect(changedSnapshots.length).toBeGreaterThan(200)
        expect(changedSnapshots.length).toBeLessThan(WRITERS)
        // Increments stop once the task is finished (rule 2b); some applied
        // before, unless the plan finished the task before its first one.
        if (finishedAt === undefined || (firstIncrement ?? WRITERS) < finishedAt) {
          expect(oracle.attempt).toBeGreaterThan(1)
        }
      }),
      { numRuns: 4, ...replay },
    )
    expect(runs).toBeGreaterThan(0)
  })
})

// ---------------------------------------------------------------------------

type World = {
  registry: InMemorySessionTaskRegistry
  events: Seen[]
  sinks: Map<string, TaskSink>
  setNow: (ms: number) => void
  executors: TaskExecutorRegistry
}

function world(opts: { cancelYields?: number; cancelSettles?: boolean } = {}): World {
  let t = T0
  const registry = new InMemorySessionTaskRegistry({ now: () => new Date(t) })
  const events: Seen[] = []
  registry.subscribeAll((sessionId, type, payload) => events.push({ sessionId, type, payload }))
  const sinks = new Map<string, TaskSink>()
  const executors = new TaskExecutorRegistry()
  executors.register({
    kind: 'job',
    executor: () => ({
      kind: 'job',
      async start(task, ctx) {
        sinks.set(task.id, ctx.sink)
        await ctx.sink.state('running')
        await ctx.sink.heartbeat()
      },
      async cancel(_task, ctx) {
        await yieldTimes(opts.cancelYields ?? 0)
        if (opts.cancelSettles !== false) await ctx.sink.state('canceled', 'canceled on request')
      },
    }),
  })
  return { registry, events, sinks, executors, setNow: (ms) => (t = ms) }
}

const terminalWakes = (wakes: TaskWake[]) => wakes.filter((w) => w.transition === 'terminal')

describe('the reaper racing a terminal write from the sink', () => {
  const cases = (['reap-first', 'sink-first'] as const).flatMap((order) =>
    (['state', 'update'] as const).map((how) => [order, how] as const),
  )

  test.each(cases)(
    'order %s, sink.%s(succeeded): exactly one terminal state and the winner is intact',
    async (order, how) => {
      const outcomes = new Set<string>()
      for (let delay = 0; delay <= 24; delay++) {
        const w = world()
        const supervisor = createTaskSupervisor({ registry: w.registry, executors: w.executors })
        const wakes = createWakeQueue(w.registry)
        const task = await supervisor.spawn({
          sessionId: S,
          kind: 'job',
          displayName: 'job',
          wakePolicy: 'on_terminal',
        })
        expect(task.state).toBe('running')
        w.setNow(T0 + 10 * MIN) // the heartbeat is now stale
        const sink = w.sinks.get(task.id) as TaskSink
        const finish = async () => {
          await yieldTimes(delay)
          if (how === 'state') await sink.state('succeeded')
          else await sink.update({ state: 'succeeded', summary: 'worker finished' })
        }
        const reap = () => supervisor.reap({ staleAfterMs: 5 * MIN })
        const [reaped] =
          order === 'reap-first'
            ? await Promise.all([reap(), finish()])
            : (await Promise.all([finish(), reap()])).reverse()
        const result = reaped as Awaited<ReturnType<typeof reap>>
        const final = (await w.registry.get(S, task.id)) as SessionTask
        outcomes.add(final.state)
        const ctx = `delay ${delay}: ${final.state}`

        expect(TERMINAL.has(final.state), ctx).toBe(true)
        expect(checkSnapshots(w.events, task.id), ctx).toBe(1)
        expect(final.finishedAt, ctx).toBe(new Date(T0 + 10 * MIN).toISOString())
        const terminal = terminalWakes(wakes.drain(S))
        expect(terminal, ctx).toHaveLength(1)
        if (final.state === 'succeeded') {
          // The worker won: no orphaned error, no bump, and the reaper says so.
          expect(final.error, ctx).toBeUndefined()
          expect(final.attempt, ctx).toBe(1)
          if (how === 'update') expect(final.summary, ctx).toBe('worker finished')
          expect(result.reaped, ctx).toBe(0)
          expect(
            result.outcomes.every((o) => o.outcome === 'skipped'),
            ctx,
          ).toBe(true)
          expect(terminal[0]?.text, ctx).toBe(
            `Task "job" (${task.id}) finished: succeeded.${how === 'update' ? '\n- summary: worker finished' : ''}`,
          )
        } else {
          // The reaper won: orphaned, bumped, and nothing of the late sink.
          expect(final.state, ctx).toBe('failed')
          expect(final.error, ctx).toEqual({
            kind: 'orphaned',
            message: 'worker heartbeat stopped',
          })
          expect(final.attempt, ctx).toBe(2)
          expect(final.summary, ctx).toBeUndefined()
          expect(result.reaped, ctx).toBe(1)
          expect(terminal[0]?.text, ctx).toBe(`Task "job" (${task.id}) finished: failed.`)
          await expect(sink.post({ content: [{ type: 'text', text: 'late' }] })).rejects.toSatisfy(
            isStaleAttemptError,
          )
        }
        wakes.stop()
        await supervisor.close()
      }
      // The sweep really produced both winners.
      expect([...outcomes].sort()).toStrictEqual(['failed', 'succeeded'])
    },
  )

  test('five reapers (separate supervisors) at once reap a stale task exactly once', async () => {
    const w = world()
    const supervisors = Array.from({ length: 5 }, () =>
      createTaskSupervisor({ registry: w.registry, executors: w.executors }),
    )
    const task = await supervisors[0]?.spawn({ sessionId: S, kind: 'job', displayName: 'job' })
    if (task === undefined) throw new Error('spawn failed')
    w.setNow(T0 + 10 * MIN)
    const results = await Promise.all(supervisors.map((s) => s.reap({ staleAfterMs: 5 * MIN })))
    expect(results.reduce((n, r) => n + r.reaped, 0)).toBe(1)
    const final = await w.registry.get(S, task.id)
    expect(final?.state).toBe('failed')
    expect(final?.attempt).toBe(2)
    expect(checkSnapshots(w.events, task.id)).toBe(1)
    for (const s of supervisors) await s.close()
  })
})

// ---------------------------------------------------------------------------

describe('cancel racing completion', () => {
  const cases = (['cancel-first', 'complete-first'] as const).flatMap((order) =>
    [0, 3].map((cancelYields) => [order, cancelYields] as const),
  )

  test.each(cases)(
    'order %s (executor.cancel yields %i times): one terminal state, finishedAt set once, the wake names what happened',
    async (order, cancelYields) => {
      const outcomes = new Set<string>()
      for (let delay = 0; delay <= 30; delay++) {
        const w = world({ cancelYields })
        const supervisor = createTaskSupervisor({
          registry: w.registry,
          executors: w.executors,
          concurrency: { global: 1 },
        })
        const wakes = createWakeQueue(w.registry)
        const task = await supervisor.spawn({
          sessionId: S,
          kind: 'job',
          displayName: 'job',
          wakePolicy: 'on_terminal',
        })
        w.setNow(T0 + 1000)
        const sink = w.sinks.get(task.id) as TaskSink
        const complete = async () => {
          await yieldTimes(delay)
          await sink.update({ state: 'succeeded', summary: 'done' })
        }
        const cancel = () => supervisor.cancel(S, task.id)
        const [returned] =
          order === 'cancel-first'
            ? await Promise.all([cancel(), complete()])
            : (await Promise.all([complete(), cancel()])).reverse()
        const final = (await w.registry.get(S, task.id)) as SessionTask
        outcomes.add(final.state)
        const ctx = `delay ${delay}: ${final.state}`

        expect(['succeeded', 'canceled'], ctx).toContain(final.state)
        expect(checkSnapshots(w.events, task.id), ctx).toBe(1)
        expect(final.finishedAt, ctx).toBe(new Date(T0 + 1000).toISOString())
        expect(final.cancelRequestedAt, ctx).toBe(new Date(T0 + 1000).toISOString())
        // cancel() returns a fresh read: never older than the winner.
        expect((returned as SessionTask | undefined)?.state, ctx).toBe(final.state)
        if (final.state === 'succeeded') {
          expect(final.summary, ctx).toBe('done')
          expect(final.stateDetail, ctx).toBeUndefined()
        } else {
          expect(final.summary, ctx).toBeUndefined()
          expect(final.stateDetail, ctx).toBe('canceled on request')
        }
        const terminal = terminalWakes(wakes.drain(S))
        expect(terminal, ctx).toHaveLength(1)
        expect(terminal[0]?.text, ctx).toBe(
          `Task "job" (${task.id}) finished: ${final.state}.${final.state === 'succeeded' ? '\n- summary: done' : ''}`,
        )
        // The slot was released whoever won: the next task starts at once.
        const next = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'next' })
        expect(next.state, ctx).toBe('running')
        wakes.stop()
        await w.sinks.get(next.id)?.state('succeeded')
        await supervisor.close()
      }
      expect([...outcomes].sort()).toStrictEqual(['canceled', 'succeeded'])
    },
  )
})

describe('cancel racing the start of a queued task (concurrency slot hand-over)', () => {
  // global: 1. A runs, B waits for the slot. A completes (freeing the slot and
  // starting B) while B is being canceled. Whatever the interleaving, B ends
  // canceled, is never started once canceled, and its slot comes back (SPEC 9:
  // a started task holds its slot until it is terminal in the registry).
  const cases = [0, 3, 6].flatMap((delay) =>
    (['supervisor.cancel', 'registry.update'] as const).map((how) => [delay, how] as const),
  )
  test.each(cases)(
    'completion of the slot holder delayed %i microtasks, B ended by %s delayed 0..30',
    async (completeDelay, how) => {
      const failures: string[] = []
      for (let delay = 0; delay <= 30; delay++) {
        const w = world()
        const startedWhile: { id: string; state: string | undefined; aborted: boolean }[] = []
        // Wrap the executor so we see the record's state at the moment start is called.
        const executors = new TaskExecutorRegistry()
        executors.register({
          kind: 'job',
          executor: () => ({
            kind: 'job',
            async start(task, ctx) {
              const now = await w.registry.get(S, task.id)
              startedWhile.push({ id: task.id, state: now?.state, aborted: ctx.signal.aborted })
              w.sinks.set(task.id, ctx.sink)
              await ctx.sink.state('running')
            },
            async cancel(_task, ctx) {
              await ctx.sink.state('canceled', 'canceled on request')
            },
          }),
        })
        const supervisor = createTaskSupervisor({
          registry: w.registry,
          executors,
          concurrency: { global: 1 },
          cancelGraceMs: 0,
        })
        const a = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'a' })
        const b = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'b' })
        expect(b.state).toBe('queued')
        await Promise.all([
          (async () => {
            await yieldTimes(delay)
            // Any writer may end a task; the supervisor learns it from events.
            if (how === 'supervisor.cancel') await supervisor.cancel(S, b.id)
            else
              await w.registry.update(S, b.id, {
                state: 'canceled',
                stateDetail: 'canceled on request',
              })
          })(),
          (async () => {
            await yieldTimes(completeDelay)
            await w.sinks.get(a.id)?.state('succeeded')
          })(),
        ])
        // Let any queued start run (immediates, not timers).
        for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r))
        const c = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'c' })
        for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r))
        const finalB = await w.registry.get(S, b.id)
        const finalC = await w.registry.get(S, c.id)
        const problems: string[] = []
        if (finalB?.state !== 'canceled') problems.push(`B ended ${finalB?.state}`)
        for (const s of startedWhile.filter((x) => x.id === b.id))
          if (s.state !== undefined && TERMINAL.has(s.state as SessionTaskState) && !s.aborted)
            problems.push(`B's executor was started while B was already ${s.state}`)
        if (finalC?.state !== 'running')
          problems.push(`C is ${finalC?.state}: B's slot was never released`)
        if (problems.length > 0) failures.push(`cancel delay ${delay}: ${problems.join('; ')}`)
        await w.sinks.get(c.id)?.state('succeeded')
        await supervisor.close()
      }
      expect(failures).toStrictEqual([])
    },
  )
})

// ---------------------------------------------------------------------------

describe('concurrent appends and idempotent calls', () => {
  test('1,000 concurrent artifact calls from two sinks keep all 1,000 (stale sinks add none)', async () => {
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(T0) })
    const task = await registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'x',
      state: 'running',
    })
    const updates: SessionTask[] = []
    registry.subscribe(S, (type, payload) => {
      if (type === 'task.updated') updates.push((payload as { task: SessionTask }).task)
    })
    const one = new RegistryTaskSink(registry, S, task.id)
    const two = one.withAttempt(1)
    const stale = one.withAttempt(2)
    const callOrder: string[] = []
    const append = async (i: number) => {
      await yieldTimes((i * 7919) % 13)
      const name = `art-${i}`
      callOrder.push(name)
      await (i % 2 === 0 ? one : two).artifact({ name, type: 'file', path: `/out/${i}` })
    }
    const staleAppend = async (i: number) => {
      await yieldTimes(i % 5)
      await stale.artifact({ name: `stale-${i}`, type: 'file' })
    }
    await Promise.all([
      ...Array.from({ length: 1000 }, (_, i) => append(i)),
      ...Array.from({ length: 200 }, (_, i) => staleAppend(i)),
    ])
    const final = await registry.get(S, task.id)
    expect(final?.artifacts).toHaveLength(1000)
    expect(final?.artifacts.map((a) => a.name)).toStrictEqual(callOrder)
    expect(new Set(final?.artifacts.map((a) => a.name)).size).toBe(1000)
    expect(updates).toHaveLength(1000)
    expect(updates.map((u) => u.artifacts.length)).toStrictEqual(
      Array.from({ length: 1000 }, (_, i) => i + 1),
    )
  })

  test('100 concurrent requestCancel calls stamp once and emit once', async () => {
    let t = T0
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(t++) })
    const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    const seen: string[] = []
    registry.subscribe(S, (type) => seen.push(type))
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        await yieldTimes(i % 9)
        return registry.requestCancel(S, task.id)
      }),
    )
    const stamps = new Set(results.map((r) => r?.cancelRequestedAt))
    expect(stamps.size).toBe(1)
    expect(seen).toStrictEqual(['task.updated'])
    expect((await registry.get(S, task.id))?.state).toBe('queued')
  })

  test('concurrent creates with one caller id: one insert, one event, the same record; other sessions conflict', async () => {
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(T0) })
    const seen: string[] = []
    registry.subscribeAll((sid, type) => seen.push(`${sid}:${type}`))
    const attempts = await Promise.allSettled(
      Array.from({ length: 200 }, async (_, i) => {
        await yieldTimes(i % 11)
        return registry.create({
          sessionId: i % 4 === 3 ? 'intruder' : S,
          id: 'shared-id',
          kind: 'k',
          displayName: `creator ${i}`,
        })
      }),
    )
    const fulfilled = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []))
    const rejected = attempts.flatMap((a) => (a.status === 'rejected' ? [a.reason] : []))
    // Whoever came first owns the id; everyone in the owner's session gets its record.
    expect(seen).toHaveLength(1)
    const owner = fulfilled[0]?.sessionId
    expect(fulfilled.every((r) => r.sessionId === owner)).toBe(true)
    expect(new Set(fulfilled.map((r) => JSON.stringify(r))).size).toBe(1)
    expect(rejected.every(isTaskConflictError)).toBe(true)
    expect(fulfilled.length + rejected.length).toBe(200)
    expect(rejected.length).toBe(owner === S ? 50 : 150)
  })
})
