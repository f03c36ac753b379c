import { describe, expect, test, vi } from 'vitest'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isStaleAttemptError,
  type RegistryTaskSink,
  type SessionTask,
  type TaskExecutionContext,
  type TaskExecutor,
  TaskExecutorRegistry,
} from '../src/index.js'

const MIN = 60_000
const T0 = new Date('2026-03-01T00:00:00.000Z')

function world(options: { reattach?: boolean; startFails?: boolean } = {}) {
  let now = T0
  const clock = {
    get: () => now,
    advance: (ms: number) => {
      now = new Date(now.getTime() + ms)
    },
  }
  const registry = new InMemorySessionTaskRegistry({ now: () => clock.get() })
  const starts: { task: SessionTask; ctx: TaskExecutionContext }[] = []
  const executor: TaskExecutor = {
    kind: 'worker',
    canReattach: () => options.reattach === true,
    async start(task, ctx) {
      starts.push({ task, ctx })
      if (options.startFails === true && task.attempt > 1)
        throw new Error('cannot reach the worker')
      await ctx.sink.state('running')
      await ctx.sink.heartbeat()
    },
    async cancel() {},
  }
  const executors = new TaskExecutorRegistry()
  executors.register({ kind: 'worker', executor: () => executor })
  const supervisor = createTaskSupervisor({ registry, executors })
  return { registry, supervisor, clock, starts, executors }
}

async function staleRunning(w: ReturnType<typeof world>, sessionId = 's') {
  const task = await w.supervisor.spawn({ sessionId, kind: 'worker', displayName: 'job' })
  w.clock.advance(10 * MIN)
  return task
}

