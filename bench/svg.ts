/**
 * The hand-written SVG chart of the scaling runs (bench/scaling.svg): ops/s
 * at each size relative to the smallest, with the min–max over rounds as a
 * whisker, the ±25% band shaded, and the floor dotted for reference.
 */
import { formatHz } from './harness.js'
import { GET_RANDOM_LABEL, type Results } from './report.js'
import { SCALE_OP_LABELS, SCALE_OPS, type ScaleOp, type ScalingPoint } from './scaling.js'
import { FLAT, flatness, sizeLabel } from './targets.js'

const COLORS: Record<ScaleOp, string> = {
  get: '#1f77b4',
  update: '#d62728',
  list: '#2ca02c',
  listMessages: '#9467bd',
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

function panel(
  points: ScalingPoint[],
  reference: ScalingPoint[] | undefined,
  title: string,
  xLabel: string,
  x0: number,
  y0: number,
  w: number,
  h: number,
): string {
  const out: string[] = []
  const left = x0 + 56
  const right = x0 + w - 28
  const top = y0 + 34
  const bottom = y0 + h - 150
  out.push(
    `<text x="${(left + right) / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  )
  if (points.length === 0) return out.join('\n')
  const firstRandom = points[0]?.getRandom?.hz
  const randomRel = points.map((p) =>
    p.getRandom === undefined || firstRandom === undefined
      ? undefined
      : p.getRandom.hz / firstRandom,
  )
  const rel = [
    ...SCALE_OPS.flatMap((op) => flatness(points, op).ratios.flatMap((r) => [r.min, r.max])),
    ...SCALE_OPS.flatMap((op) =>
      reference === undefined ? [] : flatness(reference, op).ratios.map((r) => r.value),
    ),
    ...randomRel.filter((v): v is number => v !== undefined),
  ].filter((v) => Number.isFinite(v))
  const yMin = Math.max(0, Math.min(0.5, Math.floor(Math.min(...rel) * 4) / 4))
  const yMax = Math.max(1.5, Math.ceil(Math.max(...rel) * 4) / 4)
  const sizes = points.map((p) => p.size)
  const lx0 = Math.log10(Math.min(...sizes))
  const lx1 = Math.log10(Math.max(...sizes))
  const sx = (size: number) =>
    lx1 === lx0
      ? (left + right) / 2
      : left + ((Math.log10(size) - lx0) / (lx1 - lx0)) * (right - left)
  const sy = (v: number) => bottom - ((v - yMin) / (yMax - yMin)) * (bottom - top)
  // The ±25% band, the axes and the gridlines.
  out.push(
    `<rect x="${left}" y="${sy(1 + FLAT)}" width="${right - left}" height="${sy(1 - FLAT) - sy(1 + FLAT)}" fill="#2ca02c" fill-opacity="0.08"/>`,
  )
  for (let v = Math.ceil(yMin * 4) / 4; v <= yMax + 1e-9; v += 0.25) {
    const y = sy(v).toFixed(1)
    out.push(
      `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${Math.abs(v - 1) < 1e-9 ? '#888' : '#e5e5e5'}" stroke-width="1"/>`,
    )
    out.push(
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${v.toFixed(2)}×</text>`,
    )
  }
  for (const size of sizes) {
    const x = sx(size).toFixed(1)
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#f0f0f0"/>`)
    out.push(
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle" font-size="11">${sizeLabel(size)}</text>`,
    )
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`)
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`)
  out.push(
    `<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle" font-size="12">${esc(xLabel)} (log scale)</text>`,
  )
  out.push(
    `<text x="${x0 + 14}" y="${(top + bottom) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${(top + bottom) / 2})">ops/s ÷ ops/s at ${sizeLabel(sizes[0] ?? 0)}</text>`,
  )
  SCALE_OPS.forEach((op, n) => {
    const { ratios } = flatness(points, op)
    // Ops side by side by a few pixels, so their whiskers do not hide each other.
    const dx = (n - (SCALE_OPS.length - 1) / 2) * 3
    const coords = points.map(
      (p, k) => `${(sx(p.size) + dx).toFixed(1)},${sy(ratios[k]?.value ?? 1).toFixed(1)}`,
    )
    out.push(
      `<polyline points="${coords.join(' ')}" fill="none" stroke="${COLORS[op]}" stroke-width="2"/>`,
    )
    coords.forEach((c, k) => {
      const [cx, cy] = c.split(',')
      const r = ratios[k]
      if (r !== undefined && k > 0) {
        out.push(
          `<line x1="${cx}" y1="${sy(r.min).toFixed(1)}" x2="${cx}" y2="${sy(r.max).toFixed(1)}" stroke="${COLORS[op]}" stroke-width="1.2"/>`,
        )
      }
      out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${COLORS[op]}"/>`)
    })
  })
  if (reference !== undefined && reference.length === points.length) {
    for (const op of SCALE_OPS) {
      const { ratios } = flatness(reference, op)
      const coords = reference.map(
        (p, k) => `${sx(p.size).toFixed(1)},${sy(ratios[k]?.value ?? 1).toFixed(1)}`,
      )
      out.push(
        `<polyline points="${coords.join(' ')}" fill="none" stroke="${COLORS[op]}" stroke-width="1.2" stroke-dasharray="1 3" stroke-linecap="round"/>`,
      )
    }
    const y = bottom + 56 + (SCALE_OPS.length + 1) * 16
    out.push(
      `<line x1="${left}" y1="${y - 7}" x2="${left + 14}" y2="${y - 7}" stroke="#555" stroke-width="1.2" stroke-dasharray="1 3" stroke-linecap="round"/>`,
    )
    out.push(
      `<text x="${left + 20}" y="${y - 3}" font-size="11">dotted, same colors: the floor in the same scaling run</text>`,
    )
  }
  if (randomRel.every((v) => v !== undefined)) {
    const coords = points.map(
      (p, k) => `${sx(p.size).toFixed(1)},${sy(randomRel[k] ?? 1).toFixed(1)}`,
    )
    out.push(
      `<polyline points="${coords.join(' ')}" fill="none" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    )
    const first = points[0]?.getRandom
    const last = points.at(-1)?.getRandom
    const y = bottom + 56 + SCALE_OPS.length * 16
    out.push(
      `<line x1="${left}" y1="${y - 7}" x2="${left + 14}" y2="${y - 7}" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="4 2"/>`,
    )
    out.push(
      `<text x="${left + 20}" y="${y - 3}" font-size="11">${esc(`${GET_RANDOM_LABEL}: ${first === undefined ? '' : formatHz(first.hz)} → ${last === undefined ? '' : formatHz(last.hz)} ops/s`)}</text>`,
    )
  }
  // Legend: absolute ops/s at the smallest and largest size.
  SCALE_OPS.forEach((op, k) => {
    const y = bottom + 56 + k * 16
    const first = points[0]?.ops[op]
    const last = points.at(-1)?.ops[op]
    const text = `${SCALE_OP_LABELS[op]}: ${first === undefined ? '' : formatHz(first.hz)} → ${last === undefined ? '' : formatHz(last.hz)} ops/s`
    out.push(`<rect x="${left}" y="${y - 9}" width="14" height="4" fill="${COLORS[op]}"/>`)
    out.push(`<text x="${left + 20}" y="${y - 3}" font-size="11">${esc(text)}</text>`)
  })
  return out.join('\n')
}

// Room for the two caption lines above the panels.
const TOP = 38

/** The chart of both scaling runs. */
export function svg(results: Results): string {
  const w = 480
  const h = 460
  const { meta } = results
  const body = [
    panel(
      results.scaling.tasks,
      results.scaling.floorTasks.points,
      'Finished tasks in the registry',
      'finished tasks',
      0,
      TOP,
      w,
      h,
    ),
    panel(
      results.scaling.messages,
      undefined,
      'Messages on the task',
      'messages on the task',
      w,
      TOP,
      w,
      h,
    ),
  ]
  const caption = `session-tasks scaling (${meta.mode}), ${meta.budget.rounds} interleaved rounds; whiskers: min–max over rounds; shaded: ±25% of the smallest size`
  const machine = `${meta.cpu}, ${meta.cores} cores, Node ${meta.node}, ${meta.date}`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h + TOP}" viewBox="0 0 ${2 * w} ${h + TOP}" role="img" aria-labelledby="title" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<title id="title">session-tasks: ops/s as finished tasks and messages per task grow, relative to the smallest size</title>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${w}" y="15" text-anchor="middle" font-size="11" fill="#555">${esc(caption)}</text>
<text x="${w}" y="29" text-anchor="middle" font-size="11" fill="#555">${esc(machine)}</text>
${body.join('\n')}
</svg>
`
}
