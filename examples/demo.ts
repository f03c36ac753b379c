/**
 * `npm run demo`: one agent session spawns five background tasks and we
 * watch every event the session would see, as it happens.
 */
import {
  createTaskSupervisor,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskEventType,
  TaskExecutorRegistry,
} from '../src/index.js'
import { LiveView, plain, wrap } from './demo-table.js'
import { backgroundToolExecutor } from './executors/background-tool.js'
import { externalAgentExecutor } from './executors/external-agent.js'
import { monitorExecutor } from './executors/monitor.js'
import { subagentExecutor } from './executors/subagent.js'

const SESSION = 'chat-42'
const color = process.stdout.isTTY
  ? (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`
  : () => (text: string) => text
const dim = color(2)
const bold = color(1)
const green = color(32)
const red = color(31)
const yellow = color(33)
const cyan = color(36)

const registry = new InMemorySessionTaskRegistry()
const executors = new TaskExecutorRegistry()
executors.register(backgroundToolExecutor())
executors.register(subagentExecutor())
executors.register(externalAgentExecutor({ thinkMs: 150 }))
executors.register(monitorExecutor())
// A worker that starts and then never answers, not even to cancel: the timeout must end it.
executors.register({
  kind: 'stuck_tool',
  executor: () => ({
    kind: 'stuck_tool',
    start: async (_task, ctx) => ctx.sink.state('running', 'hanging on purpose'),
    cancel: async () => {},
  }),
})
const supervisor = createTaskSupervisor({ registry, executors, cancelGraceMs: 300 })
const wakes = createWakeQueue(registry)

const t0 = Date.now()
const names = new Map<string, string>()
const stamp = () => dim(`${((Date.now() - t0) / 1000).toFixed(3)}s`)
const name = (taskId: string) => cyan(plain(names.get(taskId) ?? taskId).padEnd(16))
const stateColor = (state: string) =>
  state === 'succeeded'
    ? green(state)
    : state === 'failed'
      ? red(state)
      : state === 'canceled'
        ? yellow(state)
        : state

function progressBar(task: SessionTask, width = 12): string {
  const p = task.progress
  if (p?.current === undefined) return ''
  if (p.total === undefined) return ` ${p.current} ${plain(p.unit ?? '')}`.trimEnd()
  const filled = Math.round((p.current / Math.max(p.total, 1)) * width)
  return ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.current}/${p.total}`
}

function describe(
  type: SessionTaskEventType,
  payload: SessionTaskEvents[SessionTaskEventType],
): string {
  switch (type) {
    case 'task.created': {
      const { task } = payload as SessionTaskEvents['task.created']
      names.set(task.id, task.displayName)
      return `${name(task.id)} created (${task.kind})`
    }
    case 'task.updated': {
      const { task } = payload as SessionTaskEvents['task.updated']
      const detail = task.stateDetail ? dim(` - ${plain(task.stateDetail)}`) : ''
      const extra = task.error ? red(` ${task.error.kind}: ${plain(task.error.message)}`) : ''
      const cancel = task.cancelRequestedAt && !task.finishedAt ? yellow(' (cancel requested)') : ''
      return `${name(task.id)} ${stateColor(task.state)}${progressBar(task)}${detail}${extra}${cancel}`
    }
    case 'task.message.sent':
    case 'task.message.received': {
      const { taskId, message } = payload as SessionTaskEvents['task.message.sent']
      const arrow = message.direction === 'inbound' ? 'session -> task' : 'task -> session'
      const text = message.content
        .map((p) => (p.type === 'text' ? p.text : JSON.stringify(p.data)))
        .join(' ')
      return `${name(taskId)} ${bold(arrow)}: ${plain(text)}`
    }
    case 'task.output': {
      const { taskId, stream, delta } = payload as SessionTaskEvents['task.output']
      return `${name(taskId)} ${dim(`${stream} |`)} ${plain(delta).trimEnd()}`
    }
    case 'task.wake': {
      const wake = payload as SessionTaskEvents['task.wake']
      return `${name(wake.taskId)} ${bold(yellow('WAKE'))} ${wakes.describe(wake).split('\n').map(plain).join(dim(' / '))}`
    }
    case 'task.deleted': {
      const { taskId } = payload as SessionTaskEvents['task.deleted']
      return `${name(taskId)} deleted`
    }
  }
}

// On a terminal: a live table redrawn in place, with the latest events below.
// It is fitted to the terminal's width and height (measured again on resize),
// so no line wraps and the redraw never leaves copies behind.
// Piped: one plain line per event (heartbeats that change nothing visible are
// skipped), no colours and no escape codes at all.
const tty = process.stdout.isTTY === true
const live = tty && process.env.DEMO_PLAIN === undefined
const tasks = new Map<string, SessionTask>()
const recent: string[] = []
const RECENT = 10

/** Prints a line that stays put; on a terminal it is wrapped to the width, never cut. */
function print(text = '', indent?: string) {
  const width = tty ? Math.max((process.stdout.columns || 80) - 1, 20) : Number.POSITIVE_INFINITY
  for (const line of text.split('\n')) {
    process.stdout.write(`${wrap(line, width, indent).join('\n')}\n`)
  }
}