describe('reap', () => {
  test('a running task whose heartbeat went stale fails orphaned with its attempt bumped', async () => {
    const w = world()
    const task = await staleRunning(w)
    const result = await w.supervisor.reap()
    expect(result).toEqual({
      candidates: 1,
      reaped: 1,
      reattached: 0,
      skipped: 0,
      outcomes: [{ sessionId: 's', taskId: task.id, outcome: 'reaped' }],
    })
    const after = await w.registry.get('s', task.id)
    expect(after?.state).toBe('failed')
    expect(after?.error).toEqual({ kind: 'orphaned', message: 'worker heartbeat stopped' })
    expect(after?.attempt).toBe(2)
  })

  test("the dead worker's later sink writes are ignored and its post throws", async () => {
    const w = world()
    const task = await staleRunning(w)
    const deadSink = w.starts[0]?.ctx.sink as RegistryTaskSink
    expect(deadSink.attempt).toBe(1)
    await w.supervisor.reap()
    const before = await w.registry.get('s', task.id)
    const events: string[] = []
    w.registry.subscribe('s', (type) => events.push(type))
    await deadSink.state('succeeded')
    await deadSink.progress({ current: 9 })
    await deadSink.artifact({ name: 'late', type: 'file' })
    await deadSink.heartbeat()
    await deadSink.output('stdout', 'late')
    expect(await w.registry.get('s', task.id)).toEqual(before)
    expect(events).toEqual([])
    const error = await deadSink
      .post({ content: [{ type: 'text', text: 'late' }] })
      .catch((e: unknown) => e)
    expect(isStaleAttemptError(error)).toBe(true)
    expect(w.starts[0]?.ctx.signal.aborted).toBe(true)
  })

  test('a re-attachable kind under maxAttempts is restarted on the new attempt', async () => {
    const w = world({ reattach: true })
    const task = await staleRunning(w)
    const result = await w.supervisor.reap({ maxAttempts: 3 })
    expect(result.reattached).toBe(1)
    expect(result.outcomes).toEqual([{ sessionId: 's', taskId: task.id, outcome: 'reattached' }])
    expect(w.starts).toHaveLength(2)
    const restart = w.starts[1]
    expect(restart?.task.attempt).toBe(2)
    expect(restart?.task.workerId).toBe('reaper')
    expect(restart?.task.stateDetail).toBe('re-attached (attempt 2)')
    expect((restart?.ctx.sink as RegistryTaskSink | undefined)?.attempt).toBe(2)
    expect(w.starts[0]?.ctx.signal.aborted).toBe(true)
    const after = await w.registry.get('s', task.id)
    expect(after?.state).toBe('running')
    expect(after?.attempt).toBe(2)
  })

  test('at maxAttempts a re-attachable task fails instead', async () => {
    const w = world({ reattach: true })
    const task = await staleRunning(w)
    await w.supervisor.reap({ maxAttempts: 2 })
    w.clock.advance(10 * MIN)
    const second = await w.supervisor.reap({ maxAttempts: 2 })
    expect(second.reaped).toBe(1)
    const after = await w.registry.get('s', task.id)
    expect(after?.state).toBe('failed')
    expect(after?.error?.kind).toBe('orphaned')
    expect(after?.attempt).toBe(3)
  })

  test('a re-attach whose start fails ends orphaned without a second attempt bump', async () => {
    const w = world({ reattach: true, startFails: true })
    const task = await staleRunning(w)
    const result = await w.supervisor.reap()
    expect(result.reaped).toBe(1)
    const after = await w.registry.get('s', task.id)
    expect(after?.state).toBe('failed')
    expect(after?.error?.kind).toBe('orphaned')
    expect(after?.error?.message).toContain('cannot reach the worker')
    expect(after?.attempt).toBe(2)
  })

  test('awaiting_input and never-heartbeating tasks are left alone', async () => {
    const w = world()
    const waiting = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'w',
      state: 'running',
    })
    await w.registry.update('s', waiting.id, { heartbeatAt: T0.toISOString() })
    await w.registry.update('s', waiting.id, { inputRequest: { id: 'q', prompt: 'ok?' } })
    const silent = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'n',
      state: 'running',
    })
    w.clock.advance(60 * MIN)
    const result = await w.supervisor.reap()
    expect(result.candidates).toBe(0)
    expect((await w.registry.get('s', waiting.id))?.state).toBe('awaiting_input')
    expect((await w.registry.get('s', silent.id))?.state).toBe('running')
  })

  test('a fresh heartbeat keeps a task out of the reap', async () => {
    const w = world()
    const task = await w.supervisor.spawn({ sessionId: 's', kind: 'worker', displayName: 'job' })
    w.clock.advance(4 * MIN)
    expect((await w.supervisor.reap({ staleAfterMs: 5 * MIN })).candidates).toBe(0)
    expect((await w.registry.get('s', task.id))?.state).toBe('running')
  })

  test('a task that succeeded between listing and reaping stays succeeded', async () => {
    const w = world()
    const task = await staleRunning(w)
    const listStale = w.registry.listStale.bind(w.registry)
    vi.spyOn(w.registry, 'listStale').mockImplementation(async (options) => {
      const found = await listStale(options)
      await w.registry.update('s', task.id, { state: 'succeeded', summary: 'made it' })
      return found
    })
    const result = await w.supervisor.reap()
    expect(result.candidates).toBe(1)
    expect(result.skipped).toBe(1)
    expect(result.outcomes[0]?.reason).toBe('already succeeded')
    const after = await w.registry.get('s', task.id)
    expect(after?.state).toBe('succeeded')
    expect(after?.summary).toBe('made it')
    expect(after?.attempt).toBe(1)
  })

  test('two reapers running at once reap a task once', async () => {
    const w = world()
    const task = await staleRunning(w)
    const other = createTaskSupervisor({ registry: w.registry, executors: w.executors })
    const [a, b] = await Promise.all([w.supervisor.reap(), other.reap()])
    expect(a.reaped + b.reaped).toBe(1)
    expect(a.skipped + b.skipped).toBe(1)
    const after = await w.registry.get('s', task.id)
    expect(after?.attempt).toBe(2)
    const wakesOrUpdates: string[] = []
    w.registry.subscribe('s', (type) => wakesOrUpdates.push(type))
    expect(wakesOrUpdates).toEqual([])
  })

  test('two reapers racing a re-attach start the new attempt once', async () => {
    const w = world({ reattach: true })
    await staleRunning(w)
    const other = createTaskSupervisor({ registry: w.registry, executors: w.executors })
    const [a, b] = await Promise.all([w.supervisor.reap(), other.reap()])
    expect(a.reattached + b.reattached).toBe(1)
    expect(w.starts).toHaveLength(2)
  })

  test('reap honours its limit and reports every candidate', async () => {
    const w = world()
    for (let i = 0; i < 3; i++)
      await w.supervisor.spawn({ sessionId: `s${i}`, kind: 'worker', displayName: 'job' })
    w.clock.advance(10 * MIN)
    const result = await w.supervisor.reap({ limit: 2 })
    expect(result.candidates).toBe(2)
    expect(result.outcomes.map((o) => o.sessionId)).toEqual(['s0', 's1'])
  })

  test('a reaped task frees its concurrency slot', async () => {
    const w = world()
    const limited = createTaskSupervisor({
      registry: w.registry,
      executors: w.executors,
      concurrency: { global: 1 },
    })
    const first = await limited.spawn({ sessionId: 's', kind: 'worker', displayName: 'one' })
    const second = await limited.spawn({ sessionId: 's', kind: 'worker', displayName: 'two' })
    expect((await w.registry.get('s', second.id))?.state).toBe('queued')
    w.clock.advance(10 * MIN)
    await limited.reap()
    expect((await w.registry.get('s', first.id))?.state).toBe('failed')
    await vi.waitFor(async () =>
      expect((await w.registry.get('s', second.id))?.state).toBe('running'),
    )
  })
})

