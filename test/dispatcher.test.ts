import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isTerminalState,
  isUnsupportedOperationError,
  type SessionTask,
  type SessionTaskRegistry,
  type TaskExecutionContext,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from '../src/index.js'

// SPEC 12.4, dispatch: 'shared' with several supervisors on one in-memory
// registry (the same scenarios run across processes on PostgreSQL in
// test/shared-dispatch-processes.test.ts).

type Start = { node: string; taskId: string; attempt: number }

const supervisors: TaskSupervisor[] = []

function cluster() {
  const registry = new InMemorySessionTaskRegistry()
  const starts: Start[] = []
  const running = new Map<string, TaskExecutionContext>()
  const cancels: string[] = []
  // The most tasks holding a slot at once, checked at every event.
  let peak = 0
  const perSessionPeak = new Map<string, number>()
  const observe = (tasks: SessionTask[]) => {
    const holding = tasks.filter((t) => t.state === 'running' || t.state === 'awaiting_input')
    peak = Math.max(peak, holding.length)
    for (const t of holding) {
      const n = holding.filter((h) => h.sessionId === t.sessionId).length
      perSessionPeak.set(t.sessionId, Math.max(perSessionPeak.get(t.sessionId) ?? 0, n))
    }
  }
  const all = new Map<string, SessionTask>()
  registry.subscribeAll((_sid, type, payload) => {
    if (type !== 'task.created' && type !== 'task.updated') return
    const { task } = payload as { task: SessionTask }
    all.set(task.id, task)
    observe([...all.values()])
  })

  function node(
    name: string,
    options: {
      global?: number
      perSession?: number
      hang?: boolean
      sweepIntervalMs?: number
      // false: this node's close() hands nothing back (a process that dies).
      reattach?: boolean
    } = {},
  ) {
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        async start(task, ctx) {
          starts.push({ node: name, taskId: task.id, attempt: task.attempt })
          running.set(task.id, ctx)
          await ctx.sink.state('running')
        },
        async cancel(task) {
          cancels.push(`${name}:${task.id}`)
          // An executor whose cancel never returns.
          if (options.hang === true) await new Promise(() => {})
        },
        canReattach: () => options.reattach !== false,
      }),
    })
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      dispatch: 'shared',
      workerId: name,
      sweepIntervalMs: options.sweepIntervalMs ?? 1000,
      cancelGraceMs: 500,
      concurrency: {
        ...(options.global === undefined ? {} : { global: options.global }),
        ...(options.perSession === undefined ? {} : { perSession: options.perSession }),
      },
      onError: (error) => {
        throw error
      },
    })
    supervisors.push(supervisor)
    return supervisor
  }

  const finish = async (taskId: string) => {
    const ctx = running.get(taskId)
    if (ctx === undefined) throw new Error(`task ${taskId} is not running`)
    running.delete(taskId)
    await ctx.sink.state('succeeded')
  }
  const spawn = (s: TaskSupervisor, sessionId = 's1', timeoutMs?: number) =>
    s.spawn(
      { sessionId, kind: 'job', displayName: 'job' },
      timeoutMs === undefined ? undefined : { timeoutMs },
    )
  const read = async (task: SessionTask) => {
    const found = await registry.get(task.sessionId, task.id)
    if (found === undefined) throw new Error('vanished')
    return found
  }
  return {
    registry,
    starts,
    running,
    cancels,
    node,
    finish,
    spawn,
    read,
    peak: () => peak,
    perSessionPeak,
  }
}

const settle = () => vi.advanceTimersByTimeAsync(0)

// A supervisor that stops for good: its runs are abandoned (close waits out
// their grace); made with reattach: false, it hands nothing back, so the
// tasks they held stay running in the registry as a dead process's would.
async function die(s: TaskSupervisor) {
  const closing = s.close()
  await vi.advanceTimersByTimeAsync(500)
  await closing
}

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(async () => {
  const closing = supervisors.splice(0).map((s) => s.close())
  await vi.runAllTimersAsync()
  await Promise.all(closing)
  vi.useRealTimers()
})

