/**
 * The parts of BENCHMARKS.md that runs apart from `npm run bench` write
 * (`npm run bench:pg-scale` needs a server with fsync on, `npm run
 * bench:sqlite` forks processes on a database file): each kept between its
 * own markers, so every run replaces only its own part, and `npm run bench`
 * carries them over when it rewrites the rest.
 */

/** The named sections, in the order they are appended to a document that has none. */
export const KEPT_SECTIONS = ['pg-scale', 'sqlite-scale'] as const
/** One kept section's name (its markers are `<!-- name:start -->` and `<!-- name:end -->`). */
export type KeptSectionName = (typeof KEPT_SECTIONS)[number]

/** The start and end markers of a named section. */
export function sectionMarkers(name: KeptSectionName): { start: string; end: string } {
  return { start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` }
}

/** The start marker of the PostgreSQL throughput section (`npm run bench:pg-scale`). */
export const PG_SCALE_START = sectionMarkers('pg-scale').start
/** The end marker. */
export const PG_SCALE_END = sectionMarkers('pg-scale').end

function bounds(text: string, name: KeptSectionName): { start: number; end: number } | undefined {
  const m = sectionMarkers(name)
  const start = text.indexOf(m.start)
  const end = start < 0 ? -1 : text.indexOf(m.end, start)
  return start < 0 || end < start ? undefined : { start, end: end + m.end.length }
}

/** `text` with the marked section `name` (default: pg-scale) replaced by `section` (or appended). */
export function withSection(
  text: string,
  section: string,
  name: KeptSectionName = 'pg-scale',
): string {
  const m = sectionMarkers(name)
  const block = `${m.start}\n${section}\n${m.end}`
  const at = bounds(text, name)
  if (at === undefined) return `${text.trimEnd()}\n\n${block}\n`
  return `${text.slice(0, at.start)}${block}${text.slice(at.end)}`
}

/** The marked section `name` (default: pg-scale) of `text`, markers included, or undefined. */
export function keptSection(text: string, name: KeptSectionName = 'pg-scale'): string | undefined {
  const at = bounds(text, name)
  return at === undefined ? undefined : text.slice(at.start, at.end)
}

/** What is between the markers of section `name` (as given to {@link withSection}), or undefined. */
export function sectionBody(text: string, name: KeptSectionName): string | undefined {
  const kept = keptSection(text, name)
  if (kept === undefined) return undefined
  const m = sectionMarkers(name)
  return kept.slice(m.start.length + 1, -m.end.length - 1)
}

/** `fresh` with every kept section of `previous` carried over (each replacing or appended). */
export function withKeptSections(fresh: string, previous: string): string {
  let text = fresh
  for (const name of KEPT_SECTIONS) {
    const body = sectionBody(previous, name)
    if (body !== undefined) text = withSection(text, body, name)
  }
  return text
}
