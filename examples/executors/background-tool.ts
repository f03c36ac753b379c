import { type ChildProcess, spawn } from 'node:child_process'
import type { SessionTask, TaskExecutionContext, TaskExecutorPlugin } from '../../src/index.js'
import { TASK_KIND_BACKGROUND_TOOL } from '../../src/index.js'

/** What a background tool task runs: a command, and optionally how many lines it will print. */
export type BackgroundToolSpec = { command: string; args?: string[]; expectedLines?: number }

function readSpec(task: SessionTask): BackgroundToolSpec {
  const spec = task.spec as Partial<BackgroundToolSpec> | null
  if (typeof spec?.command !== 'string') throw new Error('spec.command must be a string')
  return {
    command: spec.command,
    args: spec.args ?? [],
    ...(spec.expectedLines ? { expectedLines: spec.expectedLines } : {}),
  }
}

/**
 * Runs a real child process per task: stdout and stderr stream out as
 * `task.output`, each line counts as progress, the exit code decides the
 * outcome. The abort signal (cancel, timeout, close) kills the process.
 */
export function backgroundToolExecutor(): TaskExecutorPlugin {
  const children = new Map<string, ChildProcess>()
  return {
    kind: TASK_KIND_BACKGROUND_TOOL,
    executor: () => ({
      kind: TASK_KIND_BACKGROUND_TOOL,
      async start(task: SessionTask, ctx: TaskExecutionContext) {
        const spec = readSpec(task)
        const child = spawn(spec.command, spec.args ?? [], { stdio: ['ignore', 'pipe', 'pipe'] })
        children.set(task.id, child)
        const { sink, signal } = ctx
        const kill = () => child.kill('SIGTERM')
        signal.addEventListener('abort', kill, { once: true })
        let lines = 0
        let tail = ''
        child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
          void sink.output('stdout', chunk)
          lines += chunk.split('\n').length - 1
          tail =
            chunk
              .split('\n')
              .filter((line) => line.trim() !== '')
              .pop() ?? tail
          const total = spec.expectedLines
          void sink.progress({
            current: lines,
            unit: 'lines',
            ...(total === undefined ? {} : { total }),
          })
          void sink.heartbeat()
        })
        child.stderr
          ?.setEncoding('utf8')
          .on('data', (chunk: string) => void sink.output('stderr', chunk))
        child.on('close', (code, killedBy) => {
          children.delete(task.id)
          signal.removeEventListener('abort', kill)
          if (signal.aborted || killedBy !== null) {
            void sink.state('canceled', `process stopped by ${killedBy ?? 'abort'}`)
          } else if (code === 0) {
            void sink.update({ state: 'succeeded', summary: `${lines} lines; last: ${tail}` })
          } else {
            void sink.update({
              state: 'failed',
              error: { kind: 'exit_code', message: `exited with code ${code}` },
            })
          }
        })
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve)
          child.once('error', reject)
        })
        await sink.state('running', `pid ${child.pid}`)
      },
      async cancel(task: SessionTask) {
        children.get(task.id)?.kill('SIGTERM')
      },
    }),
  }
}
