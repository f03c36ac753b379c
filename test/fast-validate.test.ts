import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  NewTaskMessageSchema,
  SessionIdSchema,
  SessionTaskUpdateSchema,
  TaskIdSchema,
} from '../src/index.js'
import { fastTextMessage, fastUpdate } from '../src/model/fast-validate.js'
import { isBoundedId } from '../src/model/strings.js'
import { isIsoUtc } from '../src/model/time.js'

// The fast paths may refuse anything (zod then decides), but whatever they
// accept zod must accept too, with the same result.

// 'binary' units include lone surrogates, which both sides must refuse.
const strings = fc.oneof(
  { arbitrary: fc.string(), weight: 4 },
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom(
    '',
    'x',
    'a\u0000b',
    'tab\tid',
    'é',
    'x'.repeat(256),
    'x'.repeat(257),
    'lone\uD800',
    '\uDC00lone',
    'pair\uD83D\uDE00',
  ),
)
const numbers = fc.oneof(
  fc.integer({ min: -3, max: 5 }),
  fc.constantFrom(0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -0),
)
const timestamps = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.1Z',
    '2026-02-30T00:00:00.000Z',
    '2026-01-01T24:00:00.000Z',
    '2026-01-01T00:00:00.000+01:00',
    '0050-06-01T12:00:00.000Z',
    'yesterday',
  ),
)
const values = fc.oneof(
  strings,
  numbers,
  fc.boolean(),
  fc.constant(undefined),
  fc.constant(null),
  timestamps,
)
const progress = fc.dictionary(
  fc.constantFrom('current', 'total', 'unit', 'label', 'steps', 'other'),
  values,
  {
    maxKeys: 4,
  },
)
const error = fc.dictionary(fc.constantFrom('kind', 'message', 'extra'), values, { maxKeys: 3 })
const artifact = fc.dictionary(fc.constantFrom('name', 'type', 'path', 'url', 'other'), values, {
  maxKeys: 4,
})
const updateKeys = fc.constantFrom(
  'state',
  'expectedState',
  'stateDetail',
  'summary',
  'resultPath',
  'workerId',
  'heartbeatAt',
  'expectedAttempt',
  'incrementAttempt',
  'progress',
  'error',
  'appendArtifact',
  'links',
  'unknown',
)
const updates = fc.dictionary(
  updateKeys,
  fc.oneof(
    values,
    progress,
    error,
    artifact,
    fc.constantFrom('queued', 'running', 'succeeded', 'done'),
  ),
  { maxKeys: 5 },
)

describe('fast validation agrees with the zod schemas', () => {
  test('isBoundedId accepts exactly what the id schemas accept', () => {
    fc.assert(
      fc.property(fc.oneof(strings, numbers, fc.constant(null)), (value) => {
        expect(isBoundedId(value)).toBe(SessionIdSchema.safeParse(value).success)
        expect(isBoundedId(value)).toBe(TaskIdSchema.safeParse(value).success)
      }),
      { numRuns: 1000 },
    )
  })

  test('whatever fastUpdate accepts, the schema accepts with the same result', () => {
    let accepted = 0
    fc.assert(
      fc.property(updates, (update) => {
        const fast = fastUpdate(update)
        if (fast === undefined) return
        accepted++
        const parsed = SessionTaskUpdateSchema.safeParse(update)
        expect(parsed.success).toBe(true)
        const data = Object.fromEntries(
          Object.entries(parsed.data ?? {}).filter(([, v]) => v !== undefined),
        )
        expect(fast).toEqual(data)
      }),
      { numRuns: 3000 },
    )
    // The generator must reach the fast path often enough to mean something.
    expect(accepted).toBeGreaterThan(100)
  })

  test('whatever fastTextMessage accepts, the schema accepts with the same result', () => {
    const parts = fc.array(
      fc.oneof(
        { arbitrary: fc.record({ type: fc.constant('text'), text: strings }), weight: 6 },
        fc.record({ type: fc.constant('data'), data: values }),
        fc.record({ type: fc.constant('text'), text: values }),
        fc.record({ type: fc.constant('text'), text: strings, extra: values }),
      ),
      { maxLength: 3 },
    )
    const messages = fc
      .record(
        {
          direction: fc.constantFrom('inbound', 'outbound', 'outbound', 'sideways'),
          content: parts,
          inReplyTo: fc.oneof(strings, fc.constant(undefined)),
          expectedAttempt: fc.oneof(numbers, fc.constant(undefined)),
          extra: values,
        },
        { requiredKeys: ['direction', 'content'] },
      )
      .map((m) => {
        // Keep an unknown key in a few cases only, so the fast path is reached.
        if (m.inReplyTo === undefined) delete m.extra
        return m
      })
    let accepted = 0
    fc.assert(
      fc.property(messages, (message) => {
        const fast = fastTextMessage(message)
        if (fast === undefined) return
        accepted++
        const parsed = NewTaskMessageSchema.safeParse(message)
        expect(parsed.success).toBe(true)
        const data = Object.fromEntries(
          Object.entries(parsed.data ?? {}).filter(([, v]) => v !== undefined),
        )
        expect(fast).toEqual(data)
      }),
      // About 2% of the generated messages reach the fast path: enough runs
      // that the floor below is met on every seed, not on most.
      { numRuns: 10_000 },
    )
    expect(accepted).toBeGreaterThan(50)
  })

  test('isIsoUtc accepts real UTC instants in toISOString form only', () => {
    expect(isIsoUtc('2026-01-01T00:00:00.000Z')).toBe(true)
    expect(isIsoUtc('2026-01-01T00:00:00Z')).toBe(true)
    expect(isIsoUtc('0050-06-01T12:00:00.000Z')).toBe(true)
    expect(isIsoUtc('2024-02-29T00:00:00.000Z')).toBe(true)
    expect(isIsoUtc('2026-02-29T00:00:00.000Z')).toBe(false)
    expect(isIsoUtc('2026-01-01T24:00:00.000Z')).toBe(false)
    expect(isIsoUtc('2026-01-01T00:00:00.000+01:00')).toBe(false)
    expect(isIsoUtc('2026-01-01')).toBe(false)
    fc.assert(
      fc.property(
        fc.date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-12-31') }),
        (d) => {
          expect(isIsoUtc(d.toISOString())).toBe(true)
        },
      ),
    )
  })

  test('a throwing getter makes the fast path defer to zod instead of throwing', () => {
    const hostile = {
      get progress(): never {
        throw new Error('boom')
      },
    }
    expect(fastUpdate(hostile)).toBeUndefined()
    expect(
      fastTextMessage({
        direction: 'inbound',
        get content(): never {
          throw new Error('boom')
        },
      }),
    ).toBeUndefined()
  })
})
