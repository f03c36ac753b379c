import { ValidationError } from './errors.js'

/**
 * Wraps a caller's clock so that a reading that is not a valid Date (an
 * invalid date, a number, a throwing clock) is a `ValidationError` naming
 * the option, instead of a raw `RangeError` deep inside a write.
 */
export function checkedClock(now: () => Date, option = 'now'): () => Date {
  return () => {
    let date: unknown
    try {
      date = now()
    } catch (error) {
      throw new ValidationError(
        `invalid ${option}: the clock threw`,
        [{ path: [option], message: 'the clock threw' }],
        { cause: error },
      )
    }
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new ValidationError(`invalid ${option}: the clock must return a valid Date`, [
        { path: [option], message: 'must return a valid Date' },
      ])
    }
    return date
  }
}
