import { existsSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startSseServer } from '../examples/sse-server/server.js'

// Debian's chromium, driven by playwright-core; nothing is downloaded. CI
// (.ci/run) installs it; elsewhere the suite says loudly that it is skipped.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) {
  const message = `browser tests need ${CHROMIUM} (apt-get install chromium)`
  if (process.env.CI) throw new Error(message)
  console.warn(`\n*** SKIPPING browser tests: ${message} ***\n`)
}

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
]

// Runs in the page: a lifecycle through the browser bundle, with a listener.
const PAGE_SCRIPT = `
import { InMemorySessionTaskRegistry, createWakeQueue, toPublicTask } from '/bundle.js'
const registry = new InMemorySessionTaskRegistry()
const wakes = createWakeQueue(registry)
const events = []
registry.subscribe('browser', (type, payload) => events.push(type))
const task = await registry.create({ sessionId: 'browser', kind: 'background_tool', displayName: 'in a page',
  wakePolicy: 'on_terminal', spec: { push_configs: [{ url: 'https://hook.invalid', secret: 's3cret' }] } })
await registry.update('browser', task.id, { state: 'running', progress: { current: 1, total: 2 } })
await registry.update('browser', task.id, { inputRequest: { id: 'q1', prompt: 'continue?' } })
await registry.recordMessage('browser', task.id, { direction: 'inbound', content: [{ type: 'text', text: 'yes' }], inReplyTo: 'q1' })
const done = await registry.update('browser', task.id, { state: 'succeeded', summary: 'done in the browser' })
window.__result = { state: done.state, events, wakes: wakes.drain('browser').map((w) => w.text),
  publicSpec: toPublicTask(done).spec, userAgent: navigator.userAgent }
`

describe.skipIf(!hasChromium)('in a real browser (headless Chromium)', () => {
  let browser: Browser
  let server: Server
  let origin = ''

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      minify: true,
    })
    const code = bundle.outputFiles[0]?.text ?? ''
    server = createServer((req, res) => {
      if (req.url === '/bundle.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(code)
      } else if (req.url === '/page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(PAGE_SCRIPT)
      } else {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script type="module" src="/page.js"></script>')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  })

  test('the core bundle runs a task lifecycle with a listener', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(origin)
    await page.waitForFunction(
      () => (window as { __result?: unknown }).__result !== undefined,
      undefined,
      {
        timeout: 20_000,
      },
    )
    const result = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as {
      state: string
      events: string[]
      wakes: string[]
      publicSpec: unknown
      userAgent: string
    }
    expect(errors).toEqual([])
    expect(result.userAgent).toContain('HeadlessChrome')
    expect(result.state).toBe('succeeded')
    expect(result.events).toEqual([
      'task.created',
      'task.updated',
      'task.updated',
      'task.message.sent',
      'task.updated',
      'task.updated',
      'task.wake',
    ])
    expect(result.wakes).toHaveLength(1)
    expect(result.wakes[0]).toMatch(/finished: succeeded\.\n- summary: done in the browser$/)
    expect(result.publicSpec).toEqual({
      push_configs: [{ url: 'https://hook.invalid', has_secret: true }],
    })
    await page.close()
  }, 30_000)

  test('the SSE example page shows a task’s progress and terminal state live', async () => {
    const sse = await startSseServer()
    try {
      const page = await browser.newPage({ viewport: { width: 960, height: 420 } })
      await page.goto(`${sse.url}/`)
      await page.waitForSelector('#status:text("live")', { timeout: 10_000 })
      // One job finishes, one is still halfway when the screenshot is taken.
      await fetch(`${sse.url}/sessions/demo/tasks?steps=3&stepMs=80`, { method: 'POST' })
      await fetch(`${sse.url}/sessions/demo/tasks?steps=200&stepMs=60`, { method: 'POST' })
      const done = await page.waitForSelector('tr[data-state="succeeded"]', { timeout: 15_000 })
      const bar = await done.$eval('progress', (el) => ({
        value: (el as HTMLProgressElement).value,
        max: (el as HTMLProgressElement).max,
      }))
      expect(bar).toEqual({ value: 3, max: 3 })
      expect(await done.textContent()).toContain('3 steps done')
      await page.waitForFunction(() => {
        const running = document.querySelector(
          'tr[data-state="running"] progress',
        ) as HTMLProgressElement | null
        return running !== null && running.value >= 4
      })
      expect(await page.textContent('#wakes')).toContain('finished: succeeded.')
      // Always taken (the page must render); it replaces the README's copy
      // only when asked (UPDATE_SCREENSHOT=1) or when there is none yet, so a
      // test run leaves the work tree clean.
      const shot = await page.screenshot()
      expect(shot.length).toBeGreaterThan(10_000)
      if (process.env.UPDATE_SCREENSHOT === '1' || !existsSync('docs/screenshot.png')) {
        writeFileSync('docs/screenshot.png', shot)
      }
      await page.close()
    } finally {
      await sse.close()
    }
  }, 40_000)
})
