import { describe, expect, test } from 'vitest'
import { SessionEventHub } from '../src/events/hub.js'
import { InMemorySessionTaskRegistry } from '../src/index.js'

describe('event hub with backend-assigned sequence numbers', () => {
  test('an event at or below the latest seq is a duplicate and is not delivered', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    const hub = new SessionEventHub()
    const seen: number[] = []
    hub.tap('s', { push: (e) => seen.push(e.seq), end: () => {} })
    hub.emit('s', { type: 'task.created', data: task }, 1)
    hub.emit('s', { type: 'task.updated', data: task }, 2)
    hub.emit('s', { type: 'task.updated', data: task }, 2)
    hub.emit('s', { type: 'task.updated', data: task }, 1)
    expect(seen).toEqual([1, 2])
    expect(hub.lastSeq('s')).toBe(2)
  })

  test('a jump over missing seqs makes replays from before it fall back to a snapshot', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    const hub = new SessionEventHub()
    hub.emit('s', { type: 'task.created', data: task }, 1)
    hub.emit('s', { type: 'task.updated', data: task }, 5)
    hub.emit('s', { type: 'task.updated', data: task })
    expect(hub.lastSeq('s')).toBe(6)
    expect(hub.replay('s', 1)).toBeUndefined()
    expect(hub.replay('s', 4)?.map((e) => e.seq)).toEqual([5, 6])
  })
})