describe("dispatch: 'shared'", () => {
  it('two supervisors share one global limit; each queued task starts once, oldest first', async () => {
    const c = cluster()
    const a = c.node('a', { global: 2 })
    const b = c.node('b', { global: 2 })
    const tasks: SessionTask[] = []
    for (let i = 0; i < 6; i++) tasks.push(await c.spawn(i % 2 === 0 ? a : b, `s${i % 3}`))
    await settle()
    expect(c.starts).toHaveLength(2)
    expect(c.starts.map((s) => s.taskId)).toEqual([tasks[0]?.id, tasks[1]?.id])
    const waiting = await c.read(tasks[2] as SessionTask)
    expect(waiting.state).toBe('queued')
    expect(waiting.stateDetail).toBe('waiting for a concurrency slot')
    for (let done = 0; done < 6; done++) {
      const next = c.starts[done]
      if (next === undefined) throw new Error(`only ${c.starts.length} started`)
      await c.finish(next.taskId)
      await settle()
    }
    expect(c.starts.map((s) => s.taskId)).toEqual(tasks.map((t) => t.id))
    for (const t of tasks) expect((await c.read(t)).state).toBe('succeeded')
    expect(c.peak()).toBe(2)
  })

  it('three supervisors racing over many spawns never exceed global or perSession, and start each task once', async () => {
    const c = cluster()
    const nodes = ['a', 'b', 'c'].map((n) => c.node(n, { global: 4, perSession: 2 }))
    const spawns: Promise<SessionTask>[] = []
    for (let i = 0; i < 30; i++) spawns.push(c.spawn(nodes[i % 3] as TaskSupervisor, `s${i % 5}`))
    const tasks = await Promise.all(spawns)
    await settle()
    for (let round = 0; round < 40 && c.running.size > 0; round++) {
      for (const id of [...c.running.keys()]) await c.finish(id)
      await settle()
    }
    expect(c.running.size).toBe(0)
    const ids = c.starts.map((s) => s.taskId)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.sort()).toEqual(tasks.map((t) => t.id).sort())
    expect(c.peak()).toBeLessThanOrEqual(4)
    for (const n of c.perSessionPeak.values()) expect(n).toBeLessThanOrEqual(2)
    expect(new Set(c.starts.map((s) => s.node)).size).toBeGreaterThan(1)
  })

  it('queued tasks of a supervisor that died are started by another, once each', async () => {
    const c = cluster()
    const a = c.node('a', { global: 1, reattach: false })
    const tasks = [await c.spawn(a), await c.spawn(a), await c.spawn(a)]
    await settle()
    expect(c.starts.map((s) => s.node)).toEqual(['a'])
    await die(a)
    c.running.clear()
    const b = c.node('b', { global: 1 })
    const stop = b.startHousekeeping({ intervalMs: 60_000, staleAfterMs: 120_000 })
    await settle()
    // a's task still holds the only slot until the reaper re-queues it.
    expect(c.starts.map((s) => s.node)).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(180_000)
    const first = c.starts[1]
    expect(first).toEqual({ node: 'b', taskId: tasks[0]?.id, attempt: 2 })
    for (let i = 1; i < 3; i++) {
      await c.finish(c.starts[i]?.taskId ?? '')
      await settle()
    }
    await c.finish(c.starts[3]?.taskId ?? '')
    await settle()
    stop()
    expect(c.starts.slice(1).map((s) => [s.node, s.taskId])).toEqual(tasks.map((t) => ['b', t.id]))
    for (const t of tasks) expect((await c.read(t)).state).toBe('succeeded')
    expect(c.peak()).toBe(1)
  })

  it('a task queued before any supervisor existed is claimed by the first sweep; one created later by its event', async () => {
    const c = cluster()
    const early = await c.registry.create({ sessionId: 's1', kind: 'job', displayName: 'early' })
    c.node('a')
    await settle()
    expect(c.starts.map((s) => s.taskId)).toEqual([early.id])
    const late = await c.registry.create({ sessionId: 's1', kind: 'job', displayName: 'late' })
    await settle()
    expect(c.starts.map((s) => s.taskId)).toEqual([early.id, late.id])
    expect((await c.read(late)).workerId).toBe('a')
  })

  it('a kind without an executor here is left queued for a supervisor that has one', async () => {
    const c = cluster()
    c.node('a')
    const other = await c.registry.create({ sessionId: 's1', kind: 'other', displayName: 'x' })
    await vi.advanceTimersByTimeAsync(5000)
    expect((await c.read(other)).state).toBe('queued')
    expect(c.starts).toEqual([])
  })

  it('a cancel through one supervisor reaches the run in another: signal, then executor.cancel', async () => {
    const c = cluster()
    const a = c.node('a')
    const b = c.node('b')
    const task = await c.spawn(a)
    await settle()
    const owner = c.starts[0]?.node
    const ctx = c.running.get(task.id)
    const other = owner === 'a' ? b : a
    await other.cancel('s1', task.id)
    await settle()
    expect(ctx?.signal.aborted).toBe(true)
    expect((ctx?.signal.reason as { kind?: string } | undefined)?.kind).toBe('canceled')
    expect(c.cancels).toContain(`${owner}:${task.id}`)
    // Nobody stops it: the forced end comes cancelGraceMs later, on a new attempt.
    await vi.advanceTimersByTimeAsync(500)
    const ended = await c.read(task)
    expect(ended.state).toBe('canceled')
    expect(ended.attempt).toBe(2)
  })

  it('a queued task canceled anywhere is canceled by compare-and-set and never starts', async () => {
    const c = cluster()
    const a = c.node('a', { global: 1 })
    const b = c.node('b', { global: 1 })
    const first = await c.spawn(a)
    const second = await c.spawn(a)
    await settle()
    const canceled = await b.cancel('s1', second.id)
    expect(canceled?.state).toBe('canceled')
    expect(canceled?.stateDetail).toBe('canceled before it started')
    await c.finish(first.id)
    await vi.advanceTimersByTimeAsync(2000)
    expect(c.starts.map((s) => s.taskId)).toEqual([first.id])
  })

  it('a task that can start is found behind more than a page of tasks a session limit holds back', async () => {
    const c = cluster()
    const a = c.node('a', { global: 2, perSession: 1 })
    const first = await c.spawn(a, 'busy')
    const other = await c.spawn(a, 'other')
    for (let i = 0; i < 150; i++) await c.spawn(a, 'busy')
    const late = await c.spawn(a, 'late')
    await settle()
    expect((await c.read(late)).state).toBe('queued')
    await c.finish(other.id)
    await settle()
    expect(c.starts.map((s) => s.taskId)).toContain(late.id)
    expect(c.running.has(first.id)).toBe(true)
    expect(c.peak()).toBe(2)
  })

  it('a run whose task another supervisor re-queued is superseded, and the new attempt runs once', async () => {
    const c = cluster()
    const a = c.node('a')
    const task = await c.spawn(a)
    await settle()
    const old = c.running.get(task.id)
    const b = c.node('b')
    // a's run stops heartbeating: b's reaper re-queues it on attempt 2.
    await vi.advanceTimersByTimeAsync(10_000)
    await b.reap({ staleAfterMs: 5_000 })
    await settle()
    expect((old?.signal.reason as { kind?: string } | undefined)?.kind).toBe('superseded')
    expect(c.starts.filter((s) => s.attempt === 2)).toHaveLength(1)
    expect((await c.read(task)).state).toBe('running')
  })

  it('deleting a session clears the deadline timers of its tasks that wait in the shared queue', async () => {
    const c = cluster()
    const a = c.node('a', { global: 1 })
    await c.spawn(a, 'other')
    await c.spawn(a, 's1', 60_000)
    await settle()
    const before = vi.getTimerCount()
    await c.registry.deleteSession('s1')
    await settle()
    expect(vi.getTimerCount()).toBe(before - 1)
  })

  it('close() hands a run that did not settle back to the queue, and another supervisor starts it at once', async () => {
    const c = cluster()
    const a = c.node('a')
    const task = await c.spawn(a)
    await settle()
    c.node('b')
    await die(a)
    await settle()
    const after = await c.read(task)
    expect(after.attempt).toBe(2)
    expect(c.starts.map((s) => [s.node, s.attempt])).toEqual([
      ['a', 1],
      ['b', 2],
    ])
    expect(after.state).toBe('running')
    expect(after.workerId).toBe('b')
  })

  it('needs a registry with claim and listQueued', () => {
    const registry = new InMemorySessionTaskRegistry()
    const bare = Object.create(registry) as SessionTaskRegistry & { claim?: unknown }
    Object.defineProperty(bare, 'claim', { value: undefined })
    let error: unknown
    try {
      createTaskSupervisor({ registry: bare, dispatch: 'shared' })
    } catch (e) {
      error = e
    }
    expect(isUnsupportedOperationError(error)).toBe(true)
  })
})

