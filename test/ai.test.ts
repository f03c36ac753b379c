import {
  createUIMessageStream,
  generateText,
  jsonSchema,
  type ModelMessage,
  readUIMessageStream,
  stepCountIs,
  type Tool,
  tool,
  type UIMessage,
} from 'ai'
import { describe, expect, test } from 'vitest'
import {
  backgroundTools,
  nextWakes,
  questionTools,
  runWhileTasksOpen,
  taskTools,
  wakeSteps,
  writeTaskParts,
} from '../src/bridges/ai/index.js'
import { createWakeQueue, type SessionTask, type TaskSupervisor } from '../src/index.js'
import type { JsonValue } from '../src/model/json.js'
import { aiHarness, answerText, askingSupervisor, scripted } from './fixtures/ai.js'
import { untilTask } from './fixtures/registries.js'

// session-tasks/ai with the AI SDK's own loop (generateText) driven by its
// mock language model: a background tool that answers at once, the model
// woken when it finishes (exactly once), tools to cancel, answer and wait.
// `ai` 7 supports Node.js 22 and later; on Node.js 20 this suite is skipped
// (CI runs it on 22 and 24).

const major = Number(process.versions.node.split('.')[0])
const supported = major >= 22
if (!supported) {
  console.warn(
    `SKIPPED test/ai.test.ts: ai 7 needs Node.js 22 or later, this is ${process.version}`,
  )
}

const said = (messages: ModelMessage[]) => JSON.stringify(messages)

// A slow tool that finishes when told to (or stops when aborted).
function slowTool() {
  const releases = new Map<number, () => void>()
  let calls = 0
  const deploy = tool({
    description: 'Deploys a service (slow)',
    inputSchema: jsonSchema<{ service: string }>({
      type: 'object',
      properties: { service: { type: 'string' } },
      required: ['service'],
    }),
    execute: async ({ service }, { abortSignal }) => {
      const n = ++calls
      await new Promise<void>((resolve, reject) => {
        releases.set(n, resolve)
        abortSignal?.addEventListener('abort', () => reject(new Error('stopped')))
      })
      return { deployed: service }
    },
  })
  return { deploy, release: (n: number) => releases.get(n)?.(), calls: () => calls }
}

