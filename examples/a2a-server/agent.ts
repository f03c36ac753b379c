import type { AgentCard, Artifact, Message, Part, TaskState } from '@a2a-js/sdk'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'

// A small A2A agent for the example server and the tests. What it does
// depends on the user's text:
//   "ask ..."    asks which colour (input-required); the answer completes it
//   "hold ..."   writes a first chunk, then waits until released or canceled
//   "count N"    streams N chunks, one every `stepMs`, then completes
//   "fail"       throws
//   anything     echoes it back in an artifact and completes

const STATE = { submitted: 1, working: 2, completed: 3, canceled: 5, inputRequired: 6 } as const

const text = (value: string): Part => ({
  content: { $case: 'text', value },
  mediaType: 'text/plain',
  filename: '',
  metadata: {},
})

const agentSays = (taskId: string, contextId: string, value: string): Message => ({
  messageId: crypto.randomUUID(),
  role: 2,
  taskId,
  contextId,
  parts: [text(value)],
  metadata: {},
  extensions: [],
  referenceTaskIds: [],
})

const said = (message: Message | undefined) =>
  (message?.parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('')

/** The example's agent; `executions` and `cancels` count what reached this process. */
export class SampleAgent implements AgentExecutor {
  readonly executions: string[] = []
  readonly cancels: string[] = []
  private readonly stops = new Map<string, (how: 'release' | 'cancel') => void>()

  constructor(private readonly options: { stepMs?: number } = {}) {}

  /** Lets a held task finish. */
  release(taskId: string): boolean {
    const stop = this.stops.get(taskId)
    stop?.('release')
    return stop !== undefined
  }

  execute = async (context: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId } = context
    const request = said(context.userMessage).trim()
    this.executions.push(taskId)
    const status = (state: number, value?: string) =>
      bus.publish({
        kind: 'statusUpdate',
        data: {
          taskId,
          contextId,
          status: {
            state: state as TaskState,
            message: value === undefined ? undefined : agentSays(taskId, contextId, value),
            timestamp: new Date().toISOString(),
          },
          metadata: {},
        },
      })
    const chunk = (value: string, append: boolean) => {
      const artifact: Artifact = {
        artifactId: 'answer',
        name: 'answer',
        description: '',
        parts: [text(value)],
        metadata: {},
        extensions: [],
      }
      bus.publish({
        kind: 'artifactUpdate',
        data: { taskId, contextId, artifact, append, lastChunk: false, metadata: {} },
      })
    }
    const followUp = context.task !== undefined
    // A stream starts with the task (the SDK's handler requires it), a follow-up's too.
    if (context.task !== undefined) {
      bus.publish({
        kind: 'task',
        data: {
          ...context.task,
          status: {
            state: STATE.working as TaskState,
            message: undefined,
            timestamp: new Date().toISOString(),
          },
          history: [...context.task.history, context.userMessage],
        },
      })
    } else {
      bus.publish({
        kind: 'task',
        data: {
          id: taskId,
          contextId,
          status: {
            state: STATE.submitted as TaskState,
            message: undefined,
            timestamp: new Date().toISOString(),
          },
          artifacts: [],
          history: [context.userMessage],
          metadata: {},
        },
      })
    }
    if (followUp && context.task?.status?.state === STATE.inputRequired) {
      status(STATE.working)
      chunk(`you chose ${request}`, false)
      status(STATE.completed, `done: ${request}`)
      return
    }
    status(STATE.working, `working on: ${request}`)
    if (request.startsWith('ask')) {
      status(STATE.inputRequired, 'Which colour?')
      return
    }
    if (request === 'fail') throw new Error('the sample agent was asked to fail')
    if (request.startsWith('hold')) {
      chunk('first part', false)
      const how = await new Promise<'release' | 'cancel'>((resolve) =>
        this.stops.set(taskId, resolve),
      )
      this.stops.delete(taskId)
      if (how === 'cancel') {
        status(STATE.canceled, 'canceled')
        return
      }
      chunk(', second part', true)
      status(STATE.completed, 'released')
      return
    }
    const count = /^count (\d+)$/.exec(request)
    if (count !== null) {
      const n = Math.min(Number(count[1]), 100)
      for (let i = 1; i <= n; i++) {
        const how = await new Promise<'release' | 'cancel' | 'step'>((resolve) => {
          const timer = setTimeout(() => resolve('step'), this.options.stepMs ?? 200)
          this.stops.set(taskId, (h) => {
            clearTimeout(timer)
            resolve(h)
          })
        })
        this.stops.delete(taskId)
        if (how === 'cancel') {
          status(STATE.canceled, `canceled at ${i - 1} of ${n}`)
          return
        }
        chunk(i === 1 ? '1' : ` ${i}`, i > 1)
      }
      status(STATE.completed, `counted to ${n}`)
      return
    }
    chunk(`echo: ${request}`, false)
    status(STATE.completed, 'echoed')
  }

  cancelTask = async (taskId: string, _bus: ExecutionEventBus): Promise<void> => {
    this.cancels.push(taskId)
    this.stops.get(taskId)?.('cancel')
  }
}

/** The example agent's card, served at `url`. */
export function sampleCard(url: string): AgentCard {
  return {
    name: 'session-tasks sample agent',
    description: 'Echoes, counts, holds and asks, with its tasks kept by session-tasks',
    supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '1.0' }],
    provider: undefined,
    version: '0.2.0',
    capabilities: { streaming: true, pushNotifications: false, extensions: [] },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [],
    signatures: [],
  }
}
