/**
 * Listener faults (SPEC 4 "Immutability", 4.1 "Events are delivered
 * synchronously", 5 "A listener that throws never fails the operation and
 * never stops other listeners; the error goes to onListenerError ... a
 * listener may call back into the registry").
 *
 * Four ways to listen are exercised everywhere:
 *   typed     registry.events(sid).on('task.updated', h)
 *   wildcard  registry.events(sid).on('*', h)
 *   subscribe registry.subscribe(sid, h)
 *   all       registry.subscribeAll(h)
 *
 * Clocks are fixed or step 1 ms per read; nothing sleeps.
 */

import { afterEach, describe, expect, test, vi } from 'vitest'
import {
  createTaskSupervisor,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  type InMemorySessionTaskRegistryOptions,
  RegistryTaskSink,
  type SessionTask,
  type SessionTaskEventType,
  type StreamItem,
  TaskExecutorRegistry,
  type TaskSink,
  type TaskWake,
} from '../src/index.js'
import type { Writable } from './fixtures/writable.js'

const T0 = Date.parse('2026-02-01T00:00:00.000Z')
const S = 'session-1'
const S2 = 'session-2'

type Seen = { sessionId: string; type: SessionTaskEventType; payload: unknown }
type Reported = { error: unknown; type: string; payload: unknown }
type ListenerKind = 'typed' | 'wildcard' | 'subscribe' | 'all'
const KINDS: ListenerKind[] = ['typed', 'wildcard', 'subscribe', 'all']

/** A registry whose clock moves 1 ms per read, with a recording onListenerError. */
function world(options: Partial<InMemorySessionTaskRegistryOptions> = {}) {
  let t = T0
  const reported: Reported[] = []
  const registry = new InMemorySessionTaskRegistry({
    now: () => new Date(t++),
    onListenerError: (error, type, payload) => reported.push({ error, type, payload }),
    ...options,
  })
  return { registry, reported }
}

type Registry = InMemorySessionTaskRegistry

/**
 * Attaches a listener of the given kind to `sid` and returns its unsubscribe.
 * `typed` listens to `typedType` only (default task.updated).
 */
function listen(
  registry: Registry,
  kind: ListenerKind,
  sid: string,
  handler: (e: Seen) => void,
  typedType: SessionTaskEventType = 'task.updated',
): () => void {
  switch (kind) {
    case 'typed': {
      const h = (payload: unknown) => handler({ sessionId: sid, type: typedType, payload })
      const emitter = registry.events(sid)
      emitter.on(typedType, h)
      return () => emitter.off(typedType, h)
    }
    case 'wildcard': {
      const h = (type: SessionTaskEventType, payload: unknown) =>
        handler({ sessionId: sid, type, payload })
      const emitter = registry.events(sid)
      emitter.on('*', h)
      return () => emitter.off('*', h)
    }
    case 'subscribe':
      return registry.subscribe(sid, (type, payload) => handler({ sessionId: sid, type, payload }))
    case 'all':
      return registry.subscribeAll((sessionId, type, payload) => {
        if (sessionId === sid) handler({ sessionId, type, payload })
      })
  }
}

function recorder(
  registry: Registry,
  kind: ListenerKind,
  sid: string,
  typedType?: SessionTaskEventType,
) {
  const seen: Seen[] = []
  const off = listen(registry, kind, sid, (e) => seen.push(e), typedType)
  return { seen, off }
}

function taskOf(e: Seen | undefined): SessionTask {
  if (e === undefined) throw new Error('no such event')
  return (e.payload as { task: SessionTask }).task
}
const brief = (e: Seen): string => {
  const p = e.payload as {
    task?: SessionTask
    transition?: string
    message?: { direction: string }
  }
  if (p.task !== undefined) return `${e.type}:${p.task.id}:${p.task.state}:${p.task.attempt}`
  if (p.transition !== undefined) return `${e.type}:${p.transition}`
  if (p.message !== undefined) return `${e.type}:${p.message.direction}`
  return e.type
}

async function readStream(registry: Registry, sid: string, since: number, count: number) {
  const items: StreamItem[] = []
  for await (const item of registry.stream(sid, { since })) {
    items.push(item)
    if (items.length === count) break
  }
  return items
}

