import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { type QueuedTask, WaitList } from '../src/execution/wait-list.js'

// The wait list must pick exactly what a plain scan of a FIFO array would:
// the oldest task whose session and kind have room.

const ops = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant('add' as const), s: fc.nat(3), k: fc.nat(2) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), i: fc.nat(40) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('start' as const) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('finish' as const), i: fc.nat(40) }) },
  ),
  { maxLength: 120 },
)

describe('WaitList', () => {
  test('next() is the oldest task with room, under any limits and any history', () => {
    fc.assert(
      fc.property(
        ops,
        fc.option(fc.integer({ min: 1, max: 3 })),
        fc.option(fc.integer({ min: 1, max: 3 })),
        (steps, perSession, perKind) => {
          const running: QueuedTask[] = []
          const count = (f: (t: QueuedTask) => boolean) => running.filter(f).length
          const room = {
            session: (s: string) =>
              perSession === null || count((t) => t.sessionId === s) < perSession,
            kind: (k: string) => perKind === null || count((t) => t.kind === k) < perKind,
          }
          const list = new WaitList(room)
          let model: QueuedTask[] = []
          let n = 0
          const expected = () => model.find((t) => room.session(t.sessionId) && room.kind(t.kind))
          for (const step of steps) {
            if (step.op === 'add') {
              const task = {
                key: `t${n}`,
                sessionId: `s${step.s}`,
                taskId: `t${n}`,
                kind: `k${step.k}`,
              }
              n++
              list.add(task)
              model.push(task)
            } else if (step.op === 'remove') {
              const victim = model[step.i % Math.max(model.length, 1)]
              expect(list.remove(victim?.key ?? 'none')).toBe(victim !== undefined)
              model = model.filter((t) => t !== victim)
            } else if (step.op === 'start') {
              const want = expected()
              expect(list.hasStartable()).toBe(want !== undefined)
              const got = list.next()
              expect(got?.key).toBe(want?.key)
              if (got !== undefined) {
                model = model.filter((t) => t.key !== got.key)
                running.push(got)
              }
            } else {
              const done = running.splice(step.i % Math.max(running.length, 1), 1)[0]
              if (done !== undefined) list.freed(done.sessionId, done.kind)
            }
            expect(list.size).toBe(model.length)
            for (const s of ['s0', 's1', 's2', 's3']) {
              expect(list.keysIn(s)).toEqual(
                model.filter((t) => t.sessionId === s).map((t) => t.key),
              )
            }
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  test('a task already on the list keeps its place when added again', () => {
    const list = new WaitList({ session: () => true, kind: () => true })
    const a = { key: 'a', sessionId: 's', taskId: 'a', kind: 'k' }
    const b = { key: 'b', sessionId: 's', taskId: 'b', kind: 'k' }
    list.add(a)
    list.add(b)
    list.add(a)
    expect(list.size).toBe(2)
    expect(list.next()?.key).toBe('a')
    expect(list.next()?.key).toBe('b')
    expect(list.next()).toBeUndefined()
  })

  test('stays small while nothing can start (the global limit is full)', () => {
    const list = new WaitList({ session: () => true, kind: () => true })
    for (let i = 0; i < 20_000; i++) {
      list.add({ key: `t${i}`, sessionId: `s${i}`, taskId: `t${i}`, kind: 'k' })
      list.remove(`t${i}`)
    }
    const inner = list as unknown as { top: { size: number }; groups: Map<string, unknown> }
    expect(list.size).toBe(0)
    expect(inner.top.size).toBeLessThan(100)
    expect(inner.groups.size).toBeLessThan(100)
  })
})
