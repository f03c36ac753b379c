/**
 * Terminal helpers for `npm run demo`: measure, cut and wrap lines that may
 * hold SGR colour codes, and a live view redrawn in place that never prints a
 * line as wide as the terminal (a wrapped line would throw the cursor-up
 * arithmetic off and leave copies of the table behind).
 */

/** CSI sequences (colours, cursor movement) and other ESC sequences. */
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])/g

/** `text` without escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ESCAPES, '')
}

/**
 * Columns `text` takes on a terminal. Counts code points, so it is exact for
 * the demo's text (ASCII once {@link plain} has cleaned it), not for wide
 * characters such as CJK or emoji.
 */
export function visibleWidth(text: string): number {
  let width = 0
  for (const _ of stripAnsi(text)) width += 1
  return width
}

/**
 * Text that came from a task (its output, messages, details) made safe to
 * print: tabs, carriage returns, escape codes and other control characters
 * become spaces, so they cannot move the cursor or hide their width.
 */
export function plain(text: string): string {
  return text.replace(ESCAPES, '').replace(/[\x00-\x1f\x7f-\x9f]/g, ' ')
}

/** Splits `text` into escape sequences and single visible characters. */
function pieces(text: string): { text: string; escape: boolean }[] {
  const out: { text: string; escape: boolean }[] = []
  let last = 0
  for (const match of text.matchAll(ESCAPES)) {
    for (const ch of text.slice(last, match.index)) out.push({ text: ch, escape: false })
    out.push({ text: match[0], escape: true })
    last = match.index + match[0].length
  }
  for (const ch of text.slice(last)) out.push({ text: ch, escape: false })
  return out
}

/**
 * `text` cut to at most `width` visible columns, ending in `...` when cut.
 * Escape sequences are kept whole, and a cut line that had any ends with a
 * reset so its colour does not run on.
 */
export function truncate(text: string, width: number): string {
  if (visibleWidth(text) <= width) return text
  const marker = width >= 6 ? '...' : ''
  const keep = Math.max(0, width - marker.length)
  let out = ''
  let used = 0
  let styled = false
  for (const piece of pieces(text)) {
    if (piece.escape) {
      styled = true
      out += piece.text
    } else if (used < keep) {
      out += piece.text
      used += 1
    }
  }
  return `${out.trimEnd()}${styled ? '\x1b[0m' : ''}${marker}`
}

/**
 * `text` broken at spaces into lines of at most `width` visible columns (a
 * word longer than that is split). Lines after the first start with
 * `indent`; by default as many spaces as the text's own indent, counting a
 * leading `- ` bullet. Nothing is dropped.
 */
export function wrap(text: string, width: number, indent?: string): string[] {
  if (visibleWidth(text) <= width) return [text]
  let hang = indent ?? ' '.repeat(/^ *(?:- )?/.exec(stripAnsi(text))?.[0].length ?? 0)
  if (visibleWidth(hang) >= width / 2) hang = ''
  const lines: string[] = []
  let line = ''
  let used = 0
  let hasWord = false
  let gap = ''
  const newLine = () => {
    lines.push(line.trimEnd())
    line = hang
    used = visibleWidth(hang)
    hasWord = false
    gap = ''
  }
  // Runs of spaces are kept as they are (they align columns) except where a line breaks.
  for (const part of text.split(/( +)/)) {
    if (part === '') continue
    if (part.startsWith(' ')) {
      if (!hasWord && lines.length === 0) {
        line += part
        used += part.length
      } else if (hasWord) gap = part
      continue
    }
    if (hasWord && used + gap.length + visibleWidth(part) > width) newLine()
    line += gap
    used += gap.length
    gap = ''
    for (const piece of pieces(part)) {
      if (!piece.escape && used >= width) newLine()
      line += piece.text
      if (!piece.escape) used += 1
    }
    hasWord = true
  }
  lines.push(line)
  return lines
}

/** What a live view draws, given the columns and rows it may use. */
export type Frame = (width: number, height: number) => string[]

/**
 * A block of lines at the bottom of a terminal, redrawn in place with
 * cursor-up and erase-to-end-of-line. Only for a TTY: it measures `columns` and `rows`
 * and measures again on `resize` (then redraws). Every line is cut to
 * `columns - 1` and the block to `rows - 1` lines, so each line takes exactly
 * one row and the whole block stays on screen, where the cursor can reach it.
 */
export class LiveView {
  private columns: number
  private rows: number
  /** Visible widths of the lines on screen, to count their rows after a resize. */
  private drawn: number[] = []
  private stopped = false
  private readonly onResize = () => {
    this.measure()
    this.render()
  }

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly frame: Frame,
  ) {
    this.columns = 80
    this.rows = 24
    this.measure()
    out.on('resize', this.onResize)
  }

  private measure() {
    this.columns = Math.max(this.out.columns || 80, 10)
    this.rows = Math.max(this.out.rows || 24, 3)
  }

  /** Draws the frame again over the one on screen. */
  render() {
    if (this.stopped) return
    const width = this.columns - 1
    const height = this.rows - 1
    const lines = this.frame(width, height)
      .slice(0, height)
      .map((line) => truncate(line, width))
    // After a narrowing resize the terminal may have rewrapped what is on
    // screen, so count the rows the old lines take at the current width.
    const up = this.drawn.reduce((rows, w) => rows + Math.max(1, Math.ceil(w / this.columns)), 0)
    // Each line erases what is left of the old one after it (`ESC[K`), then
    // `ESC[J` erases old lines below a shorter frame. No erase starts at the
    // screen's top-left corner: tmux takes that for a clear screen and would
    // push the old frame into the scrollback (its `scroll-on-clear` option).
    const body = lines.map((line) => `${line}\x1b[K\n`).join('')
    this.out.write(`\r${up > 0 ? `\x1b[${up}A` : ''}${body}\x1b[J`)
    this.drawn = lines.map(visibleWidth)
  }

  /** Leaves the last frame on screen and stops listening for resizes. */
  stop() {
    this.stopped = true
    this.out.off('resize', this.onResize)
  }
}