function table(width: number): string[] {
  const bar = width >= 100 ? 12 : 8
  const rows = [...tasks.values()].map((task) => {
    const detail = task.error
      ? red(`${task.error.kind}: ${plain(task.error.message)}`)
      : dim(plain(task.summary ?? task.stateDetail ?? ''))
    return `  ${cyan(plain(task.displayName).padEnd(14))} ${task.kind.padEnd(16)} ${stateColor(task.state.padEnd(14))}${progressBar(task, bar).padEnd(bar + 8)} ${detail}`
  })
  return [
    bold(`  ${'task'.padEnd(14)} ${'kind'.padEnd(16)} ${'state'.padEnd(14)}progress`),
    ...rows,
  ]
}

function frame(width: number, height: number): string[] {
  const top = [...table(width), '', bold('  latest events')]
  const room = Math.max(0, Math.min(RECENT, height - top.length))
  return [...top, ...recent.slice(recent.length - room).map((line) => `  ${line}`)]
}

const view = live ? new LiveView(process.stdout, frame) : undefined
let drawPending = false
function draw() {
  drawPending = false
  view?.render()
}

function remember(line: string) {
  recent.push(line)
  if (recent.length > RECENT) recent.shift()
}

let previous = ''
registry.subscribe(SESSION, (type, payload) => {
  if (type === 'task.created' || type === 'task.updated') {
    const { task } = payload as SessionTaskEvents['task.updated']
    tasks.set(task.id, task)
  }
  const line = describe(type, payload)
  if (line === previous) return
  previous = line
  if (!live) {
    print(`${stamp()}  ${line}`)
    return
  }
  remember(`${stamp()}  ${line}`)
  if (!drawPending) {
    drawPending = true
    setTimeout(draw, 40)
  }
})

// Narration goes through here so that the live view stays in one piece.
function say(text: string) {
  if (live) {
    remember(`${stamp()}  ${text}`)
    draw()
  } else {
    print(`${stamp()}  ${text}`)
  }
}

print(bold(`session-tasks demo: session '${SESSION}' spawns five background tasks\n`))
draw()

const tool = await supervisor.spawn({
  sessionId: SESSION,
  kind: 'background_tool',
  displayName: 'count-lines',
  wakePolicy: 'on_terminal',
  spec: {
    command: process.execPath,
    args: [
      '-e',
      'let i=0;const t=setInterval(()=>{console.log("line "+(++i));if(i===5)clearInterval(t)},120)',
    ],
    expectedLines: 5,
  },
})
const sub = await supervisor.spawn({
  sessionId: SESSION,
  kind: 'subagent',
  displayName: 'research',
  wakePolicy: 'on_terminal',
  spec: { goal: 'compare three vendors', steps: ['search', 'read', 'summarise'], stepMs: 200 },
})
const agent = await supervisor.spawn({
  sessionId: SESSION,
  kind: 'external_agent',
  displayName: 'deploy-agent',
  wakePolicy: 'on_activity',
  spec: { action: 'deploy build 1.4.2 to staging' },
})
const monitor = await supervisor.spawn({
  sessionId: SESSION,
  kind: 'monitor',
  displayName: 'uptime',
  spec: { target: 'api.example.invalid', intervalMs: 250 },
})
const stuck = await supervisor.spawn(
  { sessionId: SESSION, kind: 'stuck_tool', displayName: 'stuck', wakePolicy: 'on_terminal' },
  { timeoutMs: 600 },
)

// The external agent asks a question; the session answers it.
const asked = await supervisor.wait(SESSION, agent.id, { until: 'settled' })
say(`${bold('the session answers:')} ${asked.task.inputRequest?.prompt} -> yes`)
await supervisor.message(SESSION, agent.id, {
  text: 'yes',
  inReplyTo: asked.task.inputRequest?.id ?? '',
})

// Let the monitor post a few checks, then cancel it.
await new Promise((resolve) => setTimeout(resolve, 800))
say(bold('the session cancels the monitor'))
const canceled = await supervisor.cancel(SESSION, monitor.id)
say(`cancel returned state: ${stateColor(canceled?.state ?? 'unknown')}`)

for (const task of [tool, sub, agent, stuck]) await supervisor.wait(SESSION, task.id)
draw()
view?.stop()

print(bold('\nwakes the agent would get on its next turn:'))
for (const wake of wakes.drain(SESSION)) {
  const [first = '', ...more] = wakes.describe(wake).split('\n').map(plain)
  print(`  - ${first}`)
  for (const line of more) print(`    ${line}`)
}

print(bold('\nfinal records:'))
for (const task of await registry.list(SESSION)) {
  const why = task.error ? ` (${task.error.kind})` : task.summary ? ` (${plain(task.summary)})` : ''
  print(
    `  ${plain(task.displayName).padEnd(14)} ${task.kind.padEnd(16)} ${stateColor(task.state)}${why}`,
    '    ',
  )
}
const messages = await registry.listMessages(SESSION, monitor.id, { limit: 2 })
const texts = messages.map((m) => (m.content[0]?.type === 'text' ? plain(m.content[0].text) : ''))
print()
print(dim(`last two monitor messages: ${texts.join(' | ')}`))
await supervisor.close()
wakes.stop()
