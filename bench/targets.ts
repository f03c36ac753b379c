/**
 * The targets, each evaluated to PASS or MISS on the pooled figure,
 * with its spread over the interleaved rounds (min–max of the per-round
 * ratio) and the GC share of the runs involved.
 */
import type { CoreOp, SectionResult } from './core.js'
import { formatHz, type Measurement, type Ratio, ratio } from './harness.js'
import type { MemoryResult } from './memory.js'
import type { RealisticOp } from './realistic.js'
import { SCALE_OP_LABELS, SCALE_OPS, type ScaleOp, type ScalingPoint } from './scaling.js'

/** The scaling runs; `floorTasks` is the floor's task scaling, for reference. */
export type Scaling = {
  tasks: ScalingPoint[]
  messages: ScalingPoint[]
  floorTasks: { points: ScalingPoint[]; bytesPerTask: number }
}

/** One target's verdict. */
export type TargetResult = {
  target: string
  /** `undefined` when it could not be measured (no `--expose-gc`). */
  pass: boolean | undefined
  /** What was measured, with its spread. */
  value: string
  /** True when the per-round spread reaches across the threshold: a verdict to re-check. */
  straddles?: boolean
}

/** Flat means within ±25% of the smallest size. */
export const FLAT = 0.25
/** Heap target per finished task, in bytes. */
export const BYTES_PER_TASK_MAX = 700
/** Heap target per short message, in bytes. */
export const BYTES_PER_MESSAGE_MAX = 300

const MS = 'session-tasks'

/** A ratio as `0.52×`. */
export function fmtRatio(value: number): string {
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`
}

/** A ratio with its spread over rounds: `0.52× [0.49–0.55]`. */
export function fmtRatioSpread(r: Ratio): string {
  const f = (x: number) => (r.value >= 10 ? x.toFixed(1) : x.toFixed(2))
  return `${fmtRatio(r.value)} [${f(r.min)}–${f(r.max)}]`
}

/** A relative change as `+3%`. */
export function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%`
}

/** A change from the smallest size with its spread: `-3% [-8…+2]`. */
export function fmtDevSpread(r: Ratio): string {
  return `${pct(r.value - 1)} [${pct(r.min - 1)}…${pct(r.max - 1)}]`
}

