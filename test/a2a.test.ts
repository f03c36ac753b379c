import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  isTerminalState,
  isValidationError,
  SESSION_TASK_STATES,
  type SessionTaskState,
  type TaskError,
  ValidationError,
} from '../src/index.js'
import {
  A2A_TASK_STATES,
  type A2ATaskState,
  fromA2ATaskState,
  toA2ATaskState,
} from '../src/interop/a2a.js'
import type { Writable } from './fixtures/writable.js'

// Issue 7 item 4: A2A task states <-> session task states.

const REJECTED: TaskError = { kind: 'rejected', message: 'rejected by the remote agent' }

/** Runs `call`, expecting a ValidationError; returns its message. */
function validationMessage(call: () => unknown): string {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    expect(isValidationError(error)).toBe(true)
    return (error as ValidationError).message
  }
  throw new Error('expected a ValidationError, nothing was thrown')
}

// [v0.3 JSON name, proto name(s) of @a2a-js/sdk, SDK enum number, expected mapping]
const FROM: [A2ATaskState, string[], number, { state: SessionTaskState; error?: TaskError }][] = [
  ['submitted', ['TASK_STATE_SUBMITTED'], 1, { state: 'queued' }],
  ['working', ['TASK_STATE_WORKING'], 2, { state: 'running' }],
  ['completed', ['TASK_STATE_COMPLETED'], 3, { state: 'succeeded' }],
  ['failed', ['TASK_STATE_FAILED'], 4, { state: 'failed' }],
  ['canceled', ['TASK_STATE_CANCELED', 'TASK_STATE_CANCELLED'], 5, { state: 'canceled' }],
  ['input-required', ['TASK_STATE_INPUT_REQUIRED'], 6, { state: 'awaiting_input' }],
  ['rejected', ['TASK_STATE_REJECTED'], 7, { state: 'failed', error: REJECTED }],
  ['auth-required', ['TASK_STATE_AUTH_REQUIRED'], 8, { state: 'awaiting_input' }],
]

describe('A2A_TASK_STATES', () => {
  test('lists the nine A2A states in protocol order', () => {
    expect(A2A_TASK_STATES).toEqual([
      'submitted',
      'working',
      'input-required',
      'completed',
      'canceled',
      'failed',
      'rejected',
      'auth-required',
      'unknown',
    ])
    expect(new Set(A2A_TASK_STATES).size).toBe(A2A_TASK_STATES.length)
  })

  test('the table covers every state except unknown', () => {
    expect(new Set(FROM.map(([name]) => name))).toEqual(
      new Set(A2A_TASK_STATES.filter((s) => s !== 'unknown')),
    )
  })
})

