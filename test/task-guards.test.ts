import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  applyTaskUpdate,
  fromWireTask,
  isTaskInState,
  isTerminalState,
  isTerminalTask,
  newSessionTask,
  SESSION_TASK_STATES,
  type SessionTask,
  type SessionTaskState,
  type WireSessionTask,
} from '../src/index.js'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const at = (step: number) => new Date(T0 + step * 1000)

const queued = (): SessionTask =>
  newSessionTask({ sessionId: 's', kind: 'k', displayName: 'd' }, at(0))

const WIRE: WireSessionTask = {
  id: 'task_w',
  session_id: 's',
  kind: 'k',
  display_name: 'd',
  spec: null,
  state: 'failed',
  state_changed_at: '2026-01-01T00:00:00.000Z',
  artifacts: [],
  attempt: 1,
  links: { resource_ids: [] },
  wake_policy: 'silent',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
}

describe('isTerminalTask', () => {
  test('is false for a queued or running task and true once it finished', () => {
    const task = queued()
    expect(isTerminalTask(task)).toBe(false)
    const running = applyTaskUpdate(task, { state: 'running' }, at(1))
    expect(isTerminalTask(running)).toBe(false)
    const done = applyTaskUpdate(running, { state: 'succeeded' }, at(2))
    expect(isTerminalTask(done)).toBe(true)
    expect(done.finishedAt).toBe(at(2).toISOString())
  })

  test('is true for a task canceled while still queued (leaving queued stamps startedAt)', () => {
    const canceled = applyTaskUpdate(queued(), { state: 'canceled' }, at(1))
    expect(isTerminalTask(canceled)).toBe(true)
    expect(canceled.startedAt).toBe(at(1).toISOString())
  })

  test('is false for a finished wire record that came without finished_at', () => {
    const task = fromWireTask({ ...WIRE, started_at: WIRE.created_at })
    expect(isTerminalState(task.state)).toBe(true)
    expect(isTerminalTask(task)).toBe(false)
    expect(isTerminalTask(fromWireTask({ ...WIRE, finished_at: WIRE.created_at }))).toBe(false)
    const stamped = { ...WIRE, started_at: WIRE.created_at, finished_at: WIRE.created_at }
    expect(isTerminalTask(fromWireTask(stamped))).toBe(true)
  })
})

describe('isTaskInState', () => {
  test('is true only for the states given', () => {
    const running = applyTaskUpdate(queued(), { state: 'running' }, at(1))
    expect(isTaskInState(running, 'running')).toBe(true)
    expect(isTaskInState(running, 'queued', 'awaiting_input')).toBe(false)
    expect(isTaskInState(running, 'awaiting_input', 'running')).toBe(true)
    expect(isTaskInState(queued(), 'queued')).toBe(true)
  })

  test('is true for a task moved back to queued, which keeps its startedAt', () => {
    const requeued = applyTaskUpdate(
      applyTaskUpdate(queued(), { state: 'running' }, at(1)),
      { state: 'queued' },
      at(2),
    )
    expect(isTaskInState(requeued, 'queued')).toBe(true)
    expect(requeued.startedAt).toBe(at(1).toISOString())
  })

  test('is false for a running wire record that came without started_at', () => {
    const task = fromWireTask({ ...WIRE, state: 'running' })
    expect(task.state).toBe('running')
    expect(isTaskInState(task, 'running')).toBe(false)
  })

  test('every record the lifecycle builds passes the guard of its own state', () => {
    const state = fc.constantFrom<SessionTaskState>(...SESSION_TASK_STATES)
    fc.assert(
      fc.property(state, fc.array(state, { maxLength: 8 }), (initial, moves) => {
        let task = newSessionTask(
          { sessionId: 's', kind: 'k', displayName: 'd', state: initial },
          at(0),
        )
        const seen = [task]
        moves.forEach((next, i) => {
          task = applyTaskUpdate(task, { state: next }, at(i + 1))
          seen.push(task)
        })
        for (const record of seen) {
          expect(isTaskInState(record, record.state)).toBe(true)
          expect(isTerminalTask(record)).toBe(isTerminalState(record.state))
        }
      }),
    )
  })
})
