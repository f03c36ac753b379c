// The string rules shared by the zod schemas and the hand-written fast paths.
// A leaf module: both sides import it, neither imports the other.

/** Control characters (C0, DEL, C1), refused in ids. */
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/

// A lone surrogate: a high one not followed by a low one, or a low one not
// preceded by a high one. Backends that store UTF-8 would collapse them.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

type WellFormedString = { isWellFormed?: () => boolean }
const native = (String.prototype as WellFormedString).isWellFormed

/** True when `value` is well-formed UTF-16: no lone surrogate (SPEC 4.1). */
export const isWellFormed: (value: string) => boolean =
  typeof native === 'function'
    ? (value) => native.call(value) as boolean
    : (value) => !LONE_SURROGATE.test(value)

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g')

/** `value` with each lone surrogate replaced by U+FFFD, so the registry can hold it. */
export const toWellFormed = (value: string): string => value.replace(LONE_SURROGATES, '\uFFFD')

/** The message for a string that is not well-formed UTF-16. */
export const ILL_FORMED = 'must be well-formed UTF-16 (no lone surrogate)'

/** The id rule: 1-`max` characters, no control character, well-formed. */
export function isBoundedId(value: unknown, max = 256): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= max &&
    !CONTROL_CHARACTERS.test(value) &&
    isWellFormed(value)
  )
}
