import { existsSync, writeFileSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type SseServer, spawnDemoTasks, startSseServer } from '../examples/sse-server/server.js'

// Debian's chromium, driven by playwright-core; nothing is downloaded. CI
// (.ci/run) installs it; elsewhere the browser suite says loudly that it is skipped.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) {
  const message = `task inspector browser tests need ${CHROMIUM} (apt-get install chromium)`
  if (process.env.CI) throw new Error(message)
  console.warn(`\n*** SKIPPING task inspector browser tests: ${message} ***\n`)
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

const HOSTILE = '<img src=x onerror=alert(1)>'

type Json = Record<string, unknown>

async function post(url: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method: 'POST', headers }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    init.headers = { 'content-type': 'application/json', ...headers }
  }
  const response = await fetch(url, init)
  return { status: response.status, body: (await response.json()) as Json }
}

async function spawn(server: SseServer, sessionId: string, query: string) {
  const response = await fetch(`${server.url}/sessions/${sessionId}/tasks?${query}`, {
    method: 'POST',
  })
  expect(response.status).toBe(201)
  return (await response.json()) as { id: string }
}

describe('task inspector routes', () => {
  let server: SseServer
  beforeAll(async () => {
    server = await startSseServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  test('bad POST input gets a 400 with a JSON error; unknown tasks 404, wrong state 409', async () => {
    const task = await spawn(server, 'api', 'kind=question&steps=1&stepMs=10')
    await server.supervisor.wait('api', task.id, { until: 'settled', timeoutMs: 10_000 })
    const answer = `${server.url}/sessions/api/tasks/${task.id}/answer`

    const bad: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      ['', /empty/],
      [[1, 2], /JSON object/],
      [{ text: 'hi' }, /inputRequestId must be a non-empty string/],
      [{ inputRequestId: 'ask-1' }, /text must be a non-empty string/],
      [{ inputRequestId: 'ask-1', text: '   ' }, /text must be a non-empty string/],
      [{ inputRequestId: 'ask-1', text: 'x'.repeat(4001) }, /at most 4000 characters/],
      [{ inputRequestId: 'ask-1', text: 'hi', extra: 1 }, /unknown field 'extra'/],
    ]
    for (const [body, error] of bad) {
      const response = await post(answer, body)
      expect(response.status, JSON.stringify(body).slice(0, 40)).toBe(400)
      expect(response.body.error).toMatch(error)
    }
    const form = await fetch(answer, { method: 'POST', body: 'text=hi' })
    expect(form.status).toBe(400)
    expect(((await form.json()) as Json).error).toMatch(/content-type: application\/json/)
    const huge = await post(answer, { inputRequestId: 'ask-1', text: 'x'.repeat(20_000) })
    expect(huge).toEqual({ status: 400, body: { error: 'the body is larger than 16384 bytes' } })
    const spawnBad = await post(`${server.url}/sessions/api/tasks?steps=-3`)
    expect(spawnBad).toEqual({
      status: 400,
      body: { error: 'steps must be an integer from 1 to 100000' },
    })

    // Still waiting: none of that was taken as an answer.
    expect((await server.registry.get('api', task.id))?.state).toBe('awaiting_input')
    const stale = await post(answer, { inputRequestId: 'ask-0', text: 'hi' })
    expect(stale.status).toBe(409)
    expect(stale.body.error).toMatch(/waits for input request 'ask-1'/)
    const foreign = await post(
      answer,
      { inputRequestId: 'ask-1', text: 'hi' },
      { origin: 'http://evil.example' },
    )
    expect(foreign.status).toBe(403)

    const unknown = await post(`${server.url}/sessions/api/tasks/task_nope/cancel`)
    expect(unknown).toEqual({
      status: 404,
      body: { error: "no task 'task_nope' in session 'api'" },
    })
    const wrongMethod = await fetch(`${server.url}/sessions/api/tasks/${task.id}/cancel`)
    expect(wrongMethod.status).toBe(405)

    const ok = await post(answer, { inputRequestId: 'ask-1', text: 'yes' })
    expect(ok.status).toBe(200)
    expect(ok.body.message).toMatchObject({ direction: 'inbound', inReplyTo: 'ask-1' })
    const done = await server.supervisor.wait('api', task.id, { timeoutMs: 10_000 })
    expect(done.task.state).toBe('succeeded')
    const again = await post(answer, { inputRequestId: 'ask-1', text: 'yes' })
    expect(again).toEqual({
      status: 409,
      body: { error: 'the task is succeeded, not awaiting input' },
    })
    const late = await post(`${server.url}/sessions/api/tasks/${task.id}/cancel`)
    expect(late).toEqual({ status: 409, body: { error: 'the task is already succeeded' } })

    const messages = await fetch(`${server.url}/sessions/api/tasks/${task.id}/messages`)
    const list = ((await messages.json()) as { messages: { direction: string }[] }).messages
    expect(list.map((m) => m.direction)).toEqual(['outbound', 'inbound', 'outbound'])
  })
})

describe.skipIf(!hasChromium)('task inspector in headless Chromium', () => {
  let browser: Browser
  let server: SseServer
  let page: Page
  const problems: string[] = []

  const card = (p: Page, taskId: string) => p.locator(`article.task[data-task-id="${taskId}"]`)
  const cardIn = (taskId: string, state: string) =>
    `article.task[data-task-id="${taskId}"][data-state="${state}"]`

  async function open(): Promise<Page> {
    const opened = await browser.newPage({ viewport: { width: 1200, height: 800 } })
    opened.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    opened.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`)
      void dialog.dismiss()
    })
    opened.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    await opened.goto(`${server.url}/inspector`)
    await opened.waitForSelector('#status[data-status="live"]', { timeout: 10_000 })
    return opened
  }

  beforeAll(async () => {
    server = await startSseServer()
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
    page = await open()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  test('a running task shows up live; its Cancel button cancels it', async () => {
    const task = await spawn(server, 'inspect-cancel', 'steps=1000&stepMs=100')
    await page.waitForSelector(cardIn(task.id, 'running'), { timeout: 10_000 })
    const shown = card(page, task.id)
    expect(await shown.locator('.name').textContent()).toMatch(/^job #\d+$/)
    expect(await shown.locator('.kind').textContent()).toBe('demo_job')
    // Progress arrives live.
    await page.waitForFunction(
      (id) => {
        const bar = document.querySelector(`article[data-task-id="${id}"] progress`)
        return bar instanceof HTMLProgressElement && bar.max === 1000 && bar.value >= 1
      },
      task.id,
      { timeout: 10_000 },
    )
    await shown.locator('button.cancel').click()
    await page.waitForSelector(cardIn(task.id, 'canceled'), { timeout: 10_000 })
    expect(await shown.locator('.state').textContent()).toBe('canceled')
    expect(await shown.locator('button.cancel').isVisible()).toBe(false)
    expect((await server.registry.get('inspect-cancel', task.id))?.state).toBe('canceled')
    expect(problems).toEqual([])
  })

  test('a task awaiting input shows its question; answering it resumes the task', async () => {
    const task = await spawn(
      server,
      'inspect-answer',
      `kind=question&steps=2&stepMs=50&name=deploy&question=${encodeURIComponent('Which region?')}`,
    )
    await page.waitForSelector(cardIn(task.id, 'awaiting_input'), { timeout: 10_000 })
    const shown = card(page, task.id)
    expect(await shown.locator('.question .prompt').textContent()).toBe('Which region?')
    await shown.locator('form.answer textarea').fill('eu-west-1')
    await shown.locator('form.answer button[type="submit"]').click()

    await expect
      .poll(async () => (await server.registry.get('inspect-answer', task.id))?.state, {
        timeout: 10_000,
      })
      .not.toBe('awaiting_input')
    await page.waitForSelector(cardIn(task.id, 'succeeded'), { timeout: 10_000 })
    expect(await shown.locator('.state').textContent()).toBe('succeeded')
    expect(await shown.locator('.summary').textContent()).toBe('went with "eu-west-1"')
    expect(await shown.locator('form.answer').count()).toBe(0)
    expect(await shown.locator('.artifacts').textContent()).toContain('decision.txt')
    // The messages list is fetched again on each message event.
    await expect
      .poll(() => shown.locator('.messages .message .text').allTextContents(), { timeout: 10_000 })
      .toEqual(['I need a decision before I go on.', 'eu-west-1', 'Going with "eu-west-1".'])
    expect(problems).toEqual([])
  })

  test('hostile task fields are shown as text, live and in a snapshot', async () => {
    const { registry } = server
    const sid = 'inspect-hostile'
    const task = await registry.create({
      sessionId: sid,
      kind: `<b>${HOSTILE}</b>`,
      displayName: HOSTILE,
    })
    await registry.update(sid, task.id, {
      state: 'running',
      summary: HOSTILE,
      appendArtifact: { name: HOSTILE, type: 'url', url: 'javascript:alert(1)' },
    })
    await registry.recordMessage(sid, task.id, {
      direction: 'outbound',
      content: [{ type: 'text', text: HOSTILE }],
    })
    await registry.update(sid, task.id, { inputRequest: { id: 'q', prompt: HOSTILE } })

    const fresh = await open()
    for (const p of [page, fresh]) {
      await p.waitForSelector(cardIn(task.id, 'awaiting_input'), { timeout: 10_000 })
      const shown = card(p, task.id)
      expect(await shown.locator('.name').textContent()).toBe(HOSTILE)
      expect(await shown.locator('.kind').textContent()).toBe(`<b>${HOSTILE}</b>`)
      expect(await shown.locator('.summary').textContent()).toBe(HOSTILE)
      expect(await shown.locator('.prompt').textContent()).toBe(HOSTILE)
      expect(await shown.locator('.artifact-name').textContent()).toBe(HOSTILE)
      await expect
        .poll(() => shown.locator('.messages .text').allTextContents(), { timeout: 10_000 })
        .toEqual([HOSTILE])
      // No element came out of the strings, and the javascript: URL is no link.
      expect(await p.locator('img, b').count()).toBe(0)
      expect(await shown.locator('a').count()).toBe(0)
    }
    expect(
      await fresh.locator(`section.session[data-session-id="${sid}"] .session-id`).textContent(),
    ).toBe(sid)
    await fresh.close()
    expect(problems).toEqual([])
  })

  test('screenshot of the demo tasks (docs/inspector.png)', async () => {
    const demo = await startSseServer()
    try {
      await spawnDemoTasks(demo.supervisor)
      const shot = await browser.newPage({ viewport: { width: 1200, height: 800 } })
      shot.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
      await shot.goto(`${demo.url}/inspector`)
      await shot.waitForSelector('article.task[data-state="awaiting_input"] form.answer', {
        timeout: 10_000,
      })
      await expect.poll(() => shot.locator('article.task[data-state="succeeded"]').count()).toBe(2)
      await expect
        .poll(() => shot.locator('article.task[data-state="succeeded"] .message').count())
        .toBe(3)
      await shot.waitForFunction(() => {
        const bar = document.querySelector('article.task[data-state="running"] progress')
        return bar instanceof HTMLProgressElement && bar.value >= 1
      })
      const image = await shot.screenshot()
      expect(image.length).toBeGreaterThan(10_000)
      // Written only when asked (UPDATE_SCREENSHOT=1) or when there is none
      // yet, so that a test run leaves the work tree clean.
      if (process.env.UPDATE_SCREENSHOT === '1' || !existsSync('docs/inspector.png')) {
        writeFileSync('docs/inspector.png', image)
      }
      await shot.close()
    } finally {
      // Settled first, so that close() need not wait out its cancel grace.
      for (const sessionId of ['research', 'release']) {
        for (const task of await demo.registry.list(sessionId)) {
          await demo.supervisor.cancel(sessionId, task.id)
        }
      }
      await demo.close()
    }
    expect(problems).toEqual([])
  }, 30_000)
})
