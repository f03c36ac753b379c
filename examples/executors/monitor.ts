import type { SessionTask, TaskExecutionContext, TaskExecutorPlugin } from '../../src/index.js'
import { TASK_KIND_MONITOR } from '../../src/index.js'

/** A monitor's schedule: check every `intervalMs`, `checks` times (unbounded when absent). */
export type MonitorSpec = { target: string; intervalMs: number; checks?: number }

/**
 * A long-lived monitor: posts an outbound message on every check until its
 * schedule is exhausted (succeeded) or it is canceled.
 */
export function monitorExecutor(): TaskExecutorPlugin {
  const timers = new Map<string, ReturnType<typeof setInterval>>()
  const stop = (taskId: string) => {
    clearInterval(timers.get(taskId))
    timers.delete(taskId)
  }
  return {
    kind: TASK_KIND_MONITOR,
    executor: () => ({
      kind: TASK_KIND_MONITOR,
      async start(task: SessionTask, ctx: TaskExecutionContext) {
        const spec = task.spec as MonitorSpec
        let done = 0
        await ctx.sink.state('running', `watching ${spec.target}`)
        ctx.signal.addEventListener('abort', () => stop(task.id), { once: true })
        const timer = setInterval(() => {
          done++
          void ctx.sink.heartbeat()
          void ctx.sink.post({
            content: [
              { type: 'text', text: `check ${done}: ${spec.target} is up` },
              { type: 'data', data: { check: done, target: spec.target, up: true } },
            ],
          })
          if (spec.checks !== undefined && done >= spec.checks) {
            stop(task.id)
            void ctx.sink.update({ state: 'succeeded', summary: `${done} checks, all up` })
          }
        }, spec.intervalMs)
        timers.set(task.id, timer)
      },
      async cancel(task: SessionTask, ctx: TaskExecutionContext) {
        stop(task.id)
        await ctx.sink.state('canceled', 'monitor stopped')
      },
    }),
  }
}