/**
 * A script touching every event type: created, updated, message sent and
 * received, output, and all three wakes. Returns the operation results.
 */
async function script(registry: Registry, sid = S) {
  const created = await registry.create({
    sessionId: sid,
    kind: 'k',
    displayName: 'scripted',
    wakePolicy: 'on_activity',
  })
  const running = await registry.update(sid, created.id, { state: 'running' })
  const asking = await registry.update(sid, created.id, {
    inputRequest: { id: 'q1', prompt: 'Which branch?' },
  })
  const outbound = await registry.recordMessage(sid, created.id, {
    direction: 'outbound',
    content: [{ type: 'text', text: 'working on it' }],
  })
  const answer = await registry.recordMessage(sid, created.id, {
    direction: 'inbound',
    content: [{ type: 'text', text: 'main' }],
    inReplyTo: 'q1',
  })
  const published = await registry.publishOutput(sid, created.id, { stream: 'stdout', delta: 'x' })
  const done = await registry.update(sid, created.id, {
    state: 'succeeded',
    summary: 'all good',
  })
  const canceled = await registry.requestCancel(sid, created.id)
  const final = await registry.get(sid, created.id)
  return { created, running, asking, outbound, answer, published, done, canceled, final }
}

/** The event types, in order, that `script` must produce. */
const SCRIPT_EVENTS: SessionTaskEventType[] = [
  'task.created',
  'task.updated', // running
  'task.updated', // awaiting_input
  'task.wake', // awaiting_input
  'task.message.received', // outbound
  'task.wake', // message
  'task.message.sent', // inbound answer
  'task.updated', // resumed to running
  'task.output',
  'task.updated', // succeeded
  'task.wake', // terminal
  'task.updated', // cancel requested
]

function expectScriptResults(r: Awaited<ReturnType<typeof script>>) {
  expect(r.created.state).toBe('queued')
  expect(r.running?.state).toBe('running')
  expect(r.asking?.state).toBe('awaiting_input')
  expect(r.asking?.inputRequest).toEqual({ id: 'q1', prompt: 'Which branch?' })
  expect(r.outbound.direction).toBe('outbound')
  expect(r.answer.inReplyTo).toBe('q1')
  expect(r.published).toBe(true)
  expect(r.done?.state).toBe('succeeded')
  expect(r.done?.summary).toBe('all good')
  expect(r.canceled?.cancelRequestedAt).toBeDefined()
  expect(r.final?.state).toBe('succeeded')
  expect(r.final?.inputRequest).toBeUndefined()
}

/** Lets pending microtasks and immediates run (no timers, no sleeping). */
async function flushUntil(done: () => boolean, rounds = 50) {
  for (let i = 0; i < rounds && !done(); i++) await new Promise<void>((r) => setImmediate(r))
}

afterEach(() => {
  vi.restoreAllMocks()
})

// ---------------------------------------------------------------------------

