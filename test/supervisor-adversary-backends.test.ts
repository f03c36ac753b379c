import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  isTaskNotFoundError,
  RegistryTaskSink,
  type SessionTask,
  type SessionTaskRegistry,
  type TaskExecutionContext,
  type TaskRef,
} from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import {
  abortListeners,
  adversary,
  closeOpened,
  flush,
  jobInput,
  macrotask,
  reasonSeen,
  track,
} from './fixtures/adversary.js'
import { registryBackends } from './fixtures/registries.js'

// The adversarial cases where the backend matters, on the in-memory,
// PGlite and SQLite registries: sink writes (dropped heartbeats, writes
// after the task ended or after close), waits whose tasks or sessions are
// deleted mid-wait, spawn signals, and a hostile cancel reason.

afterEach(closeOpened)

// Every rejection nobody handled, while a test of this file runs.
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled)
})
afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
})

/** Resolves at the first event of `sessionId` that passes `test`. */
function nextEvent(
  registry: SessionTaskRegistry,
  sessionId: string,
  test: (type: string, task: SessionTask | undefined) => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    const off = registry.subscribe(sessionId, (type, payload) => {
      if (!test(type, (payload as { task?: SessionTask }).task)) return
      off()
      resolve()
    })
  })
}

/** Waits (on events) until the task's record passes `test`. */
async function until(
  registry: SessionTaskRegistry,
  ref: TaskRef,
  test: (task: SessionTask) => boolean,
): Promise<SessionTask> {
  const seen = nextEvent(
    registry,
    ref.sessionId,
    (_t, task) => task?.id === ref.taskId && test(task),
  )
  const now = await registry.get(ref.sessionId, ref.taskId)
  if (now !== undefined && test(now)) return now
  await seen
  return (await registry.get(ref.sessionId, ref.taskId)) as SessionTask
}

