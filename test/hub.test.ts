import { describe, expect, test } from 'vitest'
import type { SequencedEvent } from '../src/events/event.js'
import { type HubEvent, payloadOf, SessionEventHub } from '../src/events/hub.js'
import { InMemorySessionTaskRegistry, type SessionTask } from '../src/index.js'

async function aTask(): Promise<SessionTask> {
  const registry = new InMemorySessionTaskRegistry()
  return registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
}

const created = (task: SessionTask, seq: number): SequencedEvent => ({
  type: 'task.created',
  data: task,
  seq,
})

describe('event hub', () => {
  test('every listener and tap of one event gets the same frozen payload', async () => {
    const task = await aTask()
    const hub = new SessionEventHub()
    const seen: unknown[] = []
    hub.subscribe('s', (_type, payload) => seen.push(payload))
    hub.subscribeAll((_sid, _type, payload) => seen.push(payload))
    const tapped: HubEvent[] = []
    hub.tap('s', { push: (e) => tapped.push(e), gap: () => {}, end: () => {} })
    hub.deliver('s', [created(task, 1)])
    expect(seen).toHaveLength(2)
    expect(seen[0]).toBe(seen[1])
    expect(payloadOf(tapped[0] as HubEvent)).toBe(seen[0])
    expect(Object.isFrozen(seen[0])).toBe(true)
    expect((seen[0] as { task: SessionTask }).task).toBe(task)
  })

  test('a session keeps hub state only while something listens to it', async () => {
    const task = await aTask()
    const hub = new SessionEventHub()
    hub.deliver('s', [created(task, 1)])
    expect(hub.sessionCount).toBe(0)
    const off = hub.subscribe('s', () => {})
    const untap = hub.tap('s', { push: () => {}, gap: () => {}, end: () => {} })
    expect(hub.sessionCount).toBe(1)
    off()
    expect(hub.sessionCount).toBe(1)
    untap()
    expect(hub.sessionCount).toBe(0)
    hub.emitter('s')
    expect(hub.sessionCount).toBe(1)
  })

  test('events queued for a session deleted mid-dispatch are dropped; later ones are delivered', async () => {
    const task = await aTask()
    const hub = new SessionEventHub()
    const seen: string[] = []
    let first = true
    hub.subscribeAll((sid, type, payload) => {
      seen.push(`${sid}:${type}:${(payload as { task?: SessionTask }).task?.id ?? ''}`)
      if (first) {
        first = false
        // Queued behind this event: one for 'b' (kept) and one for 's' (dropped).
        hub.deliver('s', [{ type: 'task.updated', data: task, seq: 2 }])
        hub.deliver('b', [{ type: 'task.created', data: task, seq: 1 }])
        hub.deleteSession('s')
        hub.deliver('s', [{ type: 'task.created', data: task, seq: 1 }])
      }
    })
    hub.deliver('s', [created(task, 1)])
    expect(seen).toEqual([
      `s:task.created:${task.id}`,
      `b:task.created:${task.id}`,
      `s:task.created:${task.id}`,
    ])
  })

  test('a tap that throws on a gap is reported; hooks and onEventGap still hear of it', () => {
    const errors: unknown[] = []
    const told: unknown[] = []
    const hub = new SessionEventHub({
      onListenerError: (error) => errors.push(error),
      onEventGap: (gap) => told.push(gap),
    })
    const hooked: unknown[] = []
    hub.onGap((gap) => hooked.push(gap))
    hub.tap('s', {
      push: () => {},
      gap: () => {
        throw new Error('tap broke')
      },
      end: () => {},
    })
    hub.gap({ sessionId: 's', after: 3, through: 5 })
    expect(errors).toHaveLength(1)
    expect(hooked).toEqual([{ sessionId: 's', after: 3, through: 5 }])
    expect(told).toEqual([{ sessionId: 's', after: 3, through: 5 }])
  })
})
