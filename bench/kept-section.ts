/**
 * The part of BENCHMARKS.md that `npm run bench:pg-scale` writes (it needs a
 * server with fsync on, so it runs apart from `npm run bench`): kept between
 * markers, so either run replaces only its own part.
 */
export const PG_SCALE_START = '<!-- pg-scale:start -->'
/** The end marker. */
export const PG_SCALE_END = '<!-- pg-scale:end -->'

/** `text` with the marked section replaced by `section` (or appended). */
export function withSection(text: string, section: string): string {
  const block = `${PG_SCALE_START}\n${section}\n${PG_SCALE_END}`
  const start = text.indexOf(PG_SCALE_START)
  const end = text.indexOf(PG_SCALE_END)
  if (start < 0 || end < start) return `${text.trimEnd()}\n\n${block}\n`
  return `${text.slice(0, start)}${block}${text.slice(end + PG_SCALE_END.length)}`
}

/** The marked section of `text` (markers included), or undefined. */
export function keptSection(text: string): string | undefined {
  const start = text.indexOf(PG_SCALE_START)
  const end = text.indexOf(PG_SCALE_END)
  return start < 0 || end < start ? undefined : text.slice(start, end + PG_SCALE_END.length)
}