describe('listeners that throw', () => {
  test.each(KINDS)(
    'a throwing %s listener fails no operation, stops no other listener, and is reported with (error, type, payload)',
    async (kind) => {
      const { registry, reported } = world()
      // The faulty listener is attached FIRST so that it runs before the healthy ones.
      const thrown: { error: unknown; type: SessionTaskEventType }[] = []
      let n = 0
      listen(registry, kind, S, (e) => {
        const error = new Error(`listener failure #${n++}`)
        thrown.push({ error, type: e.type })
        throw error
      })
      const healthy = KINDS.map((k) => recorder(registry, k, S))
      const all = recorder(registry, 'all', S)

      const results = await script(registry)
      expectScriptResults(results)

      // Every healthy listener saw every event of its kind, in order.
      const expectedTypes = SCRIPT_EVENTS
      expect(all.seen.map((e) => e.type)).toStrictEqual(expectedTypes)
      for (const [i, k] of KINDS.entries()) {
        const seen = healthy[i]?.seen ?? []
        expect(
          seen.map((e) => e.type),
          `healthy ${k}`,
        ).toStrictEqual(
          k === 'typed' ? expectedTypes.filter((t) => t === 'task.updated') : expectedTypes,
        )
      }

      // ... with identical payloads.
      for (const [i, k] of KINDS.entries()) {
        const expected = all.seen.filter((e) => k !== 'typed' || e.type === 'task.updated')
        expect(
          healthy[i]?.seen.map((e) => e.payload),
          `payloads of ${k}`,
        ).toStrictEqual(expected.map((e) => e.payload))
      }

      // One report per failure, with the thrown value itself, the event type
      // and the payload that the healthy listeners received.
      const expectedFailures = kind === 'typed' ? 5 : expectedTypes.length
      expect(thrown).toHaveLength(expectedFailures)
      expect(reported).toHaveLength(expectedFailures)
      for (const [i, r] of reported.entries()) {
        expect(r.error).toBe(thrown[i]?.error)
        expect(r.type).toBe(thrown[i]?.type)
      }
      const payloadsByType = all.seen.filter((e) => kind !== 'typed' || e.type === 'task.updated')
      expect(reported.map((r) => r.payload)).toStrictEqual(payloadsByType.map((e) => e.payload))
    },
  )

  test('every kind throwing at once, with non-Error values: all reported, the operation still succeeds', async () => {
    const { registry, reported } = world()
    const values: unknown[] = ['a string', undefined, null, { code: 42 }]
    for (const [i, kind] of KINDS.entries()) {
      listen(registry, kind, S, () => {
        throw values[i]
      })
    }
    const after = recorder(registry, 'subscribe', S)
    const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    const updated = await registry.update(S, task.id, { state: 'running' })
    expect(updated?.state).toBe('running')
    expect(after.seen.map((e) => e.type)).toStrictEqual(['task.created', 'task.updated'])
    // created: wildcard, subscribe, all (3); updated: typed, wildcard, subscribe, all (4)
    expect(reported).toHaveLength(7)
    expect(reported.filter((r) => r.type === 'task.updated').map((r) => r.error)).toEqual(
      expect.arrayContaining(values),
    )
    for (const r of reported) {
      expect(taskOf({ sessionId: S, type: 'task.created', payload: r.payload }).id).toBe(task.id)
    }
  })

  test('without onListenerError the failure is logged and the operation succeeds', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {})
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(T0) })
    const failure = new Error('nobody catches me')
    registry.subscribe(S, () => {
      throw failure
    })
    const other = recorder(registry, 'all', S)
    const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    expect(task.state).toBe('queued')
    expect(other.seen).toHaveLength(1)
    expect(log).toHaveBeenCalledTimes(1)
    expect(log.mock.calls[0]).toContain(failure)
  })

  test('an onListenerError that itself throws breaks nothing (operation, other listeners, later events)', async () => {
    let handlerCalls = 0
    const { registry } = world({
      onListenerError: () => {
        handlerCalls++
        throw new Error('the error handler failed too')
      },
    })
    for (const kind of KINDS)
      listen(registry, kind, S, () => {
        throw new Error(`${kind} failed`)
      })
    const healthy = KINDS.map((k) => recorder(registry, k, S))
    const results = await script(registry)
    expectScriptResults(results)
    expect(healthy[3]?.seen.map((e) => e.type)).toStrictEqual(SCRIPT_EVENTS)
    expect(healthy[2]?.seen.map((e) => e.type)).toStrictEqual(SCRIPT_EVENTS)
    expect(healthy[1]?.seen.map((e) => e.type)).toStrictEqual(SCRIPT_EVENTS)
    expect(healthy[0]?.seen).toHaveLength(5)
    // typed 5 + 3 x 12
    expect(handlerCalls).toBe(5 + 3 * SCRIPT_EVENTS.length)
    // The registry still works afterwards, from any session.
    const next = await registry.create({ sessionId: S2, kind: 'k', displayName: 'next' })
    expect(await registry.get(S2, next.id)).toStrictEqual(next)
  })

  test('an onListenerError that re-enters the registry keeps every listener in one order', async () => {
    const holder: { registry?: Registry } = {}
    let reentered = false
    const { registry } = world({
      onListenerError: (_error, type, payload) => {
        if (type === 'task.created' && !reentered) {
          reentered = true
          const task = (payload as { task: SessionTask }).task
          void holder.registry?.update(task.sessionId, task.id, {
            stateDetail: 'from the error handler',
          })
        }
      },
    })
    holder.registry = registry
    listen(registry, 'subscribe', S, () => {
      throw new Error('fails on every event')
    })
    const a = recorder(registry, 'wildcard', S)
    const b = recorder(registry, 'all', S)
    const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    expect(task.stateDetail).toBeUndefined()
    expect((await registry.get(S, task.id))?.stateDetail).toBe('from the error handler')
    expect(a.seen.map(brief)).toStrictEqual(b.seen.map(brief))
    expect(a.seen.map((e) => e.type)).toStrictEqual(['task.created', 'task.updated'])
  })

  test("a throwing listener attached before the supervisor does not stop the supervisor's own bookkeeping", async () => {
    const { registry, reported } = world()
    registry.subscribeAll(() => {
      throw new Error('global listener failure')
    })
    registry.subscribe(S, () => {
      throw new Error('session listener failure')
    })
    const executors = new TaskExecutorRegistry()
    const sinks = new Map<string, TaskSink>()
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        async start(task, ctx) {
          sinks.set(task.id, ctx.sink)
          await ctx.sink.state('running')
        },
        async cancel() {},
      }),
    })
    const wakes = createWakeQueue(registry)
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      concurrency: { global: 1 },
      cancelGraceMs: 0,
    })
    const a = await supervisor.spawn({
      sessionId: S,
      kind: 'job',
      displayName: 'a',
      wakePolicy: 'on_terminal',
    })
    const b = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'b' })
    expect(a.state).toBe('running')
    expect(b.state).toBe('queued')
    await sinks.get(a.id)?.state('succeeded')
    // b starts once a's slot is freed (the supervisor learned it from events).
    await flushUntil(() => sinks.has(b.id))
    expect((await registry.get(S, b.id))?.state).toBe('running')
    expect(wakes.drain(S).map((w: TaskWake) => w.transition)).toStrictEqual(['terminal'])
    expect(reported.length).toBeGreaterThan(0)
    await sinks.get(b.id)?.state('succeeded')
    await supervisor.close()
  })
})

