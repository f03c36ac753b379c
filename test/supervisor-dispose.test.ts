import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it, vi } from 'vitest'
import { asyncDisposeKey } from '../src/execution/task-supervisor.js'
import {
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isUnsupportedOperationError,
  TaskAbortReason,
  type TaskExecutionContext,
  TaskExecutorRegistry,
} from '../src/index.js'

// `await using supervisor = createTaskSupervisor(...)`: the supervisor is
// AsyncDisposable, at runtime and for consumers whose lib predates it.

function setup() {
  const registry = new InMemorySessionTaskRegistry()
  const executors = new TaskExecutorRegistry()
  const contexts: TaskExecutionContext[] = []
  executors.register({
    kind: 'job',
    executor: () => ({
      kind: 'job',
      async start(_task, ctx) {
        contexts.push(ctx)
        await ctx.sink.state('running')
        // Settles as soon as it is told to stop, so close() does not wait out its grace.
        ctx.signal.addEventListener('abort', () => void ctx.sink.state('canceled'))
      },
      async cancel() {},
    }),
  })
  return { registry, executors, contexts }
}

describe('the supervisor as an AsyncDisposable', () => {
  it('is closed at the end of an `await using` block', async () => {
    const { registry, executors, contexts } = setup()
    let escaped: ReturnType<typeof createTaskSupervisor> | undefined
    {
      await using supervisor = createTaskSupervisor({ registry, executors })
      escaped = supervisor
      await supervisor.spawn({ sessionId: 's', kind: 'job', displayName: 'Job' })
      expect(contexts[0]?.signal.aborted).toBe(false)
    }
    const reason = contexts[0]?.signal.reason as TaskAbortReason
    expect(reason).toBeInstanceOf(TaskAbortReason)
    expect(reason.kind).toBe('closed')
    await expect(
      escaped.spawn({ sessionId: 's', kind: 'job', displayName: 'Job' }),
    ).rejects.toSatisfy(isUnsupportedOperationError)
  })

  it('disposes through close(), and a second dispose is harmless', async () => {
    const { registry, executors } = setup()
    const supervisor = createTaskSupervisor({ registry, executors })
    const close = vi.spyOn(supervisor, 'close')
    await supervisor[Symbol.asyncDispose]()
    await supervisor[Symbol.asyncDispose]()
    expect(close).toHaveBeenCalledTimes(2)
  })

  it('keys the method on Symbol.asyncDispose, or on Symbol.for(...) where the runtime has none', () => {
    expect(asyncDisposeKey()).toBe(Symbol.asyncDispose)
    const real = globalThis.Symbol
    // Swapped and restored synchronously: nothing else runs in between.
    globalThis.Symbol = { for: real.for } as unknown as SymbolConstructor
    let fallback: symbol
    try {
      fallback = asyncDisposeKey()
    } finally {
      globalThis.Symbol = real
    }
    expect(fallback).toBe(Symbol.for('Symbol.asyncDispose'))
  })
})

const SRC = fileURLToPath(new URL('../src/index.js', import.meta.url))
const BUILD = fileURLToPath(new URL('../tsconfig.build.json', import.meta.url))
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))

/** Type-checks `code` as a consumer module against the sources, with `lib`; returns tsc's output. */
async function typeCheck(dir: string, name: string, lib: string[], code: string) {
  await writeFile(path.join(dir, `${name}.mts`), code.replace('SESSION_TASKS', SRC))
  // The sources compile under their own flags (the build's), with the consumer's lib;
  // every declaration file is checked, so a clash with the lib's own shows.
  const config = {
    extends: BUILD,
    compilerOptions: { lib, types: [], noEmit: true, skipLibCheck: false, rootDir: null },
    include: [],
    files: [`${name}.mts`],
  }
  await writeFile(path.join(dir, `tsconfig.${name}.json`), JSON.stringify(config))
  try {
    await promisify(execFile)(process.execPath, [TSC, '-p', `tsconfig.${name}.json`], { cwd: dir })
    return ''
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error)
  }
}

describe('the dispose member for TypeScript consumers', () => {
  it('type-checks under lib ES2022 + DOM (no disposable lib) and under ESNext with `await using`', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'session-tasks-dispose-'))
    try {
      const [older, newer] = await Promise.all([
        typeCheck(
          dir,
          'es2022',
          ['ES2022', 'DOM'],
          `import { createTaskSupervisor, InMemorySessionTaskRegistry } from 'SESSION_TASKS'
const supervisor = createTaskSupervisor({ registry: new InMemorySessionTaskRegistry() })
export const done: Promise<void> = supervisor[Symbol.asyncDispose]()
`,
        ),
        typeCheck(
          dir,
          'esnext',
          ['ESNext', 'DOM'],
          `import { createTaskSupervisor, InMemorySessionTaskRegistry, type TaskSupervisor } from 'SESSION_TASKS'
export async function run(): Promise<void> {
  await using supervisor = createTaskSupervisor({ registry: new InMemorySessionTaskRegistry() })
  const disposable: AsyncDisposable = supervisor
  void disposable
}
export type Check = TaskSupervisor extends AsyncDisposable ? true : never
export const check: Check = true
`,
        ),
      ])
      expect(older).toBe('')
      expect(newer).toBe('')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
