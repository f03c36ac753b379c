import type {
  SessionTask,
  TaskExecutionContext,
  TaskExecutorPlugin,
  TaskStep,
} from '../../src/index.js'
import { TASK_KIND_SUBAGENT, taskResultPath } from '../../src/index.js'

/** What a subagent works through: a goal broken into steps. */
export type SubagentSpec = { goal: string; steps: string[]; stepMs?: number }

/**
 * Runs a nested session: a child session whose own tasks (one per step) live
 * in the same registry, linked from the parent through `links.childSessionId`.
 * The parent's progress mirrors the child's steps.
 */
export function subagentExecutor(): TaskExecutorPlugin {
  return {
    kind: TASK_KIND_SUBAGENT,
    executor: () => ({
      kind: TASK_KIND_SUBAGENT,
      async start(task: SessionTask, ctx: TaskExecutionContext) {
        const spec = task.spec as SubagentSpec
        const { registry, sink, signal } = ctx
        const childSessionId = `${task.sessionId}.sub.${task.id}`
        await sink.update({ state: 'running', stateDetail: spec.goal, links: { childSessionId } })
        const steps: TaskStep[] = spec.steps.map((title) => ({ title, status: 'pending' }))
        const run = async () => {
          for (const [index, title] of spec.steps.entries()) {
            if (signal.aborted) return
            const child = await registry.create({
              sessionId: childSessionId,
              rootSessionId: task.rootSessionId ?? task.sessionId,
              kind: 'subagent_step',
              displayName: title,
              state: 'running',
            })
            steps[index] = { title, status: 'in_progress' }
            await sink.progress({
              current: index,
              total: steps.length,
              steps: steps.map((s) => ({ ...s })),
            })
            await new Promise((resolve) => setTimeout(resolve, spec.stepMs ?? 15))
            if (signal.aborted) {
              await registry.update(childSessionId, child.id, { state: 'canceled' })
              return
            }
            await registry.update(childSessionId, child.id, {
              state: 'succeeded',
              summary: `${title}: done`,
            })
            steps[index] = { title, status: 'done' }
            await sink.heartbeat()
          }
          await sink.progress({ current: steps.length, total: steps.length, steps })
          await sink.update({
            state: 'succeeded',
            summary: `${spec.goal}: ${steps.length} steps done`,
            resultPath: taskResultPath(task.id),
          })
        }
        void run().catch((error: unknown) =>
          sink.update({
            state: 'failed',
            error: { kind: 'subagent_error', message: String(error) },
          }),
        )
      },
      async cancel(_task: SessionTask, ctx: TaskExecutionContext) {
        await ctx.sink.state('canceled', 'subagent stopped')
      },
    }),
  }
}