// ---------------------------------------------------------------------------

describe('listeners that re-enter the registry', () => {
  test('a task.created listener that updates: results stay correct and every listener sees created before updated', async () => {
    const { registry, reported } = world()
    let inner: Promise<SessionTask | undefined> | undefined
    listen(
      registry,
      'typed',
      S,
      (e) => {
        inner = registry.update(S, taskOf(e).id, {
          state: 'running',
          stateDetail: 'started by a listener',
        })
      },
      'task.created',
    )
    const recs = KINDS.map((k) => recorder(registry, k, S, 'task.created'))
    const later = recorder(registry, 'all', S)
    const created = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    // create returns the record it inserted; the nested update returns its own result.
    expect(created.state).toBe('queued')
    expect(created.stateDetail).toBeUndefined()
    const nested = await inner
    expect(nested?.state).toBe('running')
    expect(nested?.stateDetail).toBe('started by a listener')
    expect(await registry.get(S, created.id)).toStrictEqual(nested)
    // Same global order for every listener (typed ones see only their type).
    const order = later.seen.map(brief)
    expect(order).toStrictEqual([
      `task.created:${created.id}:queued:1`,
      `task.updated:${created.id}:running:1`,
    ])
    for (const [i, k] of KINDS.entries()) {
      const seen = recs[i]?.seen.map(brief) ?? []
      expect(seen, k).toStrictEqual(k === 'typed' ? order.slice(0, 1) : order)
    }
    expect(taskOf(later.seen[0])).toStrictEqual(created)
    expect(taskOf(later.seen[1])).toStrictEqual(nested)
    // The replay buffer agrees with the listeners.
    const replay = await readStream(registry, S, 0, 2)
    expect(replay.map((i) => i.seq)).toStrictEqual([1, 2])
    expect(replay.map((i) => i.type)).toStrictEqual(['task.created', 'task.updated'])
    expect(reported).toStrictEqual([])
  })

  test('a chain of re-entrant writes (update, recordMessage, requestCancel from handlers) is seen in one order by all', async () => {
    const { registry, reported } = world()
    const task = await registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'chain',
      state: 'running',
      wakePolicy: 'on_terminal',
    })
    const pending: Promise<unknown>[] = []
    // 1. When the task asks for input, a listener answers it.
    listen(registry, 'typed', S, (e) => {
      const t = taskOf(e)
      if (t.state === 'awaiting_input' && t.inputRequest !== undefined)
        pending.push(
          registry.recordMessage(S, t.id, {
            direction: 'inbound',
            content: [{ type: 'text', text: 'yes' }],
            inReplyTo: t.inputRequest.id,
          }),
        )
    })
    // 2. When the answer is recorded, another listener requests cancel.
    listen(registry, 'wildcard', S, (e) => {
      if (e.type === 'task.message.sent') pending.push(registry.requestCancel(S, task.id))
    })
    // 3. When cancel is requested, a third listener finishes the task.
    listen(registry, 'all', S, (e) => {
      if (e.type !== 'task.updated') return
      const t = taskOf(e)
      if (t.cancelRequestedAt !== undefined && t.state === 'running')
        pending.push(
          registry.update(S, t.id, { state: 'canceled', stateDetail: 'honoured cancel' }),
        )
    })
    const recs = [
      recorder(registry, 'wildcard', S),
      recorder(registry, 'subscribe', S),
      recorder(registry, 'all', S),
    ]
    const typed = recorder(registry, 'typed', S)

    const asked = await registry.update(S, task.id, { inputRequest: { id: 'q', prompt: 'ok?' } })
    await Promise.all(pending)
    expect(asked?.state).toBe('awaiting_input')
    const final = await registry.get(S, task.id)
    expect(final?.state).toBe('canceled')
    expect(final?.stateDetail).toBe('honoured cancel')
    expect(final?.cancelRequestedAt).toBeDefined()
    expect(final?.inputRequest).toBeUndefined()

    const order = recs[0]?.seen.map(brief) ?? []
    expect(order).toStrictEqual([
      `task.updated:${task.id}:awaiting_input:1`,
      'task.message.sent:inbound',
      `task.updated:${task.id}:running:1`,
      `task.updated:${task.id}:running:1`, // cancel requested
      `task.updated:${task.id}:canceled:1`,
      'task.wake:terminal',
    ])
    for (const r of recs) expect(r.seen.map(brief)).toStrictEqual(order)
    expect(typed.seen.map(brief)).toStrictEqual(order.filter((o) => o.startsWith('task.updated')))
    // Snapshots of the task only move forward in time.
    const stamps = recs[0]?.seen
      .filter((e) => e.type === 'task.updated')
      .map((e) => taskOf(e).updatedAt)
    expect(stamps).toStrictEqual([...(stamps ?? [])].sort())
    const replay = await readStream(registry, S, 1, order.length)
    expect(replay.map((i) => i.type)).toStrictEqual(recs[0]?.seen.map((e) => e.type))
    expect(reported).toStrictEqual([])
  })

  test('a wake directly follows the record event that caused it, even when a listener writes back in between (SPEC 4.1, 5)', async () => {
    // Listener answers the input request as soon as it sees awaiting_input.
    // The awaiting_input wake belongs to the update that asked for input, so
    // it must be delivered before the events of the answer (which a listener
    // only wrote in reaction to that update); otherwise the agent is woken to
    // answer a request that was already answered.
    const { registry } = world()
    const task = await registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'asker',
      state: 'running',
      wakePolicy: 'on_activity',
    })
    listen(registry, 'typed', S, (e) => {
      const t = taskOf(e)
      if (t.state === 'awaiting_input' && t.inputRequest !== undefined)
        void registry.recordMessage(S, t.id, {
          direction: 'inbound',
          content: [{ type: 'text', text: 'answer' }],
          inReplyTo: t.inputRequest.id,
        })
    })
    const all = recorder(registry, 'all', S)
    const wakes = createWakeQueue(registry)
    await registry.update(S, task.id, { inputRequest: { id: 'q', prompt: 'continue?' } })
    expect(all.seen.map(brief)).toStrictEqual([
      `task.updated:${task.id}:awaiting_input:1`,
      'task.wake:awaiting_input',
      'task.message.sent:inbound',
      `task.updated:${task.id}:running:1`,
    ])
    // Event timestamps never go backwards along the delivered sequence.
    const stamps = all.seen.map((e) => {
      const p = e.payload as {
        task?: SessionTask
        createdAt?: string
        message?: { createdAt: string }
      }
      return p.task?.updatedAt ?? p.message?.createdAt ?? p.createdAt ?? ''
    })
    expect(stamps).toStrictEqual([...stamps].sort())
    expect(wakes.drain(S)).toHaveLength(1)
  })

  test('an answer resumes only the request it answers, even when a listener asks again meanwhile (linearizable resume)', async () => {
    // recordMessage(answer to r1) and a listener's update(inputRequest r2),
    // issued while the answer's event is delivered. Whatever the serial order,
    // the task must end awaiting r2: r1's answer never clears r2.
    const { registry } = world()
    const task = await registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'x',
      state: 'running',
    })
    await registry.update(S, task.id, { inputRequest: { id: 'r1', prompt: 'first?' } })
    let asked: Promise<SessionTask | undefined> | undefined
    listen(
      registry,
      'typed',
      S,
      () => {
        asked ??= registry.update(S, task.id, { inputRequest: { id: 'r2', prompt: 'second?' } })
      },
      'task.message.sent',
    )
    const message = await registry.recordMessage(S, task.id, {
      direction: 'inbound',
      content: [{ type: 'text', text: 'answer to r1' }],
      inReplyTo: 'r1',
    })
    expect(message.inReplyTo).toBe('r1')
    const secondAsk = await asked
    expect(secondAsk?.inputRequest?.id).toBe('r2')
    const final = await registry.get(S, task.id)
    expect(final?.state).toBe('awaiting_input')
    expect(final?.inputRequest).toEqual({ id: 'r2', prompt: 'second?' })
  })

  test('re-entering across sessions: each session hears only its own events; global listeners agree on one order', async () => {
    const { registry, reported } = world()
    const other = await registry.create({ sessionId: S2, kind: 'k', displayName: 'other' })
    // A listener on S mirrors every S update into the S2 task.
    listen(registry, 'subscribe', S, (e) => {
      if (e.type === 'task.updated')
        void registry.update(S2, other.id, { stateDetail: `mirror of ${taskOf(e).state}` })
    })
    // And a listener on S2 answers by touching the S task's progress.
    let mine: SessionTask | undefined
    listen(registry, 'wildcard', S2, (e) => {
      if (e.type === 'task.updated' && mine !== undefined)
        void registry.update(S, mine.id, { progress: { label: taskOf(e).stateDetail ?? '' } })
    })
    const globalA: string[] = []
    const globalB: string[] = []
    registry.subscribeAll((sid, type, payload) =>
      globalA.push(`${sid}|${brief({ sessionId: sid, type, payload })}`),
    )
    const onlyS = KINDS.map((k) => recorder(registry, k, S))
    const onlyS2 = KINDS.map((k) => recorder(registry, k, S2))
    registry.subscribeAll((sid, type, payload) =>
      globalB.push(`${sid}|${brief({ sessionId: sid, type, payload })}`),
    )

    mine = await registry.create({ sessionId: S, kind: 'k', displayName: 'mine' })
    await registry.update(S, mine.id, { state: 'running' })
    await registry.update(S, mine.id, { state: 'succeeded' })

    expect(globalA).toStrictEqual(globalB)
    expect(globalA.length).toBeGreaterThan(6)
    for (const [i, k] of KINDS.entries()) {
      for (const e of onlyS[i]?.seen ?? []) expect(e.sessionId, k).toBe(S)
      for (const e of onlyS2[i]?.seen ?? []) expect(e.sessionId, k).toBe(S2)
      const sEvents = globalA.filter((g) => g.startsWith(`${S}|`)).map((g) => g.slice(S.length + 1))
      const s2Events = globalA
        .filter((g) => g.startsWith(`${S2}|`))
        .map((g) => g.slice(S2.length + 1))
      const pick = (list: string[]) =>
        k === 'typed' ? list.filter((x) => x.startsWith('task.updated')) : list
      expect(onlyS[i]?.seen.map(brief), `S ${k}`).toStrictEqual(pick(sEvents))
      expect(onlyS2[i]?.seen.map(brief), `S2 ${k}`).toStrictEqual(pick(s2Events))
    }
    for (const e of onlyS[3]?.seen ?? []) expect(taskOf(e).sessionId ?? S).toBe(S)
    const finalOther = await registry.get(S2, other.id)
    expect(finalOther?.stateDetail).toBe('mirror of succeeded')
    expect(await registry.get(S, other.id)).toBeUndefined()
    expect(reported).toStrictEqual([])
  })
})

