/**
 * A section of per-operation comparisons: for each operation, every
 * subject's case measured together in interleaved rounds (bench/harness.ts).
 */
import {
  type Budget,
  type Case,
  type Measurement,
  measure,
  progress,
  SUBJECTS,
  type Subject,
  settle,
} from './harness.js'

/** Measurements by operation, then by subject (absent: no equivalent). */
export type SectionResult<Op extends string> = Record<Op, Partial<Record<Subject, Measurement>>>

/** The case of each subject, by operation (absent: no equivalent). */
export type Cases<Op extends string> = Record<Op, Partial<Record<Subject, Case['op']>>>

/** Runs one interleaved measurement per operation (in `ops` order), every subject of it in each round. */
export async function runSection<Op extends string>(
  name: string,
  ops: readonly Op[],
  cases: Cases<Op>,
  budget: Budget,
  lists?: (subject: Subject) => Promise<Case['op']>,
  growing: ReadonlySet<string> = new Set(),
): Promise<SectionResult<Op>> {
  const out = {} as SectionResult<Op>
  for (const op of ops) {
    if (growing.has(op)) await settle()
    if (lists !== undefined && op === 'list') {
      const row: Partial<Record<Subject, Measurement>> = {}
      for (const subject of SUBJECTS) {
        progress(`${name}: list (${subject}: building its store)`)
        const measured = await measure(
          `${name} list ${subject}`,
          [{ key: subject, op: await lists(subject) }],
          budget,
        )
        const m = measured.get(subject)
        if (m !== undefined) row[subject] = m
        // Collect this subject's store before anything else runs.
        await settle()
      }
      out[op] = row
      continue
    }
    const list: Case[] = []
    for (const [subject, fn] of Object.entries(cases[op]) as [Subject, Case['op']][]) {
      list.push({ key: subject, op: fn })
    }
    progress(`${name}: ${op} (${list.map((c) => c.key).join(', ')})`)
    const measured = await measure(`${name} ${op}`, list, budget)
    out[op] = Object.fromEntries(measured) as Partial<Record<Subject, Measurement>>
  }
  return out
}
