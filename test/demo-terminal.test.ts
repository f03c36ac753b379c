/**
 * `npm run demo` on a real terminal and through a pipe. On a terminal its
 * live table is redrawn in place; a line as wide as the terminal wraps and
 * the redraw then leaves copies of the header behind. Piped, it must print
 * plain lines with no escape codes.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'
import { stripAnsi, truncate, visibleWidth, wrap } from '../examples/demo-table.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
const DEMO = ['--import', 'tsx', 'examples/demo.ts']
/** The demo takes about two seconds; this bounds a hung run. */
const DEMO_TIMEOUT_MS = 15_000
const HEADER = /^\s*task\s+kind\s+state\s+progress\b/
const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0

function demoEnv(): NodeJS.ProcessEnv {
  const { DEMO_PLAIN: _, ...env } = process.env
  return { ...env, TERM: env.TERM || 'xterm-256color' }
}

describe('the demo, piped', () => {
  test('prints plain lines, no escape codes, and ends with its summary', async () => {
    const { stdout, stderr } = await run(process.execPath, DEMO, {
      cwd: root,
      env: demoEnv(),
      timeout: DEMO_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    })
    expect(stderr).toBe('')
    // Not even one ESC byte: no colours, no cursor movement.
    expect(stdout).not.toContain('\x1b')
    expect(stdout).not.toMatch(HEADER)
    // One line per change, as it happens.
    expect(stdout).toMatch(/^\d+\.\d{3}s {2}count-lines +created \(background_tool\)$/m)
    expect(stdout).toMatch(/^\d+\.\d{3}s {2}the session cancels the monitor$/m)
    // The end summary.
    expect(stdout).toContain('wakes the agent would get on its next turn:')
    // The failed task's wake names its error (the queue's describe).
    expect(stdout).toMatch(/^ {4}- error: task timed out after \d+ ms$/m)
    expect(stdout).toContain('final records:')
    expect(stdout).toMatch(
      /^ {2}count-lines +background_tool +succeeded \(5 lines; last: line 5\)$/m,
    )
    expect(stdout).toMatch(/^ {2}uptime +monitor +canceled$/m)
    expect(stdout).toMatch(/^ {2}stuck +stuck_tool +failed \(timeout\)$/m)
    expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^last two monitor messages: /)
  })
})

/** Runs the demo in a detached tmux terminal of `columns` x `rows`; returns what it shows. */
async function inTmux(columns: number, rows: number): Promise<{ status: string; lines: string[] }> {
  // A private server: its socket and config live in a temporary folder, removed afterwards.
  const dir = mkdtempSync(join(tmpdir(), 'demo-terminal-'))
  const socket = join(dir, 'tmux.sock')
  const conf = join(dir, 'tmux.conf')
  // In the config, so the pane is kept from the start, however fast the demo ends.
  writeFileSync(
    conf,
    'set -g default-shell /bin/sh\nset -g remain-on-exit on\nset -g history-limit 10000\nset -g status off\n',
  )
  const tmux = (...args: string[]) =>
    run('tmux', ['-S', socket, '-f', conf, ...args], { env: demoEnv(), timeout: 5_000 })
  const exited = /^\[demo exited: (\d+)\]$/m
  try {
    const node = `'${process.execPath.replaceAll("'", `'\\''`)}'`
    await tmux(
      'new-session',
      '-d',
      '-x',
      String(columns),
      '-y',
      String(rows),
      '-c',
      root,
      `${node} ${DEMO.join(' ')}; echo "[demo exited: $?]"`,
    )
    // Wait (bounded) for the line the shell prints once the demo has exited.
    const deadline = Date.now() + DEMO_TIMEOUT_MS
    for (;;) {
      const shown = (await tmux('capture-pane', '-p')).stdout
      if (exited.test(shown)) break
      if (Date.now() > deadline) {
        throw new Error(
          `the demo did not finish in ${DEMO_TIMEOUT_MS} ms; the terminal shows:\n${shown}`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // -S - takes the scrollback too; -J joins wrapped lines, so a line that
    // wrapped comes back longer than the terminal instead of looking fine.
    const { stdout } = await tmux('capture-pane', '-p', '-J', '-S', '-')
    const lines = stdout.split('\n').map((line) => line.trimEnd())
    const at = lines.findIndex((line) => exited.test(line))
    return { status: exited.exec(lines[at] ?? '')?.[1] ?? '', lines: lines.slice(0, at) }
  } finally {
    await tmux('kill-server').catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('the demo on a terminal (tmux)', () => {
  for (const [columns, rows] of [
    [80, 24],
    [120, 40],
  ] as const) {
    test(`${columns}x${rows}: the live table is redrawn in place and no line wraps`, async (ctx) => {
      ctx.skip(
        !hasTmux,
        'tmux is not installed (`tmux -V` failed), so there is no terminal to run the demo in',
      )
      const { status, lines } = await inTmux(columns, rows)
      const screen = lines.join('\n')
      expect(status, screen).toBe('0')
      expect(
        lines.filter((line) => HEADER.test(line)),
        screen,
      ).toHaveLength(1)
      expect(
        lines.filter((line) => line.trim() === 'latest events'),
        screen,
      ).toHaveLength(1)
      expect(
        lines.filter((line) => line.startsWith('session-tasks demo:')),
        screen,
      ).toHaveLength(1)
      expect(
        lines.filter((line) => line.length >= columns),
        `lines of ${columns} or more characters:\n${screen}`,
      ).toEqual([])
      expect(screen).toContain('final records:')
      expect(screen).toMatch(/^ {2}stuck +stuck_tool +failed \(timeout\)$/m)
      expect(screen).toMatch(/^last two monitor messages: /m)
    })
  }
})

describe('line fitting', () => {
  const red = (text: string) => `\x1b[31m${text}\x1b[0m`

  test('truncate cuts to the visible width, keeps escapes whole and resets colour', () => {
    const line = `  ${red('failed')} ${'x'.repeat(100)}`
    const cut = truncate(line, 40)
    expect(visibleWidth(cut)).toBe(40)
    expect(stripAnsi(cut)).toBe(`  failed ${'x'.repeat(28)}...`)
    expect(cut.endsWith('\x1b[0m...')).toBe(true)
    expect(truncate(line, 200)).toBe(line)
  })

  test('wrap keeps every word and column spacing, within the width', () => {
    const text = `  research       subagent         ${red('succeeded')} (compare three vendors: 3 steps done)`
    const lines = wrap(text, 40, '    ')
    for (const line of lines) expect(visibleWidth(line)).toBeLessThanOrEqual(40)
    expect(stripAnsi(lines.join(' ')).replace(/ +/g, ' ')).toBe(stripAnsi(text).replace(/ +/g, ' '))
    expect(stripAnsi(lines[0] ?? '')).toBe('  research       subagent')
    expect(stripAnsi(lines[1] ?? '')).toMatch(/^ {4}succeeded \(compare/)
    expect(wrap('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)])
  })
})