// ---------------------------------------------------------------------------

describe('listeners that unsubscribe (themselves or others) mid-dispatch', () => {
  test.each(KINDS)(
    'a %s listener that unsubscribes itself gets the current event and nothing later',
    async (kind) => {
      const { registry } = world()
      const seen: Seen[] = []
      const off = listen(registry, kind, S, (e) => {
        seen.push(e)
        off()
      })
      const others = KINDS.map((k) => recorder(registry, k, S))
      const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
      await registry.update(S, task.id, { state: 'running' })
      await registry.update(S, task.id, { state: 'succeeded' })
      expect(seen).toHaveLength(1)
      expect(seen[0]?.type).toBe(kind === 'typed' ? 'task.updated' : 'task.created')
      expect(others[3]?.seen).toHaveLength(3)
      expect(others[0]?.seen).toHaveLength(2)
    },
  )

  // Every (remover, removed) pair, the removed one attached AFTER the remover:
  // it was attached when the event began, so it must still receive it.
  const pairs = KINDS.flatMap((a) => KINDS.map((b) => [a, b] as const))
  test.each(pairs)(
    'a %s listener unsubscribing a later %s listener: the current event still reaches it, later ones do not',
    async (removerKind, removedKind) => {
      const { registry } = world()
      const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
      const holder: { off?: () => void } = {}
      let fired = false
      listen(registry, removerKind, S, () => {
        if (!fired) {
          fired = true
          holder.off?.()
        }
      })
      const victim = recorder(registry, removedKind, S)
      holder.off = victim.off
      await registry.update(S, task.id, { state: 'running' })
      await registry.update(S, task.id, { state: 'succeeded' })
      await registry.update(S, task.id, { summary: 'later' })
      expect(victim.seen.map(brief)).toStrictEqual([`task.updated:${task.id}:running:1`])
    },
  )

  test.each(pairs)(
    'a %s listener unsubscribing an earlier %s listener: that one got the current event and gets nothing later',
    async (removerKind, removedKind) => {
      const { registry } = world()
      const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
      const victim = recorder(registry, removedKind, S)
      let fired = false
      listen(registry, removerKind, S, () => {
        if (!fired) {
          fired = true
          victim.off()
        }
      })
      await registry.update(S, task.id, { state: 'running' })
      await registry.update(S, task.id, { state: 'succeeded' })
      // The victim may have run before or after the remover within the first
      // event (typed handlers run first); either way it saw that event only.
      expect(victim.seen.map(brief)).toStrictEqual([`task.updated:${task.id}:running:1`])
    },
  )

  test.each(pairs)(
    'a %s listener attaching a new %s listener mid-dispatch: the newcomer starts with the next event',
    async (adderKind, addedKind) => {
      const { registry } = world()
      const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
      let added: { seen: Seen[] } | undefined
      listen(registry, adderKind, S, () => {
        added ??= recorder(registry, addedKind, S)
      })
      await registry.update(S, task.id, { state: 'running' })
      await registry.update(S, task.id, { state: 'succeeded' })
      expect(added?.seen.map(brief)).toStrictEqual([`task.updated:${task.id}:succeeded:1`])
    },
  )

  test('unsubscribing during an event whose handler also re-entered: the removed listener misses the queued event', async () => {
    const { registry } = world()
    const task = await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    const holder: { off?: () => void } = {}
    let fired = false
    listen(registry, 'subscribe', S, (e) => {
      if (fired || e.type !== 'task.updated') return
      fired = true
      void registry.update(S, task.id, { stateDetail: 'queued by a listener' }) // queued event
      holder.off?.()
    })
    const victim = recorder(registry, 'all', S)
    holder.off = victim.off
    const witness = recorder(registry, 'wildcard', S)
    await registry.update(S, task.id, { state: 'running' })
    expect(witness.seen.map(brief)).toStrictEqual([
      `task.updated:${task.id}:running:1`,
      `task.updated:${task.id}:running:1`,
    ])
    expect(taskOf(witness.seen[1]).stateDetail).toBe('queued by a listener')
    // Attached when the first event began: gets it. Removed before the queued one: does not.
    expect(victim.seen).toHaveLength(1)
  })

  test('calling a subscribe() unsubscribe twice removes only its own registration', async () => {
    const { registry } = world()
    const seen: string[] = []
    const shared = (type: SessionTaskEventType) => {
      seen.push(type)
    }
    const offFirst = registry.subscribe(S, shared)
    registry.subscribe(S, shared) // a second registration of the same function
    offFirst()
    offFirst() // must be a no-op, not remove the second registration
    await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    expect(seen).toStrictEqual(['task.created'])
  })

  test('calling a subscribeAll() unsubscribe twice removes only its own registration', async () => {
    const { registry } = world()
    const seen: string[] = []
    const shared = (_sid: string, type: SessionTaskEventType) => {
      seen.push(type)
    }
    const offFirst = registry.subscribeAll(shared)
    registry.subscribeAll(shared)
    offFirst()
    offFirst()
    await registry.create({ sessionId: S, kind: 'k', displayName: 'x' })
    expect(seen).toStrictEqual(['task.created'])
  })
})

