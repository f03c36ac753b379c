// An AI SDK agent loop with background tools, on a scripted mock model (no
// network, no key):
//
//   npm run demo:ai        (Node.js 22 or later)
//
// The model starts a long deploy and keeps talking, starts a second one
// and cancels it, answers a subagent's question, and is woken (exactly
// once) when the deploy finishes. Every message of the conversation is
// printed, wakes included.
import { generateText, jsonSchema, type ModelMessage, stepCountIs, tool } from 'ai'
import { MockLanguageModelV4 } from 'ai/test'
import {
  aiToolExecutor,
  backgroundTools,
  taskTools,
  wakeSteps,
} from '../../src/bridges/ai/index.js'
import {
  createTaskSupervisor,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  type SessionTask,
  TaskExecutorRegistry,
  taskMessageText,
} from '../../src/index.js'

/** What the demo prints, one line per message; returned for its test. */
export type Transcript = string[]

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
}
type Turn = { call: string; input: (ids: string[]) => unknown } | { text: string }

// A model that plays its lines in order; tool inputs may use the task ids seen so far.
function scriptedModel(turns: Turn[], ids: string[]) {
  let i = 0
  return new MockLanguageModelV4({
    doGenerate: async () => {
      const turn = turns[Math.min(i++, turns.length - 1)] as Turn
      if ('text' in turn) {
        return {
          content: [{ type: 'text', text: turn.text }],
          finishReason: { unified: 'stop', raw: undefined },
          usage,
          warnings: [],
        }
      }
      return {
        content: [
          {
            type: 'tool-call',
            toolCallId: `call-${i}`,
            toolName: turn.call,
            input: JSON.stringify(turn.input(ids)),
          },
        ],
        finishReason: { unified: 'tool-calls', raw: undefined },
        usage,
        warnings: [],
      }
    },
  })
}

/** Runs the conversation; `print` gets each line as it happens. */
export async function runDemo(print: (line: string) => void = console.log): Promise<Transcript> {
  const lines: Transcript = []
  const say = (line: string) => {
    lines.push(line)
    print(line)
  }
  const registry = new InMemorySessionTaskRegistry()
  const sessionId = 'chat-1'
  const finishers = new Map<string, () => void>()
  const deploy = tool({
    description: 'Deploys a service; takes a while',
    inputSchema: jsonSchema<{ service: string }>({
      type: 'object',
      properties: { service: { type: 'string' } },
      required: ['service'],
    }),
    execute: async ({ service }, { abortSignal }) => {
      await new Promise<void>((resolve, reject) => {
        finishers.set(service, resolve)
        abortSignal?.addEventListener('abort', () => reject(new Error('stopped')), { once: true })
      })
      return { deployed: service, url: `https://${service}.example.invalid` }
    },
  })
  const executors = new TaskExecutorRegistry()
  executors.register({ kind: 'ai_tool', executor: () => aiToolExecutor({ deploy }) })
  // A subagent that needs to know the region before it plans.
  executors.register({
    kind: 'subagent',
    executor: () => ({
      kind: 'subagent',
      async start(_task, ctx) {
        await ctx.sink.requestInput({
          id: 'region',
          prompt: 'Which region should the plan target?',
          expected: { type: 'string', enum: ['eu-west', 'us-east'] },
        })
      },
      async deliver(_task, message, ctx) {
        const region = taskMessageText(message.content).trim()
        await ctx.sink.update({ state: 'succeeded', result: { plan: `3 steps in ${region}` } })
      },
      async cancel(_task, ctx) {
        await ctx.sink.state('canceled')
      },
    }),
  })
  const supervisor = createTaskSupervisor({ registry, executors })
  const queue = createWakeQueue(registry)
  const ids: string[] = []
  registry.subscribe(sessionId, (type, payload) => {
    const task = (payload as { task?: SessionTask }).task
    if (type === 'task.created' && task !== undefined) ids.push(task.id)
    if (type === 'task.updated' && task !== undefined) {
      say(`    [task ${task.displayName} ${task.id.slice(0, 10)}… is ${task.state}]`)
    }
  })
  const tools = {
    ...backgroundTools({ deploy }, { supervisor, sessionId }),
    ...taskTools({ supervisor, registry, sessionId }),
  }
  const messages: ModelMessage[] = []
  const turn = async (user: string, script: Turn[]) => {
    say(`user: ${user}`)
    messages.push({ role: 'user', content: user })
    const result = await generateText({
      model: scriptedModel(script, ids),
      messages,
      tools,
      prepareStep: wakeSteps({
        queue,
        sessionId,
        // Wakes go into the history too, so later turns still know of them.
        onMessage: (message) => {
          say(`(wake) ${String(message.content).replace(/\n/g, ' | ')}`)
          messages.push(message)
        },
      }),
      stopWhen: stepCountIs(6),
    })
    for (const step of result.steps) {
      for (const call of step.toolCalls)
        say(`model calls ${call.toolName} ${JSON.stringify(call.input)}`)
      for (const out of step.toolResults) say(`  -> ${JSON.stringify(out.output)}`)
    }
    for (const m of result.response.messages) messages.push(m)
    say(`model: ${result.text}`)
  }

  await turn('Deploy the api and the worker, then plan the rollout.', [
    { call: 'deploy', input: () => ({ service: 'api' }) },
    { call: 'deploy', input: () => ({ service: 'worker' }) },
    { text: 'Both deploys are running in the background. I will plan meanwhile.' },
  ])
  await turn('Actually, skip the worker.', [
    { call: 'task_cancel', input: (known) => ({ taskId: known[1] }) },
    { text: 'Canceled the worker deploy; the api deploy goes on.' },
  ])
  const planner = await supervisor.spawn({
    sessionId,
    kind: 'subagent',
    displayName: 'planner',
    // Its question wakes the model too.
    wakePolicy: 'on_activity',
  })
  await turn('Go on.', [
    { call: 'task_status', input: () => ({ taskId: planner.id }) },
    { call: 'task_answer', input: () => ({ taskId: planner.id, answer: 'eu-west' }) },
    { text: 'Told the planner to target eu-west.' },
  ])
  finishers.get('api')?.()
  await supervisor.wait(sessionId, ids[0] as string, { until: 'terminal' })
  await turn('Anything new?', [{ text: 'Yes: the api deploy finished, and the plan is ready.' }])
  await supervisor.close()
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    console.error(`The AI SDK (ai 7) needs Node.js 22 or later; this is ${process.version}.`)
    console.error('Try: bash scripts/with-node.sh 22 npm run demo:ai')
    process.exit(1)
  }
  await runDemo()
}