describe('prune', () => {
  test('deletes terminal tasks finished before the cutoff and keeps live and recent ones', async () => {
    const w = world()
    const old = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'old',
      state: 'running',
    })
    const live = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'live',
      state: 'running',
    })
    await w.registry.recordMessage('s', old.id, {
      direction: 'outbound',
      content: [{ type: 'text', text: 'x' }],
    })
    w.clock.advance(MIN)
    await w.registry.update('s', old.id, { state: 'succeeded' })
    w.clock.advance(60 * MIN)
    const recent = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'new',
      state: 'succeeded',
    })
    const pruned = await w.supervisor.prune({
      finishedBefore: new Date(w.clock.get().getTime() - 30 * MIN),
    })
    expect(pruned.map((t) => t.id)).toEqual([old.id])
    expect((await w.registry.list('s')).map((t) => t.id)).toEqual([live.id, recent.id])
    expect(await w.registry.listMessages('s', old.id)).toEqual([])
  })

  test('retention counts from the terminal transition, not from creation', async () => {
    const w = world()
    const task = await w.registry.create({
      sessionId: 's',
      kind: 'worker',
      displayName: 'long',
      state: 'running',
    })
    w.clock.advance(100 * MIN)
    await w.registry.update('s', task.id, { state: 'failed' })
    w.clock.advance(MIN)
    const pruned = await w.supervisor.prune({
      finishedBefore: new Date(w.clock.get().getTime() - 30 * MIN),
    })
    expect(pruned).toEqual([])
    expect(await w.registry.get('s', task.id)).toBeDefined()
  })
})