// ---------------------------------------------------------------------------

describe("listeners that mutate their payload (payloads are the caller's to keep, SPEC 4)", () => {
  /** A careless listener, attached first, that scribbles over every task payload it gets. */
  function scribbler(registry: Registry) {
    registry.subscribe(S, (_type, payload) => {
      const p = payload as { task?: Writable<SessionTask> }
      if (p.task !== undefined) {
        p.task.state = 'running'
        p.task.displayName = 'scribbled'
        p.task.artifacts.push({ name: 'junk', type: 'file' })
      }
    })
  }

  test('the registry and every later listener keep the true payload', async () => {
    const { registry } = world()
    scribbler(registry)
    const later = KINDS.filter((k) => k !== 'typed').map((k) => recorder(registry, k, S))
    const task = await registry.create({
      sessionId: S,
      kind: 'k',
      displayName: 'a',
      state: 'running',
    })
    const done = await registry.update(S, task.id, { state: 'succeeded' })
    expect(await registry.get(S, task.id)).toStrictEqual(done)
    expect(done?.displayName).toBe('a')
    for (const r of later) {
      const last = taskOf(r.seen.at(-1))
      expect(last.state, 'a later listener saw the scribbled payload').toBe('succeeded')
      expect(last.displayName).toBe('a')
      expect(last.artifacts).toStrictEqual([])
    }
  })

  test("the supervisor's slot accounting does not depend on what another listener did to a payload", async () => {
    const { registry } = world()
    scribbler(registry)
    const executors = new TaskExecutorRegistry()
    const sinks = new Map<string, TaskSink>()
    executors.register({
      kind: 'job',
      executor: () => ({
        kind: 'job',
        async start(task, ctx) {
          sinks.set(task.id, ctx.sink)
          await ctx.sink.state('running')
        },
        async cancel() {},
      }),
    })
    const supervisor = createTaskSupervisor({
      registry,
      executors,
      concurrency: { global: 1 },
      cancelGraceMs: 0,
    })
    const a = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'a' })
    const b = await supervisor.spawn({ sessionId: S, kind: 'job', displayName: 'b' })
    expect(b.state).toBe('queued')
    await new RegistryTaskSink(registry, S, a.id).state('succeeded')
    expect((await registry.get(S, a.id))?.state).toBe('succeeded')
    // The supervisor must have freed a's slot and started b.
    await flushUntil(() => sinks.has(b.id))
    expect(sinks.has(b.id), 'b never started: the supervisor read a scribbled state').toBe(true)
    await sinks.get(b.id)?.state('succeeded')
    await supervisor.close()
  })
})
