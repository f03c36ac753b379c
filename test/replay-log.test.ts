import { describe, expect, test } from 'vitest'
import type { StoredEvent } from '../src/events/event.js'
import { InMemorySessionTaskRegistry, type SessionTask } from '../src/index.js'
import { newSessionLog, ReplayLog } from '../src/registry/replay-log.js'

async function twoTasks(): Promise<[SessionTask, SessionTask]> {
  const registry = new InMemorySessionTaskRegistry()
  const a = await registry.create({ sessionId: 's', kind: 'k', displayName: 'a' })
  const b = await registry.create({ sessionId: 's', kind: 'k', displayName: 'b' })
  return [a, b]
}

const updated = (task: SessionTask): StoredEvent => ({ type: 'task.updated', data: task })

describe('replay log', () => {
  test('numbers events per session from 1, in order', async () => {
    const [a] = await twoTasks()
    const replay = new ReplayLog(10, 100)
    const log = newSessionLog()
    expect(replay.append(log, [updated(a), updated(a)]).map((e) => e.seq)).toEqual([1, 2])
    expect(replay.append(log, [updated(a)]).map((e) => e.seq)).toEqual([3])
    expect(replay.read(log, 1)?.map((e) => e.seq)).toEqual([2, 3])
    expect(replay.read(log, 3)).toEqual([])
    expect(replay.read(log, 4)).toBeUndefined()
  })

  test('a trim after a prune never lowers the floor: a cursor below a pruned event gets a snapshot', async () => {
    const [a, b] = await twoTasks()
    const replay = new ReplayLog(4, 100)
    const log = newSessionLog()
    // seqs: 1 a, 2 b, 3 a, 4 b
    replay.append(log, [updated(a), updated(b), updated(a), updated(b)])
    replay.forget(log, new Set([b.id]))
    expect(log.floor).toBe(4)
    // Trimming the oldest kept event (seq 1) must not bring the floor back down.
    replay.append(log, [updated(a), updated(a), updated(a), updated(a)])
    expect(log.floor).toBeGreaterThanOrEqual(4)
    expect(replay.read(log, 2)).toBeUndefined()
    expect(replay.read(log, 3)).toBeUndefined()
  })

  test('the registry-wide budget evicts the oldest events first, across sessions', async () => {
    const [a] = await twoTasks()
    const replay = new ReplayLog(1000, 3)
    const first = newSessionLog()
    const second = newSessionLog()
    replay.append(first, [updated(a), updated(a)])
    replay.append(second, [updated(a), updated(a)])
    expect(replay.size).toBe(3)
    expect(replay.read(first, 0)).toBeUndefined()
    expect(replay.read(first, 1)?.map((e) => e.seq)).toEqual([2])
    expect(replay.read(second, 0)?.map((e) => e.seq)).toEqual([1, 2])
  })

  test('a closed log releases its events from the budget', async () => {
    const [a] = await twoTasks()
    const replay = new ReplayLog(1000, 10)
    const log = newSessionLog()
    replay.append(log, [updated(a), updated(a)])
    replay.close(log)
    expect(replay.size).toBe(0)
  })
})