describe('housekeeping', () => {
  test('runs reap then prune every interval, the first pass after one interval', async () => {
    vi.useFakeTimers({ now: T0 })
    try {
      const registry = new InMemorySessionTaskRegistry()
      const executors = new TaskExecutorRegistry()
      executors.register({
        kind: 'worker',
        executor: () => ({ kind: 'worker', cancel: async () => {} }),
      })
      const supervisor = createTaskSupervisor({ registry, executors })
      const stale = await registry.create({
        sessionId: 's',
        kind: 'worker',
        displayName: 'stale',
        state: 'running',
      })
      await registry.update('s', stale.id, { heartbeatAt: T0.toISOString() })
      const done = await registry.create({
        sessionId: 's',
        kind: 'worker',
        displayName: 'done',
        state: 'succeeded',
      })
      const reap = vi.spyOn(supervisor, 'reap')
      const prune = vi.spyOn(supervisor, 'prune')
      const stop = supervisor.startHousekeeping({
        intervalMs: 10 * MIN,
        staleAfterMs: 5 * MIN,
        retainFinishedMs: 5 * MIN,
      })
      await vi.advanceTimersByTimeAsync(10 * MIN - 1)
      expect(reap).not.toHaveBeenCalled()
      await vi.advanceTimersByTimeAsync(1)
      expect(reap).toHaveBeenCalledTimes(1)
      expect(prune).toHaveBeenCalledTimes(1)
      expect(reap.mock.invocationCallOrder[0]).toBeLessThan(prune.mock.invocationCallOrder[0] ?? 0)
      expect((await registry.get('s', stale.id))?.error?.kind).toBe('orphaned')
      expect(await registry.get('s', done.id)).toBeUndefined()
      stop()
      await vi.advanceTimersByTimeAsync(60 * MIN)
      expect(reap).toHaveBeenCalledTimes(1)
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  test('a failing pass goes to onError and the next pass still runs', async () => {
    vi.useFakeTimers({ now: T0 })
    try {
      const registry = new InMemorySessionTaskRegistry()
      const supervisor = createTaskSupervisor({ registry, executors: new TaskExecutorRegistry() })
      const failure = new Error('database down')
      const listStale = vi.spyOn(registry, 'listStale').mockRejectedValueOnce(failure)
      const onError = vi.fn()
      const stop = supervisor.startHousekeeping({ intervalMs: 1000, onError })
      await vi.advanceTimersByTimeAsync(1000)
      expect(onError).toHaveBeenCalledWith(failure, 'housekeeping reap')
      await vi.advanceTimersByTimeAsync(1000)
      expect(listStale).toHaveBeenCalledTimes(2)
      expect(onError).toHaveBeenCalledTimes(1)
      stop()
    } finally {
      vi.useRealTimers()
    }
  })

  test('its timer never keeps the process alive', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const supervisor = createTaskSupervisor({ registry, executors: new TaskExecutorRegistry() })
    const count = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const before = count()
    const stop = supervisor.startHousekeeping({ intervalMs: 1000 })
    expect(count()).toBe(before)
    stop()
    await supervisor.close()
  })

  test('a pass in flight when the supervisor closes ends quietly: no reap, no notice', async () => {
    vi.useFakeTimers({ now: T0 })
    try {
      const registry = new InMemorySessionTaskRegistry()
      const onError = vi.fn()
      const supervisor = createTaskSupervisor({
        registry,
        executors: new TaskExecutorRegistry(),
        onError,
      })
      // The deadline step of the pass is still reading when close() runs.
      let release = () => {}
      const realList = registry.listOverdue.bind(registry)
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const reap = vi.spyOn(registry, 'listStale')
      const spy = vi.spyOn(registry, 'listOverdue').mockImplementation(async (query) => {
        await held
        return realList(query)
      })
      supervisor.startHousekeeping({ intervalMs: 1000 })
      await vi.advanceTimersByTimeAsync(1000)
      expect(spy).toHaveBeenCalledTimes(1)
      await supervisor.close()
      release()
      await vi.advanceTimersByTimeAsync(5000)
      expect(reap).not.toHaveBeenCalled()
      expect(onError).not.toHaveBeenCalled()
    } finally {
      vi.useRealTimers()
    }
  })

  test('close stops housekeeping', async () => {
    vi.useFakeTimers({ now: T0 })
    try {
      const registry = new InMemorySessionTaskRegistry()
      const supervisor = createTaskSupervisor({ registry, executors: new TaskExecutorRegistry() })
      supervisor.startHousekeeping({ intervalMs: 1000 })
      await supervisor.close()
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('reap racing a finishing worker (SPEC 12.2 rule 2b, 12.4)', () => {
  for (const reattach of [true, false]) {
    test(`a task that succeeds between the reaper's read and its write is left alone (${reattach ? 're-attach' : 'orphan'} path)`, async () => {
      const w = world({ reattach })
      const task = await staleRunning(w)
      // The worker finishes right after the reaper read the stale record.
      const realGet = w.registry.get.bind(w.registry)
      let raced = false
      vi.spyOn(w.registry, 'get').mockImplementation(async (sessionId, taskId) => {
        const read = await realGet(sessionId, taskId)
        if (!raced && read?.state === 'running') {
          raced = true
          await w.registry.update(sessionId, taskId, { state: 'succeeded', summary: 'done' })
        }
        return read
      })
      const startsBefore = w.starts.length
      const result = await w.supervisor.reap()
      expect(raced).toBe(true)
      expect(result.outcomes.map((o) => o.outcome)).toEqual(['skipped'])
      expect(w.starts.length).toBe(startsBefore)
      const after = await realGet('s', task.id)
      expect(after?.state).toBe('succeeded')
      expect(after?.attempt).toBe(task.attempt)
      expect(after?.error).toBeUndefined()
    })
  }
})

describe('re-attach and concurrency limits (SPEC 12.4)', () => {
  test('re-attached orphans of another process wait for a slot like queued tasks', async () => {
    let now = T0
    const registry = new InMemorySessionTaskRegistry({ now: () => now })
    const running: string[] = []
    const finish = new Map<string, () => Promise<void>>()
    const executor: TaskExecutor = {
      kind: 'worker',
      canReattach: () => true,
      async start(task, ctx) {
        running.push(task.id)
        finish.set(task.id, () => ctx.sink.state('succeeded'))
        await ctx.sink.state('running')
        await ctx.sink.heartbeat()
      },
      async cancel() {},
    }
    const executors = new TaskExecutorRegistry()
    executors.register({ kind: 'worker', executor: () => executor })
    // Four tasks left running by a process that died.
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      const t = await registry.create({ sessionId: 's', kind: 'worker', displayName: `t${i}` })
      await registry.update('s', t.id, { state: 'running', heartbeatAt: T0.toISOString() })
      ids.push(t.id)
    }
    now = new Date(T0.getTime() + 10 * MIN)
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      concurrency: { global: 1 },
      onError: () => {},
    })
    const result = await supervisor.reap()
    expect(result.reattached).toBe(4)
    expect(running).toHaveLength(1)
    for (let i = 0; i < 3; i++) {
      await finish.get(running.at(-1) as string)?.()
      await vi.waitFor(() => expect(running).toHaveLength(i + 2))
    }
    expect(new Set(running)).toEqual(new Set(ids))
    for (const id of ids) expect((await registry.get('s', id))?.attempt).toBe(2)
    await supervisor.close()
  })
})

describe('a re-attached task waiting for its slot', () => {
  test('is not reaped again while it waits, and starts once the slot frees', async () => {
    let t = T0.getTime()
    const now = () => new Date(t)
    const registry = new InMemorySessionTaskRegistry({ now })
    const started: string[] = []
    const sinks: RegistryTaskSink[] = []
    const executors = new TaskExecutorRegistry()
    executors.register({
      kind: 'w',
      executor: () => ({
        kind: 'w',
        canReattach: () => true,
        async start(task, ctx) {
          started.push(`${task.displayName}@${task.attempt}`)
          sinks.push(ctx.sink as RegistryTaskSink)
          await ctx.sink.state('running')
        },
        async cancel() {},
      }),
    })
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      now,
      concurrency: { global: 1 },
      onError: () => {},
    })
    const orphan = await registry.create({ sessionId: 's', kind: 'w', displayName: 'b' })
    await registry.update('s', orphan.id, { state: 'running', heartbeatAt: now().toISOString() })
    await supervisor.spawn({ sessionId: 's', kind: 'w', displayName: 'a' })
    const reasons: (string | undefined)[] = []
    for (let pass = 0; pass < 3; pass++) {
      t += 2000
      const result = await supervisor.reap({ staleAfterMs: 1000, maxAttempts: 3 })
      reasons.push(result.outcomes.find((o) => o.taskId === orphan.id)?.reason ?? 'reattached')
    }
    expect(reasons).toEqual([
      'reattached',
      'waiting for a concurrency slot',
      'waiting for a concurrency slot',
    ])
    expect((await registry.get('s', orphan.id))?.attempt).toBe(2)
    await sinks[0]?.state('succeeded')
    await vi.waitFor(() => expect(started).toEqual(['a@1', 'b@2']))
    await supervisor.close()
  })
})
