let lastTime = Number.NaN
let lastIso = ''
// The formatted minute (`YYYY-MM-DDTHH:MM:`) and the instant it starts at:
// most stamps fall in the same minute as the previous one, and formatting
// only the seconds is several times cheaper than `toISOString`.
let minuteStart = Number.NaN
let minutePrefix = ''
// Four-digit years only; others keep toISOString's extended format.
const YEAR_10000 = 253402300800000

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`)
const three = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)

/**
 * `date.toISOString()`, remembering the last result and the formatted
 * minute: formatting costs ~0.5 µs and a busy registry stamps many writes
 * within the same millisecond, and nearly all within the same minute.
 */
export function isoString(date: Date): string {
  const time = date.getTime()
  if (time === lastTime) return lastIso
  lastTime = time
  const offset = time - minuteStart
  if (offset >= 0 && offset < 60_000) {
    const seconds = Math.floor(offset / 1000)
    const iso = `${minutePrefix}${two(seconds)}.${three(offset - seconds * 1000)}Z`
    // Flatten the concatenation: a stored timestamp should be one string, not a rope.
    iso.charCodeAt(0)
    lastIso = iso
    return iso
  }
  lastIso = date.toISOString()
  if (time >= 0 && time < YEAR_10000) {
    minuteStart = time - (time % 60_000)
    minutePrefix = lastIso.slice(0, 17)
  }
  return lastIso
}

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/

/**
 * True for an ISO-8601 UTC timestamp such as `Date#toISOString()` prints
 * (seconds required, fraction optional, `Z` required) naming a real instant:
 * no February 30th, no 24:00.
 */
export function isIsoUtc(value: string): boolean {
  const m = ISO_UTC.exec(value)
  if (m === null) return false
  const y = Number(m[1])
  const mo = Number(m[2]) - 1
  const d = Number(m[3])
  const h = Number(m[4])
  const mi = Number(m[5])
  const s = Number(m[6])
  // setUTCFullYear, unlike Date.UTC, keeps years 0-99 as they are.
  const date = new Date(0)
  date.setUTCFullYear(y, mo, d)
  date.setUTCHours(h, mi, s, 0)
  // Round-trip the fields: the setters silently roll invalid ones over.
  return (
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s
  )
}

/** The canonical `toISOString()` form of a valid ISO-8601 UTC timestamp. */
export function normalizeIso(value: string): string {
  // Already canonical (the usual case): skip the Date round trip.
  return value.length === 24 && value[19] === '.' ? value : new Date(value).toISOString()
}
