// What the contract does not cover. The behaviour every backend shares
// (create, update, get and list, requestCancel, recordMessage, listMessages,
// listStale, prune, deleteSession, isolation, immutability, secrets) is checked
// on this registry by the contract suite in test/contract.test.ts
// (src/testing/contract/*), and the error classes by test/errors.test.ts.
// Kept here:
// - prune: a caller id re-created in the *same* session after a prune gets a
//   fresh task without the old messages (the contract re-creates it in another
//   session).
// - deleteSession: events() hands out a fresh emitter with no handlers (mitt's
//   `all` map), and the session's listeners run typed, "*", subscribe in that
//   order (the contract sorts what it saw).
import { describe, expect, it } from 'vitest'
import {
  type CreateSessionTask,
  InMemorySessionTaskRegistry,
  type NewTaskMessage,
} from '../src/index.js'

const T0 = Date.parse('2024-01-01T00:00:00.000Z')

/** A registry on a hand-driven clock. */
function setup() {
  let clock = new Date(T0)
  const registry = new InMemorySessionTaskRegistry({ now: () => clock })
  return {
    registry,
    /** Advances the clock by `ms` and returns its ISO string. */
    tick(ms = 1000): string {
      clock = new Date(clock.getTime() + ms)
      return clock.toISOString()
    },
  }
}

const base = (sessionId: string, extra: Partial<CreateSessionTask> = {}): CreateSessionTask => ({
  sessionId,
  kind: 'background_tool',
  displayName: 'Job',
  ...extra,
})

const outbound = (t: string): NewTaskMessage => ({
  direction: 'outbound',
  content: [{ type: 'text', text: t }],
})

describe('InMemorySessionTaskRegistry.prune', () => {
  it('removes a pruned task’s messages', async () => {
    const { registry, tick } = setup()
    const t = await registry.create(base('s1', { id: 'job-1' }))
    await registry.recordMessage('s1', t.id, outbound('hello'))
    await registry.update('s1', t.id, { state: 'succeeded' })
    tick()
    expect((await registry.prune({ finishedBefore: new Date(T0 + 500) })).map((x) => x.id)).toEqual(
      ['job-1'],
    )
    const again = await registry.create(base('s1', { id: 'job-1', displayName: 'again' }))
    expect(again.displayName).toBe('again')
    expect(await registry.listMessages('s1', 'job-1')).toEqual([])
  })
})

describe('InMemorySessionTaskRegistry.deleteSession', () => {
  it('removes the session’s listeners; events() afterwards is a fresh emitter', async () => {
    const { registry } = setup()
    const old = registry.events('s1')
    const seen: string[] = []
    old.on('task.created', () => seen.push('typed'))
    old.on('*', () => seen.push('wildcard'))
    registry.subscribe('s1', () => seen.push('subscribe'))
    await registry.create(base('s1'))
    expect(seen).toEqual(['typed', 'wildcard', 'subscribe'])
    seen.length = 0
    await registry.deleteSession('s1')
    const fresh = registry.events('s1')
    expect(fresh).not.toBe(old)
    expect([...fresh.all.values()].every((list) => list.length === 0)).toBe(true)
    const freshSeen: string[] = []
    fresh.on('task.created', (p) => freshSeen.push(p.task.displayName))
    await registry.create(base('s1', { displayName: 'after' }))
    expect(seen).toEqual([])
    expect(freshSeen).toEqual(['after'])
  })
})
