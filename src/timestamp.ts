let lastTime = Number.NaN
let lastIso = ''

/**
 * `date.toISOString()`, remembering the last result: formatting costs ~0.5 µs
 * and a busy registry stamps many writes within the same millisecond.
 */
export function isoString(date: Date): string {
  const time = date.getTime()
  if (time !== lastTime) {
    lastIso = date.toISOString()
    lastTime = time
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
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[]
  const date = new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s))
  // Round-trip the fields: Date.UTC silently rolls invalid ones over.
  return (
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === (mo as number) - 1 &&
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
