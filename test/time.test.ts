import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { isoString } from '../src/model/time.js'

describe('isoString', () => {
  test('equals toISOString for any instant, in any order of calls', () => {
    const instants = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      // Runs within one minute and across minute and year boundaries.
      fc
        .tuple(
          fc.integer({ min: 0, max: 253402300799999 }),
          fc.integer({ min: -120_000, max: 120_000 }),
        )
        .map(([base, delta]) => base + delta),
      fc.constantFrom(0, 59_999, 60_000, 253402300799999, 253402300800000, -1, 951782399999),
    )
    fc.assert(
      fc.property(fc.array(instants, { minLength: 1, maxLength: 40 }), (times) => {
        for (const t of times) {
          const date = new Date(t)
          expect(isoString(date)).toBe(date.toISOString())
        }
      }),
      { numRuns: 300 },
    )
  })

  test('consecutive stamps within a minute stay exact', () => {
    const start = Date.parse('2026-12-01T23:59:58.990Z')
    for (let t = start; t < start + 2_500; t += 7) {
      const date = new Date(t)
      expect(isoString(date)).toBe(date.toISOString())
    }
  })
})