describe.each(registryBackends('adv'))('on $name', ({ make }) => {
  /** A supervisor on `make()`'s registry, its timers on a manual clock; the `job` tasks go running. */
  const setup = async (script: Parameters<typeof adversary>[0] = {}) => {
    const registry = await make()
    const made = adversary({ ...script, registry, clock: createManualClock() })
    const sid = `s${Math.random().toString(36).slice(2, 8)}`
    const spawn = async (sessionId = sid) => {
      const task = await made.supervisor.spawn(jobInput({ sessionId }))
      return until(registry, { sessionId, taskId: task.id }, (t) => t.state === 'running')
    }
    return { ...made, registry, sid, spawn }
  }

  describe('sink writes', () => {
    it('a dropped heartbeat on a finished task writes nothing and emits nothing', async () => {
      let ctx: TaskExecutionContext | undefined
      const { registry, sid, spawn } = await setup({
        start: async (_t, c) => {
          ctx = c
          await c.sink.state('running')
        },
      })
      const task = await spawn()
      await ctx?.sink.state('succeeded')
      const before = await registry.get(sid, task.id)
      const marker = await spawn()
      const types: string[] = []
      const off = registry.subscribe(sid, (type, payload) => {
        const id = (payload as { task?: SessionTask; taskId?: string }).task?.id
        if (id === task.id) types.push(type)
      })
      const markerSeen = nextEvent(registry, sid, (_t, t) => t?.id === marker.id)
      void ctx?.sink.heartbeat()
      void ctx?.sink.heartbeat()
      // A write to another task of the session, after the heartbeats: its
      // event arrives after any event they caused (one session, one order).
      await registry.update(sid, marker.id, { summary: 'marker' })
      await markerSeen
      off()
      expect(types).toEqual([])
      expect(await registry.get(sid, task.id)).toEqual(before)
      await macrotask()
      expect(unhandled).toEqual([])
    })

    it('dropped writes after the task ended and after close() reject nothing unhandled', async () => {
      let ctx: TaskExecutionContext | undefined
      const { registry, supervisor, clock, sid, spawn, errors } = await setup({
        start: async (_t, c) => {
          ctx = c
          await c.sink.state('running')
        },
      })
      const task = await spawn()
      await ctx?.sink.state('failed')
      const sink = ctx?.sink
      void sink?.state('running')
      void sink?.heartbeat()
      void sink?.progress({ current: 1 })
      void sink?.post({ content: [{ type: 'text', text: 'late' }] })
      void sink?.output('log', 'late')
      const closing = supervisor.close()
      clock.advance(1000)
      await closing
      void sink?.state('succeeded')
      void sink?.heartbeat()
      void sink?.progress({ bogus: 1 } as never)
      await flush(200)
      await macrotask()
      expect(unhandled).toEqual([])
      expect((await registry.get(sid, task.id))?.state).toBe('failed')
      // Only the bad value is reported; the stale or refused writes are the caller's.
      expect(errors.map((e) => e.context)).toEqual([`sink.progress of task '${task.id}'`])
    })

    it('a dropped heartbeat on a deleted task, or from a sink of an old attempt, is silent', async () => {
      const { registry, sid, spawn } = await setup()
      const task = await spawn()
      const old = new RegistryTaskSink(registry, sid, task.id, task.attempt + 5)
      const seen: unknown[] = []
      const reporting = new RegistryTaskSink(registry, sid, task.id, task.attempt, {
        onError: (error) => seen.push(error),
      })
      await old.heartbeat()
      await registry.delete(sid, task.id)
      await reporting.heartbeat()
      await macrotask()
      expect(seen).toEqual([])
      expect(unhandled).toEqual([])
    })
  })

  describe('waits', () => {
    it('waitAll over tasks of two sessions resolves when both finish', async () => {
      const { registry, supervisor, sid, spawn } = await setup()
      const a = await spawn()
      const b = await spawn(`${sid}-b`)
      const refs = [a, b].map((t) => ({ sessionId: t.sessionId, taskId: t.id }))
      const waiting = supervisor.waitAll(refs)
      await registry.update(a.sessionId, a.id, { state: 'succeeded' })
      await registry.update(b.sessionId, b.id, { state: 'failed' })
      const { tasks, timedOut } = await waiting
      expect(timedOut).toBe(false)
      expect(tasks.map((t) => t.state)).toEqual(['succeeded', 'failed'])
    })

    it('waitAny rejects with TaskNotFoundError when a task is deleted mid-wait', async () => {
      const { registry, supervisor, spawn } = await setup()
      const a = await spawn()
      const b = await spawn()
      const waiting = track(
        supervisor.waitAny([
          { sessionId: a.sessionId, taskId: a.id },
          { sessionId: b.sessionId, taskId: b.id },
        ]),
      )
      await flush()
      const gone = nextEvent(registry, b.sessionId, (type) => type === 'task.deleted')
      await registry.delete(b.sessionId, b.id)
      await gone
      await flush()
      expect(isTaskNotFoundError(waiting.error)).toBe(true)
    })

    it('waitAll rejects when the session is deleted mid-wait', async () => {
      const { registry, supervisor, sid, spawn } = await setup()
      const a = await spawn()
      const waiting = supervisor.waitAll([{ sessionId: sid, taskId: a.id }])
      await flush()
      await registry.deleteSession(sid)
      const error = await waiting.catch((e: unknown) => e)
      expect(isTaskNotFoundError(error)).toBe(true)
    })

    it('waitAny times out on the manual clock with the current records', async () => {
      const { supervisor, clock, spawn } = await setup()
      const a = await spawn()
      const waiting = supervisor.waitAny([{ sessionId: a.sessionId, taskId: a.id }], {
        timeoutMs: 30_000,
      })
      await flush()
      clock.advance(30_000)
      const result = await waiting
      expect(result.timedOut).toBe(true)
      expect(result.tasks[0]?.state).toBe('running')
      expect(clock.pendingTimers()).toBe(0)
    })
  })

  describe('signals and reasons', () => {
    it('a spawn signal aborted later cancels the task and lets go of the signal', async () => {
      const { registry, supervisor, sid, calls } = await setup()
      const controller = new AbortController()
      const task = await supervisor.spawn(jobInput({ sessionId: sid }), {
        signal: controller.signal,
      })
      const ref = { sessionId: sid, taskId: task.id }
      await until(registry, ref, (t) => t.state === 'running')
      controller.abort(new Error('turn ended'))
      const done = await until(registry, ref, (t) => t.state === 'canceled')
      expect(done.state).toBe('canceled')
      expect(reasonSeen(calls.cancels[0]).message).toBe('turn ended')
      expect(abortListeners(controller.signal)).toBe(0)
    })

    it('an abort while the create is in flight rejects, and the task it made ends canceled', async () => {
      const { registry, supervisor, sid } = await setup()
      const controller = new AbortController()
      const spawning = supervisor.spawn(jobInput({ sessionId: sid }), {
        signal: controller.signal,
      })
      controller.abort(new Error('raced'))
      await expect(spawning).rejects.toThrow('raced')
      const [task] = await registry.list(sid)
      expect(task?.state).toBe('canceled')
      expect(abortListeners(controller.signal)).toBe(0)
    })

    it('a cancel reason of 1 MB with NUL and emoji is stored whole in the detail', async () => {
      const { registry, supervisor, sid } = await setup({
        supervisor: { concurrency: { global: 1 } },
      })
      await supervisor.spawn(jobInput({ sessionId: sid }))
      const queued = await supervisor.spawn(jobInput({ sessionId: sid }))
      const reason = `nul\u0000here 😀 ${'z'.repeat(1 << 20)}`
      await supervisor.cancel(sid, queued.id, { reason })
      const task = await registry.get(sid, queued.id)
      expect(task?.state).toBe('canceled')
      // A boolean: a failure must not print a megabyte.
      expect(task?.stateDetail === `canceled before it started: ${reason}`).toBe(true)
    })
  })
})
