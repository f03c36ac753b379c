import type {
  SessionTask,
  TaskExecutionContext,
  TaskExecutorPlugin,
  TaskMessage,
} from '../../src/index.js'
import { TASK_KIND_EXTERNAL_AGENT, taskMessageText } from '../../src/index.js'

/** What the stand-in remote agent is asked to do. */
export type ExternalAgentSpec = { action: string }

/**
 * A stand-in for an agent outside the runtime (say, over A2A): it asks the
 * session for approval, then finishes according to the answer.
 */
export function externalAgentExecutor(options: { thinkMs?: number } = {}): TaskExecutorPlugin {
  const thinkMs = options.thinkMs ?? 20
  const approvalId = (task: SessionTask) => `approve-${task.id}`
  return {
    kind: TASK_KIND_EXTERNAL_AGENT,
    executor: () => ({
      kind: TASK_KIND_EXTERNAL_AGENT,
      async start(task: SessionTask, ctx: TaskExecutionContext) {
        const { action } = (task.spec ?? {}) as Partial<ExternalAgentSpec>
        await ctx.sink.state('running', 'planning')
        setTimeout(() => {
          if (ctx.signal.aborted) return
          void ctx.sink.requestInput({
            id: approvalId(task),
            prompt: `May I ${action ?? 'proceed'}? (yes/no)`,
            expected: { type: 'string', enum: ['yes', 'no'] },
          })
        }, thinkMs)
      },
      async deliver(task: SessionTask, message: TaskMessage, ctx: TaskExecutionContext) {
        const text = taskMessageText(message.content).trim().toLowerCase()
        if (message.inReplyTo !== approvalId(task)) {
          await ctx.sink.post({
            content: [{ type: 'text', text: 'Noted; still waiting for approval.' }],
          })
          return
        }
        if (text !== 'yes') {
          await ctx.sink.update({
            state: 'failed',
            error: { kind: 'rejected', message: `answer was '${text}'` },
          })
          return
        }
        await ctx.sink.state('running', 'approved, working')
        setTimeout(() => {
          if (ctx.signal.aborted) return
          void ctx.sink.artifact({
            name: 'change-request',
            type: 'url',
            url: `https://example.invalid/cr/${task.id}`,
          })
          void ctx.sink.update({ state: 'succeeded', summary: 'approved and done' })
        }, thinkMs)
      },
      async cancel(_task: SessionTask, ctx: TaskExecutionContext) {
        await ctx.sink.state('canceled', 'canceled by the session')
      },
    }),
  }
}
