/**
 * The child processes of a benchmark run: every fork is tracked until it
 * exits and killed by pid at the end, and every wait on one is bounded.
 */
import { type ChildProcess, fork } from 'node:child_process'

// Every child this run forked, until it exits: killed by pid if still there at the end.
const children = new Set<ChildProcess>()
export function track(child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
}
export function killChildren(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // Gone already.
      }
    }
  }
  children.clear()
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A forked worker that runs one case after another; `next(kind)` takes its next message. */
export type Worker = { child: ChildProcess; next: (kind: string) => Promise<unknown> }

export function startWorker(worker: string, root: string): Worker {
  const child = fork(worker, [], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  track(child)
  const queue: unknown[] = []
  let waiting: { resolve: (m: unknown) => void; reject: (e: Error) => void } | undefined
  let gone: Error | undefined
  child.on('message', (m) => {
    const w = waiting
    waiting = undefined
    if (w === undefined) queue.push(m)
    else w.resolve(m)
  })
  child.once('exit', (code, signal) => {
    gone = new Error(`a worker exited (${code ?? signal})`)
    waiting?.reject(gone)
    waiting = undefined
  })
  return {
    child,
    async next(kind) {
      const m =
        queue.length > 0
          ? queue.shift()
          : await new Promise<unknown>((resolve, reject) => {
              if (gone !== undefined) reject(gone)
              else waiting = { resolve, reject }
            })
      if ((m as { kind?: unknown } | undefined)?.kind !== kind) {
        throw new Error(`expected a ${kind} message from a worker, got ${JSON.stringify(m)}`)
      }
      return m
    },
  }
}