describe.skipIf(!supported)('session-tasks/ai with generateText', () => {
  const harness = aiHarness()
  let supervisors: TaskSupervisor[] = []

  function setup(tools: Record<string, Tool>) {
    const made = harness(tools)
    const { registry, supervisor } = made
    supervisors = made.supervisors
    const queue = createWakeQueue(registry)
    const sessionId = 'chat-1'
    const until = (id: string, test: (t: SessionTask) => boolean) =>
      untilTask(registry, id, test, sessionId)
    return { registry, supervisor, queue, sessionId, until }
  }

  test('a background tool answers at once with a handle; the wake reaches the model once when it finishes', async () => {
    const slow = slowTool()
    const { registry, supervisor, queue, sessionId, until } = setup({ deploy: slow.deploy })
    const tools = backgroundTools({ deploy: slow.deploy }, { supervisor, sessionId })
    const first = scripted([
      { call: 'deploy', input: { service: 'api' } },
      { text: 'Started the deploy.' },
    ])
    const r1 = await generateText({
      model: first.model,
      prompt: 'deploy api',
      tools,
      stopWhen: stepCountIs(3),
    })
    expect(r1.text).toBe('Started the deploy.')
    const output = r1.steps[0]?.toolResults[0]?.output as {
      taskId: string
      state: string
      note?: string
    }
    expect(output).toMatchObject({ state: 'running', note: expect.stringContaining('background') })
    const done = until(output.taskId, (t) => t.state === 'succeeded')
    slow.release(1)
    expect((await done).result).toEqual({ deployed: 'api' })

    // The next turn: the wake is in the prompt of its first step, and not repeated after.
    const second = scripted([{ call: 'task_status', input: {} }, { text: 'It is deployed.' }])
    const r2 = await generateText({
      model: second.model,
      messages: [...r1.response.messages, { role: 'user', content: 'and?' }],
      tools: { ...tools, ...taskTools({ supervisor, registry, sessionId }) },
      prepareStep: wakeSteps({ queue, sessionId }),
      stopWhen: stepCountIs(3),
    })
    expect(r2.text).toBe('It is deployed.')
    const woken = second.prompts.map((p) => said(p).split(output.taskId).length - 1)
    expect(said(second.prompts[0] ?? [])).toContain('Background task updates')
    // Seen in the first prompt, carried (not added again) in the second.
    expect(said(second.prompts[1] ?? []).match(/Background task updates/g)).toHaveLength(1)
    expect(woken[0]).toBeGreaterThan(0)
    expect(queue.pending(sessionId)).toBe(0)
  })

  test('a quick call within foregroundMs answers with its outcome', async () => {
    const echo = tool({
      description: 'Echoes',
      inputSchema: jsonSchema<{ say: string }>({
        type: 'object',
        properties: { say: { type: 'string' } },
      }),
      execute: async ({ say }) => ({ said: say }),
    })
    const { supervisor, sessionId } = setup({ echo })
    const tools = backgroundTools({ echo }, { supervisor, sessionId, foregroundMs: 2000 })
    const { model } = scripted([{ call: 'echo', input: { say: 'hi' } }, { text: 'ok' }])
    const r = await generateText({ model, prompt: 'echo hi', tools, stopWhen: stepCountIs(3) })
    expect(r.steps[0]?.toolResults[0]?.output).toMatchObject({
      state: 'succeeded',
      result: { said: 'hi' },
    })
  })

  test('task_cancel stops the tool through its abort signal; the model sees it canceled', async () => {
    const slow = slowTool()
    const { registry, supervisor, sessionId } = setup({ deploy: slow.deploy })
    const tools = {
      ...backgroundTools({ deploy: slow.deploy }, { supervisor, sessionId }),
      ...taskTools({ supervisor, registry, sessionId }),
    }
    const started = scripted([{ call: 'deploy', input: { service: 'db' } }, { text: 'started' }])
    const r1 = await generateText({
      model: started.model,
      prompt: 'deploy db',
      tools,
      stopWhen: stepCountIs(3),
    })
    const { taskId } = (r1.steps[0]?.toolResults[0]?.output ?? {}) as { taskId: string }
    const cancel = scripted([{ call: 'task_cancel', input: { taskId } }, { text: 'canceled' }])
    const r2 = await generateText({
      model: cancel.model,
      prompt: 'stop it',
      tools,
      stopWhen: stepCountIs(3),
    })
    expect(r2.steps[0]?.toolResults[0]?.output).toMatchObject({ taskId, state: 'canceled' })
    expect(slow.calls()).toBe(1)
  })

  test('task_answer answers a task that asks; a task of another session is unknown', async () => {
    const { registry, supervisor, sessionId, until } = setup({})
    // A subagent that asks which region, and finishes with the answer.
    const agents = askingSupervisor(
      registry,
      () => ({ id: 'region', prompt: 'Which region?', expected: { type: 'string' } }),
      (m) => ({ region: answerText(m) }),
    )
    supervisors.push(agents)
    const sub = await agents.spawn({ sessionId, kind: 'asker', displayName: 'planner' })
    await until(sub.id, (t) => t.state === 'awaiting_input')
    const tools = taskTools({ supervisor: agents, registry, sessionId })
    const { model } = scripted([
      { call: 'task_status', input: { taskId: sub.id } },
      { call: 'task_answer', input: { taskId: sub.id, answer: 'eu-west' } },
      { call: 'task_status', input: { taskId: 'nope' } },
      { text: 'done' },
    ])
    const r = await generateText({
      model,
      prompt: 'help the planner',
      tools,
      stopWhen: stepCountIs(5),
    })
    expect(r.steps[0]?.toolResults[0]?.output).toMatchObject({
      question: { prompt: 'Which region?', expected: { type: 'string' } },
    })
    expect(r.steps[1]?.toolResults[0]?.output).toMatchObject({
      delivered: true,
      state: 'succeeded',
      result: { region: 'eu-west' },
    })
    expect(r.steps[2]?.toolResults[0]?.output).toEqual({
      error: "no task 'nope' in this conversation",
    })
    expect(supervisor).toBeDefined()
  })

  test('task_wait returns when the task ends, and nextWakes hands over its wake once', async () => {
    const slow = slowTool()
    const { registry, supervisor, queue, sessionId } = setup({ deploy: slow.deploy })
    const task = await supervisor.spawn({
      sessionId,
      kind: 'ai_tool',
      displayName: 'deploy',
      spec: { tool: 'deploy', input: { service: 'web' } },
      wakePolicy: 'on_terminal',
    })
    const wait = taskTools({ supervisor, registry, sessionId }).task_wait
    setTimeout(() => slow.release(1), 50)
    const out = await wait.execute?.({ taskId: task.id, seconds: 5 }, {
      toolCallId: 'w',
      messages: [],
      context: {},
    } as never)
    expect(out).toMatchObject({ state: 'succeeded', waiting: false })
    const wakes = await nextWakes(queue, sessionId, { timeoutMs: 1000 })
    expect(wakes.map((w) => w.transition)).toEqual(['terminal'])
    expect(await nextWakes(queue, sessionId, { timeoutMs: 30 })).toEqual([])
  })

  test('task cards stream into a UI message as data parts, one per task, replaced in place', async () => {
    const slow = slowTool()
    const { registry, supervisor, sessionId } = setup({ deploy: slow.deploy })
    const chunks: { type: string; id?: string; data?: unknown }[] = []
    let taskId = ''
    const stream = createUIMessageStream({
      execute: async ({ writer }) => {
        const stop = writeTaskParts({ registry, sessionId, writer })
        writer.write({ type: 'start' })
        const task = await supervisor.spawn({
          sessionId,
          kind: 'ai_tool',
          displayName: 'deploy',
          spec: { tool: 'deploy', input: { service: 'ui' } },
        })
        taskId = task.id
        slow.release(1)
        await supervisor.wait(sessionId, task.id, { until: 'terminal' })
        stop()
        writer.write({ type: 'finish' })
      },
    })
    const [forChunks, forMessage] = stream.tee()
    const reading = (async () => {
      const reader = forChunks.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        // A copy: the message reader updates a data part in place, and both branches share chunks.
        chunks.push(structuredClone(value) as (typeof chunks)[number])
      }
    })()
    let last: UIMessage | undefined
    for await (const message of readUIMessageStream({ stream: forMessage })) last = message
    await reading
    const cards = chunks.filter((c) => c.type === 'data-task')
    expect(cards.map((c) => (c.data as { state: string }).state)).toEqual([
      'queued',
      'running',
      'succeeded',
    ])
    expect(cards.every((c) => c.id === taskId)).toBe(true)
    const parts = (last?.parts ?? []).filter((p) => p.type === 'data-task')
    expect(parts).toHaveLength(1)
    expect(parts[0]).toMatchObject({
      id: taskId,
      data: { state: 'succeeded', result: { deployed: 'ui' } },
    })
  })

  test('questionTools gives each waiting task an answer tool whose input schema is its expected shape', async () => {
    const { registry, sessionId, until } = setup({})
    const asks: Record<string, unknown> = {
      form: {
        type: 'object',
        properties: { region: { type: 'string', enum: ['eu-west', 'us-east'] } },
        required: ['region'],
      },
      word: { type: 'string', enum: ['yes', 'no'] },
    }
    const agents = askingSupervisor(
      registry,
      (task) => {
        const which = (task.spec as { ask: string }).ask
        return { id: 'q', prompt: `which ${which}?`, expected: asks[which] as JsonValue }
      },
      (m) => {
        const part = m.content[0]
        return part?.type === 'data'
          ? (part.data as JsonValue)
          : part?.type === 'text'
            ? part.text
            : null
      },
    )
    supervisors.push(agents)
    const form = await agents.spawn({
      sessionId,
      kind: 'asker',
      displayName: 'form',
      spec: { ask: 'form' },
    })
    const word = await agents.spawn({
      sessionId,
      kind: 'asker',
      displayName: 'word',
      spec: { ask: 'word' },
    })
    await until(form.id, (t) => t.state === 'awaiting_input')
    await until(word.id, (t) => t.state === 'awaiting_input')
    const tools = await questionTools({ supervisor: agents, registry, sessionId })
    expect(Object.keys(tools).sort()).toEqual([`answer_${form.id}`, `answer_${word.id}`].sort())
    const formTool = tools[`answer_${form.id}`] as Tool
    expect(await (formTool.inputSchema as { jsonSchema: unknown }).jsonSchema).toEqual(asks.form)
    const { model } = scripted([
      { call: `answer_${form.id}`, input: { region: 'us-east' } },
      { call: `answer_${word.id}`, input: { answer: 'yes' } },
      { text: 'answered both' },
    ])
    const r = await generateText({ model, prompt: 'answer them', tools, stopWhen: stepCountIs(4) })
    expect(r.steps[0]?.toolResults[0]?.output).toMatchObject({
      delivered: true,
      result: { region: 'us-east' },
    })
    expect(r.steps[1]?.toolResults[0]?.output).toMatchObject({ delivered: true, result: 'yes' })
    expect(await questionTools({ supervisor: agents, registry, sessionId })).toEqual({})
  })

  test.each([
    [true, 'succeeded'],
    [false, 'awaiting_input'],
  ])(
    "with approveAnswers, a person approves (%s) the model's answer through the SDK flow",
    async (approved, state) => {
      const { registry, sessionId, until } = setup({})
      const agents = askingSupervisor(
        registry,
        () => ({ id: 'q', prompt: 'Ship it?', expected: { type: 'string' } }),
        (m) => ({ answer: answerText(m) }),
      )
      supervisors.push(agents)
      const asker = await agents.spawn({ sessionId, kind: 'asker', displayName: 'release' })
      await until(asker.id, (t) => t.state === 'awaiting_input')
      const tools = taskTools({ supervisor: agents, registry, sessionId, approveAnswers: true })
      const { model } = scripted([
        { call: 'task_answer', input: { taskId: asker.id, answer: 'yes' } },
        { text: 'asked for your approval' },
        { text: 'done' },
      ])
      const r1 = await generateText({ model, prompt: 'answer it', tools, stopWhen: stepCountIs(3) })
      const request = r1.content.find((c) => c.type === 'tool-approval-request')
      expect(request).toBeDefined()
      // Nothing is sent before the person decides.
      expect((await registry.get(sessionId, asker.id))?.state).toBe('awaiting_input')
      const messages: ModelMessage[] = [
        { role: 'user', content: 'answer it' },
        ...r1.response.messages,
        {
          role: 'tool',
          content: [
            {
              type: 'tool-approval-response',
              approvalId: (request as { approvalId: string }).approvalId,
              approved,
            },
          ],
        },
      ]
      await generateText({ model, messages, tools, stopWhen: stepCountIs(3) })
      const after = await registry.get(sessionId, asker.id)
      expect(after?.state).toBe(state)
      if (approved) expect(after?.result).toEqual({ answer: 'yes' })
    },
  )

  test('runWhileTasksOpen keeps the loop going until the background work settled, each wake given once', async () => {
    const slow = slowTool()
    const { registry, supervisor, queue, sessionId } = setup({ deploy: slow.deploy })
    const tools = backgroundTools({ deploy: slow.deploy }, { supervisor, sessionId })
    const { model, prompts } = scripted([
      { call: 'deploy', input: { service: 'api' } },
      { text: 'Deploying.' },
      { text: 'The api is deployed.' },
    ])
    const texts: string[] = []
    const result = await runWhileTasksOpen(
      { registry, queue, sessionId, idleTimeoutMs: 5000 },
      async (n) => {
        const r = await generateText({
          model,
          prompt: n === 0 ? 'deploy api' : 'go on',
          tools,
          prepareStep: wakeSteps({ queue, sessionId }),
          stopWhen: stepCountIs(3),
        })
        texts.push(r.text)
        // The deploy finishes while the model is idle, after the first turn.
        if (n === 0) setTimeout(() => slow.release(1), 20)
      },
    )
    expect(result).toEqual({ turns: 2, open: 0 })
    expect(texts).toEqual(['Deploying.', 'The api is deployed.'])
    expect(said(prompts.at(-1) ?? []).match(/Background task updates/g)).toHaveLength(1)
  })
})