describe('fromA2ATaskState', () => {
  test.each(FROM)('%s (and %j, %d) maps as documented', (name, protoNames, number, expected) => {
    expect(fromA2ATaskState(name)).toStrictEqual(expected)
    for (const proto of protoNames) expect(fromA2ATaskState(proto)).toStrictEqual(expected)
    expect(fromA2ATaskState(number)).toStrictEqual(expected)
  })

  test('only rejected carries an error', () => {
    for (const [name] of FROM) {
      expect('error' in fromA2ATaskState(name)).toBe(name === 'rejected')
    }
  })

  test('each call returns a fresh result (mutating one never affects the next)', () => {
    const first = fromA2ATaskState('rejected') as Writable<ReturnType<typeof fromA2ATaskState>>
    if (first.error) first.error.message = 'changed'
    first.state = 'running'
    expect(fromA2ATaskState('rejected')).toStrictEqual({ state: 'failed', error: REJECTED })
  })

  test('unknown, TASK_STATE_UNSPECIFIED and 0 are ValidationErrors (no guess)', () => {
    for (const value of ['unknown', 'TASK_STATE_UNSPECIFIED', 0]) {
      const message = validationMessage(() => fromA2ATaskState(value))
      expect(message).toMatch(/^invalid A2A task state: /)
      expect(message).toContain('unknown')
    }
  })

  test.each([
    '',
    'Working',
    'WORKING',
    ' working',
    'working ',
    'in-progress',
    'cancelled',
    'input_required',
    'awaiting_input',
    'running',
    'TASK_STATE_UNKNOWN',
    'TASK_STATE_working',
    'UNRECOGNIZED',
    'constructor',
    '__proto__',
    'toString',
  ])('unknown name %j is a ValidationError naming the value', (value) => {
    const message = validationMessage(() => fromA2ATaskState(value))
    expect(message).toMatch(/^invalid A2A task state: must be an A2A task state/)
    expect(message).toContain(JSON.stringify(value))
  })

  test.each([-1, 9, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'number %d outside the SDK enum is a ValidationError',
    (value) => {
      expect(validationMessage(() => fromA2ATaskState(value))).toContain(String(value))
    },
  )

  test.each([null, undefined, true, {}, [], ['working'], { state: 'working' }, 2n, Symbol('x')])(
    'non-string input %s is a ValidationError',
    (value) => {
      validationMessage(() => fromA2ATaskState(value as never))
    },
  )
})

describe('toA2ATaskState', () => {
  const TO: [SessionTaskState, A2ATaskState][] = [
    ['queued', 'submitted'],
    ['running', 'working'],
    ['awaiting_input', 'input-required'],
    ['succeeded', 'completed'],
    ['canceled', 'canceled'],
    ['failed', 'failed'],
  ]

  test.each(TO)('%s -> %s', (state, expected) => {
    expect(toA2ATaskState(state)).toBe(expected)
  })

  test('the table covers every session state', () => {
    expect(TO.map(([s]) => s).sort()).toEqual([...SESSION_TASK_STATES].sort())
  })

  test('failed with error.kind rejected -> rejected; any other kind stays failed', () => {
    expect(toA2ATaskState('failed', REJECTED)).toBe('rejected')
    expect(toA2ATaskState('failed', { kind: 'rejected', message: '' })).toBe('rejected')
    expect(toA2ATaskState('failed', { kind: 'timeout', message: 'slow' })).toBe('failed')
    expect(toA2ATaskState('failed', { kind: 'Rejected', message: '' })).toBe('failed')
    expect(toA2ATaskState('failed', undefined)).toBe('failed')
  })

  test('a rejected error on a state other than failed is ignored', () => {
    expect(toA2ATaskState('canceled', REJECTED)).toBe('canceled')
    expect(toA2ATaskState('succeeded', REJECTED)).toBe('completed')
    expect(toA2ATaskState('running', REJECTED)).toBe('working')
  })

  test('never returns auth-required or unknown', () => {
    for (const state of SESSION_TASK_STATES) {
      for (const error of [undefined, REJECTED, { kind: 'x', message: 'y' }]) {
        expect(['auth-required', 'unknown']).not.toContain(toA2ATaskState(state, error))
      }
    }
  })

  test.each(['bogus', 'working', 'Failed', '', 'TASK_STATE_FAILED', 4, null, undefined])(
    'state %j that is not a SessionTaskState is a ValidationError naming state',
    (state) => {
      const message = validationMessage(() => toA2ATaskState(state as never))
      expect(message).toMatch(/^invalid A2A state conversion: state: /)
    },
  )

  test.each([
    [{ kind: '', message: 'm' }, 'error.kind'],
    [{ kind: 'rejected' }, 'error.message'],
    [{ kind: 'rejected', message: 'm', extra: 1 }, 'error.extra'],
    [null, 'error'],
    ['rejected', 'error'],
  ])('malformed error %j is a ValidationError naming %s', (error, field) => {
    const message = validationMessage(() => toA2ATaskState('failed', error as never))
    expect(message).toContain(`${field}:`)
  })

  test('inputs are not mutated', () => {
    const error = Object.freeze({ ...REJECTED })
    expect(toA2ATaskState('failed', error)).toBe('rejected')
    expect(error).toStrictEqual(REJECTED)
  })
})

describe('round trips', () => {
  test('every A2A state except auth-required and unknown survives A2A -> session -> A2A', () => {
    for (const name of A2A_TASK_STATES) {
      if (name === 'unknown' || name === 'auth-required') continue
      const { state, error } = fromA2ATaskState(name)
      expect(toA2ATaskState(state, error)).toBe(name)
    }
  })

  test('auth-required comes back as input-required (both mean: waiting on the caller)', () => {
    const { state, error } = fromA2ATaskState('auth-required')
    expect(toA2ATaskState(state, error)).toBe('input-required')
  })

  test('proto names and SDK numbers come back as the v0.3 JSON name', () => {
    for (const [name, protoNames, number] of FROM) {
      if (name === 'auth-required') continue
      for (const value of [...protoNames, number]) {
        const { state, error } = fromA2ATaskState(value)
        expect(toA2ATaskState(state, error)).toBe(name)
      }
    }
  })

  test('property: every session state (with any error) survives session -> A2A -> session', () => {
    const error = fc.option(
      fc.record({
        kind: fc.oneof(fc.constant('rejected'), fc.string({ minLength: 1 })),
        message: fc.string(),
      }),
      { nil: undefined },
    )
    fc.assert(
      fc.property(fc.constantFrom(...SESSION_TASK_STATES), error, (state, err) => {
        const a2a = toA2ATaskState(state, err)
        expect(A2A_TASK_STATES).toContain(a2a)
        const back = fromA2ATaskState(a2a)
        expect(back.state).toBe(state)
        expect(isTerminalState(back.state)).toBe(isTerminalState(state))
        // The rejection survives as an error of kind rejected; other errors are not carried.
        const rejected = state === 'failed' && err?.kind === 'rejected'
        expect(back.error).toStrictEqual(rejected ? REJECTED : undefined)
      }),
      { numRuns: 300 },
    )
  })

  test('property: any string is either a mapped state or a ValidationError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.constantFrom(...A2A_TASK_STATES),
          fc.integer({ min: -2, max: 10 }),
        ),
        (value) => {
          let result: ReturnType<typeof fromA2ATaskState> | undefined
          try {
            result = fromA2ATaskState(value)
          } catch (error) {
            expect(isValidationError(error)).toBe(true)
            return
          }
          expect(SESSION_TASK_STATES).toContain(result.state)
        },
      ),
    )
  })
})
