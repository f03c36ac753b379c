import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { SESSION_TASK_STATES, type SessionTask } from '../src/index.js'
import {
  claimDecision,
  claimRefusal,
  hasLimit,
  holdsSlot,
  NO_COUNTS,
  type RunningCounts,
} from '../src/rules/claim.js'
import { newSessionTask } from '../src/rules/create.js'

// The pure claim rules (src/rules/claim.ts), against a plain restatement of
// SPEC 12.4: a claim takes a queued task on the attempt read, unless a
// cancel was requested (then it finishes the cancel) or a limit is full.

const NOW = new Date('2026-01-01T00:00:00.000Z')

const taskArb = fc
  .record({
    state: fc.constantFrom(...SESSION_TASK_STATES),
    attempt: fc.integer({ min: 1, max: 3 }),
    cancel: fc.boolean(),
    detail: fc.option(fc.constantFrom('waiting for a concurrency slot', ''), { nil: undefined }),
  })
  .map(({ state, attempt, cancel, detail }): SessionTask => {
    const base = newSessionTask({ sessionId: 's', kind: 'k', displayName: 'd', state }, NOW)
    return {
      ...base,
      attempt,
      ...(cancel ? { cancelRequestedAt: NOW.toISOString() } : {}),
      ...(detail === undefined ? {} : { stateDetail: detail }),
    }
  })

const limitArb = fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined })
const limitsArb = fc.option(
  fc.record({ global: limitArb, perSession: limitArb, perKind: limitArb }),
  { nil: undefined },
)
const countsArb: fc.Arbitrary<RunningCounts> = fc.record({
  global: fc.integer({ min: 0, max: 6 }),
  session: fc.integer({ min: 0, max: 6 }),
  kind: fc.integer({ min: 0, max: 6 }),
})

describe('claim rules', () => {
  test('claimDecision matches the rules for every state, attempt, cancel, limit and count', () => {
    fc.assert(
      fc.property(
        taskArb,
        countsArb,
        limitsArb,
        fc.integer({ min: 1, max: 3 }),
        (task, running, limits, expectedAttempt) => {
          const options = { expectedAttempt, ...(limits === undefined ? {} : { limits }) }
          const d = claimDecision(task, running, options, NOW)
          const mine = task.state === 'queued' && task.attempt === expectedAttempt
          const full =
            limits !== undefined &&
            ((limits.global !== undefined && running.global >= limits.global) ||
              (limits.perSession !== undefined && running.session >= limits.perSession) ||
              (limits.perKind !== undefined && running.kind >= limits.perKind))
          if (!mine) {
            expect(d).toEqual({ refusal: 'taken' })
          } else if (task.cancelRequestedAt !== undefined) {
            expect(d.refusal).toBe('taken')
            expect(d.update).toMatchObject({ state: 'canceled', expectedState: 'queued' })
          } else if (full) {
            expect(d.update).toBeUndefined()
            expect(['global', 'perSession', 'perKind']).toContain(d.refusal)
            expect(d.refusal).toBe(claimRefusal(task, running, options))
          } else {
            expect(d.refusal).toBeUndefined()
            expect(d.update).toMatchObject({
              state: 'running',
              heartbeatAt: NOW.toISOString(),
              expectedState: 'queued',
              expectedAttempt,
            })
            // A left-over detail is overwritten, an absent one is not invented.
            expect('stateDetail' in (d.update ?? {})).toBe(task.stateDetail !== undefined)
          }
        },
      ),
      { numRuns: 5000 },
    )
  })

  test('the first full limit is named in the order global, perSession, perKind', () => {
    const task = newSessionTask({ sessionId: 's', kind: 'k', displayName: 'd' }, NOW)
    const all = { global: 1, perSession: 1, perKind: 1 }
    const o = (limits: typeof all | Partial<typeof all>) => ({ expectedAttempt: 1, limits })
    expect(claimRefusal(task, { global: 1, session: 1, kind: 1 }, o(all))).toBe('global')
    expect(claimRefusal(task, { global: 0, session: 1, kind: 1 }, o(all))).toBe('perSession')
    expect(claimRefusal(task, { global: 0, session: 0, kind: 1 }, o(all))).toBe('perKind')
    expect(claimRefusal(task, NO_COUNTS, o(all))).toBeUndefined()
  })

  test('only running and awaiting_input hold a slot; hasLimit needs one set limit', () => {
    expect(SESSION_TASK_STATES.filter(holdsSlot)).toEqual(['running', 'awaiting_input'])
    expect(hasLimit(undefined)).toBe(false)
    expect(hasLimit({})).toBe(false)
    expect(hasLimit({ global: undefined, perKind: 2 })).toBe(true)
  })
})