/** `1k`, `1M`. */
export function sizeLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`
  return String(n)
}

/** GC share as `gc 3%`. */
export function fmtGc(m: Measurement): string {
  return `${m.gcPct.toFixed(m.gcPct < 10 ? 1 : 0)}%`
}

/** Each size's ratio to the smallest size, for one operation; `worst` is the farthest from 1. */
export function flatness(
  points: readonly ScalingPoint[],
  op: ScaleOp,
): { ratios: Ratio[]; worst: Ratio } {
  const first = points[0]?.ops[op]
  const ratios = points.map((p) =>
    first === undefined
      ? { value: Number.NaN, rme: 0, min: Number.NaN, max: Number.NaN, cv: 0 }
      : ratio(p.ops[op], first),
  )
  let worst = ratios[0] as Ratio
  for (const r of ratios) if (Math.abs(r.value - 1) > Math.abs(worst.value - 1)) worst = r
  return { ratios, worst }
}

// Some rounds inside the ±25% band and some outside it.
function straddlesBand(r: Ratio): boolean {
  const inside = r.min >= 1 - FLAT && r.max <= 1 + FLAT
  const touches = r.max >= 1 - FLAT && r.min <= 1 + FLAT
  return touches && !inside
}

/** Evaluates every target of the issue on this run's figures. */
export function evaluateTargets(
  core: SectionResult<CoreOp>,
  realistic: SectionResult<RealisticOp>,
  scaling: Scaling,
  memory: MemoryResult | undefined,
): TargetResult[] {
  const out: TargetResult[] = []
  const against = (
    target: string,
    a: Measurement | undefined,
    b: Measurement | undefined,
    min: number,
    what: string,
  ) => {
    if (a === undefined || b === undefined) {
      out.push({ target, pass: undefined, value: 'not measured' })
      return
    }
    const r = ratio(a, b)
    out.push({
      target,
      pass: r.value >= min,
      straddles: r.min < min !== r.max < min,
      value: `${fmtRatioSpread(r)} ${what} (${formatHz(a.hz)} vs ${formatHz(b.hz)} ops/s; GC ${fmtGc(a)} vs ${fmtGc(b)})`,
    })
  }
  against(
    'update with one listener ≥ 2/3 of the floor',
    core.update[MS],
    core.update.floor,
    2 / 3,
    'of the floor',
  )
  against(
    'update with one listener ≥ 2/3 of the MCP store',
    core.update[MS],
    core.update.mcp,
    2 / 3,
    'of the MCP store',
  )
  against('get ≥ 1/2 of the floor', core.get[MS], core.get.floor, 1 / 2, 'of the floor')
  against(
    'update ≥ 25× the A2A store (realistic task)',
    realistic.update[MS],
    realistic.update.a2a,
    25,
    'the A2A store',
  )
  against(
    'get ≥ 50× the A2A store (realistic task)',
    realistic.get[MS],
    realistic.get.a2a,
    50,
    'the A2A store',
  )
  for (const [dimension, points, reference] of [
    ['finished tasks', scaling.tasks, scaling.floorTasks.points],
    ['messages on the task', scaling.messages, undefined],
  ] as const) {
    const first = points[0]
    const last = points.at(-1)
    if (first === undefined || last === undefined) continue
    for (const op of SCALE_OPS) {
      const { ratios, worst } = flatness(points, op)
      const dev = (r: Ratio) => Math.abs(r.value - 1) <= FLAT
      const sizes = points
        .slice(1)
        .map((p, k) => `${sizeLabel(p.size)} ${fmtDevSpread(ratios[k + 1] as Ratio)}`)
      const ref =
        reference === undefined || reference.length === 0
          ? ''
          : `; the floor: worst ${pct(flatness(reference, op).worst.value - 1)}`
      out.push({
        target: `${SCALE_OP_LABELS[op]} flat within ±25%, ${sizeLabel(first.size)} → ${sizeLabel(last.size)} ${dimension}`,
        pass: ratios.every(dev),
        straddles: ratios.some(straddlesBand),
        value: `worst ${pct(worst.value - 1)} (vs ${sizeLabel(first.size)} at ${formatHz(first.ops[op].hz)}: ${sizes.join(', ')}; GC ${points.map((p) => fmtGc(p.ops[op])).join(' / ')})${ref}`,
      })
    }
  }
  if (memory === undefined) {
    for (const target of [
      `≤ ${BYTES_PER_TASK_MAX} B heap per finished task`,
      `≤ ${BYTES_PER_MESSAGE_MAX} B heap per short message`,
    ]) {
      out.push({ target, pass: undefined, value: 'run with node --expose-gc' })
    }
    return out
  }
  out.push({
    target: `≤ ${BYTES_PER_TASK_MAX} B heap per finished task (${sizeLabel(memory.finishedTasks)} tasks, default replay budget)`,
    pass: memory.bytesPerTask <= BYTES_PER_TASK_MAX,
    value: `${memory.bytesPerTask.toFixed(0)} B per task (heap +${(memory.taskHeapDelta / 2 ** 20).toFixed(1)} MB for ${memory.finishedTasks.toLocaleString('en-US')} finished tasks, ${memory.taskBufferedEvents.toLocaleString('en-US')} events buffered; spec JSON ${memory.specTextBytes.toFixed(1)} B each, not subtracted); the floor: ${scaling.floorTasks.bytesPerTask.toFixed(0)} B`,
  })
  out.push({
    target: `≤ ${BYTES_PER_MESSAGE_MAX} B heap per short message`,
    pass: memory.bytesPerMessage <= BYTES_PER_MESSAGE_MAX,
    value: `${memory.bytesPerMessage.toFixed(0)} B per message (${memory.messages.toLocaleString('en-US')} messages, ${(memory.messages / memory.messageTasks).toFixed(0)} on each of ${memory.messageTasks.toLocaleString('en-US')} tasks, ${memory.messageBufferedEvents.toLocaleString('en-US')} events buffered; text ${memory.messageTextBytes.toFixed(1)} B each, not subtracted); ${memory.bytesPerMessageSingleTask.toFixed(0)} B each for ${memory.singleTaskMessages.toLocaleString('en-US')} on one task`,
  })
  return out
}