describe('stored deadlines (any supervisor enforces them)', () => {
  it('a running task of a dead supervisor is canceled at its deadline and failed with timeout a grace later', async () => {
    const c = cluster()
    const a = c.node('a', { reattach: false })
    const task = await c.spawn(a, 's1', 10_000)
    await settle()
    expect(task.deadlineAt).toBe(new Date(Date.now() + 10_000).toISOString())
    await die(a)
    const b = c.node('b')
    // Passes every 250 ms from b's start, 500 ms after the spawn (die() took that).
    const stop = b.startHousekeeping({ intervalMs: 250, staleAfterMs: 3_600_000 })
    await vi.advanceTimersByTimeAsync(9_749)
    const before = await c.read(task)
    expect([before.state, before.cancelRequestedAt]).toEqual(['running', undefined])
    // The first pass past the deadline asks to cancel and calls executor.cancel here...
    await vi.advanceTimersByTimeAsync(1)
    const requested = await c.read(task)
    expect(requested.cancelRequestedAt).toBeDefined()
    expect(requested.state).toBe('running')
    expect(c.cancels).toEqual([`b:${task.id}`])
    // ...and the forced end comes cancelGraceMs after the deadline, not after the pass.
    await vi.advanceTimersByTimeAsync(249)
    expect((await c.read(task)).state).toBe('running')
    await vi.advanceTimersByTimeAsync(1)
    const ended = await c.read(task)
    stop()
    expect(ended.state).toBe('failed')
    expect(ended.error?.kind).toBe('timeout')
    expect(ended.error?.message).toBe(`task timed out at its deadline ${task.deadlineAt}`)
    expect(ended.attempt).toBe(2)
  })

  it('an executor.cancel that never returns holds up neither the forced end nor housekeeping', async () => {
    const c = cluster()
    const a = c.node('a')
    const timed = await c.registry.create({
      sessionId: 's1',
      kind: 'job',
      displayName: 'timed',
      state: 'running',
      deadlineAt: new Date(Date.now() + 1000).toISOString(),
    })
    const b = c.node('b', { hang: true })
    await a.close()
    const stop = b.startHousekeeping({ intervalMs: 1000, staleAfterMs: 60_000 })
    await vi.advanceTimersByTimeAsync(2000)
    expect(c.cancels).toEqual([`b:${timed.id}`])
    await vi.advanceTimersByTimeAsync(500)
    expect((await c.read(timed)).error?.kind).toBe('timeout')
    // Later passes still run: a stale task is reaped (re-queued) meanwhile.
    const stale = await c.registry.create({
      sessionId: 's1',
      kind: 'job',
      displayName: 'stale',
      state: 'running',
    })
    await c.registry.update('s1', stale.id, { heartbeatAt: new Date().toISOString() })
    await vi.advanceTimersByTimeAsync(62_000)
    stop()
    expect((await c.read(stale)).attempt).toBe(2)
  })

  it('a queued task past its deadline is canceled, once, whoever sweeps', async () => {
    const c = cluster()
    const a = c.node('a', { global: 1 })
    await c.spawn(a)
    const late = await c.registry.create({
      sessionId: 's1',
      kind: 'job',
      displayName: 'late',
      deadlineAt: new Date(Date.now() + 3000).toISOString(),
    })
    const b = c.node('b', { global: 1 })
    const updates: SessionTask[] = []
    c.registry.subscribe('s1', (type, payload) => {
      const t = (payload as { task?: SessionTask }).task
      if (type === 'task.updated' && t?.id === late.id) updates.push(t)
    })
    const stops = [a, b].map((s) => s.startHousekeeping({ intervalMs: 1000 }))
    await vi.advanceTimersByTimeAsync(4000)
    for (const stop of stops) stop()
    const ended = await c.read(late)
    expect(ended.state).toBe('canceled')
    expect(ended.stateDetail).toMatch(/^timed out at its deadline .* before it started$/)
    expect(updates.filter((t) => isTerminalState(t.state))).toHaveLength(1)
    expect(c.starts.map((s) => s.taskId)).not.toContain(late.id)
  })

  it('a task claimed from the queue is timed by its claimer at its stored deadline', async () => {
    const c = cluster()
    const queued = await c.registry.create({
      sessionId: 's1',
      kind: 'job',
      displayName: 'timed',
      deadlineAt: new Date(Date.now() + 2000).toISOString(),
    })
    c.node('a')
    await settle()
    const ctx = c.running.get(queued.id)
    await vi.advanceTimersByTimeAsync(2000)
    expect((ctx?.signal.reason as { kind?: string } | undefined)?.kind).toBe('timeout')
    await vi.advanceTimersByTimeAsync(500)
    expect((await c.read(queued)).error?.kind).toBe('timeout')
  })
})
