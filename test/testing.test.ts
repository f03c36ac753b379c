import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type * as nodeTest from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { expect as jestExpect } from 'expect'
import type * as vitest from 'vitest'
import { beforeAll, describe, expect, expectTypeOf, test } from 'vitest'
import { describePostgresRegistry } from '../src/backends/postgres/testing.js'
import { createTaskSupervisor, TaskExecutorRegistry } from '../src/index.js'
import {
  type ContractRunner,
  createManualClock,
  createTestRegistry,
  describeRegistryContract,
  expectTaskToSettle,
  recordEvents,
} from '../src/testing/index.js'
import { vitestRunner } from '../src/testing/vitest.js'

// An executor as a user would write it, and its test written with the helpers.
const echoPlugin = {
  kind: 'echo',
  executor: () => ({
    kind: 'echo',
    async start(task: { spec: unknown }, ctx: import('../src/index.js').TaskExecutionContext) {
      await ctx.sink.state('running')
      const { fail } = (task.spec ?? {}) as { fail?: boolean }
      queueMicrotask(() => {
        void (fail
          ? ctx.sink.update({ state: 'failed', error: { kind: 'boom', message: 'asked to fail' } })
          : ctx.sink.update({ state: 'succeeded', summary: 'echoed' }))
      })
    },
    async cancel() {},
  }),
}

describe('testing helpers', () => {
  test('a user executor test in a few lines', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register(echoPlugin)
    const supervisor = createTaskSupervisor({ registry, executors })
    const events = recordEvents(registry, 's')
    const task = await supervisor.spawn({ sessionId: 's', kind: 'echo', displayName: 'echo' })
    const done = await expectTaskToSettle(registry, 's', task.id, 'succeeded')
    expect(done.summary).toBe('echoed')
    expect(events.states(task.id)).toEqual(['running', 'succeeded'])
    expect(events.types()).toEqual(['task.created', 'task.updated', 'task.updated'])
    events.stop()
    await supervisor.close()
  })

  test('states() lists the states a task went through, not one per update', async () => {
    const { registry } = createTestRegistry()
    const events = recordEvents(registry, 's')
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'x' })
    await registry.update('s', task.id, { state: 'running' })
    await registry.update('s', task.id, { progress: { current: 1, total: 2 } })
    await registry.update('s', task.id, { progress: { current: 2, total: 2 } })
    await registry.update('s', task.id, { state: 'succeeded' })
    expect(events.types().filter((type) => type === 'task.updated')).toHaveLength(4)
    expect(events.states(task.id)).toEqual(['running', 'succeeded'])
    events.stop()
  })

  test('expectTaskToSettle rejects with a readable message when the task ends otherwise', async () => {
    const { registry } = createTestRegistry()
    const executors = new TaskExecutorRegistry()
    executors.register(echoPlugin)
    const supervisor = createTaskSupervisor({ registry, executors })
    const task = await supervisor.spawn({
      sessionId: 's',
      kind: 'echo',
      displayName: 'echo',
      spec: { fail: true },
    })
    await expect(expectTaskToSettle(registry, 's', task.id, 'succeeded')).rejects.toThrow(
      `expected task ${task.id} to settle as succeeded, but it is failed (boom: asked to fail)`,
    )
    await supervisor.close()
  })

  test('expectTaskToSettle times out with the current state, and fails for an unknown task', async () => {
    const { registry } = createTestRegistry()
    const task = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      state: 'running',
    })
    await expect(
      expectTaskToSettle(registry, 's', task.id, 'succeeded', { timeoutMs: 5 }),
    ).rejects.toThrow(`task ${task.id} did not settle within 5 ms (it is running)`)
    await expect(expectTaskToSettle(registry, 's', 'missing', 'succeeded')).rejects.toThrow(
      'not found',
    )
  })

  test('expectTaskToSettle can wait for awaiting_input', async () => {
    const { registry } = createTestRegistry()
    const task = await registry.create({
      sessionId: 's',
      kind: 'k',
      displayName: 'd',
      state: 'running',
    })
    const waiting = expectTaskToSettle(registry, 's', task.id, 'awaiting_input')
    await registry.update('s', task.id, { inputRequest: { id: 'q', prompt: 'ok?' } })
    expect((await waiting).inputRequest?.id).toBe('q')
  })

  test('the manual clock stamps records and moves only when told', async () => {
    const { registry, clock } = createTestRegistry({ start: '2030-05-01T00:00:00.000Z' })
    const task = await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    expect(task.createdAt).toBe('2030-05-01T00:00:00.000Z')
    clock.advance(1500)
    const later = await registry.update('s', task.id, { state: 'running' })
    expect(later?.startedAt).toBe('2030-05-01T00:00:01.500Z')
    clock.set('2031-01-01T00:00:00.000Z')
    expect(registry.now().toISOString()).toBe('2031-01-01T00:00:00.000Z')
    expect(createManualClock(0).now().getTime()).toBe(0)
  })

  test('listener errors are collected instead of logged', async () => {
    const { registry, listenerErrors } = createTestRegistry()
    registry.subscribe('s', () => {
      throw new Error('listener broke')
    })
    await registry.create({ sessionId: 's', kind: 'k', displayName: 'd' })
    expect(listenerErrors).toHaveLength(1)
  })
})

// ------------------------------------------------------------------ runners

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
/** Spawned runs (tsc, node:test) on a busy two-core machine. */
const SLOW = 120_000

type RunResult = { code: number; stdout: string; stderr: string }

/** Runs node with `args` in the repo; never throws, the exit code is in the result. */
async function node(args: string[]): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, {
      cwd: ROOT,
      timeout: SLOW - 10_000,
      maxBuffer: 64 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string }
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    }
  }
}

const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** The `# name N` counters of a TAP report. */
function tapCounts(stdout: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const [, name, n] of stdout.matchAll(/^# (\w+) (\d+)$/gm)) counts[name as string] = Number(n)
  return counts
}

/** A runner that records what the suite registers, running describe bodies at once. */
function recordingRunner(options: { skip?: boolean } = {}) {
  const path: string[] = []
  const tests: string[] = []
  const skipped: string[] = []
  const hooks: string[] = []
  const test = Object.assign((title: string) => tests.push([...path, title].join(' > ')), {
    skip:
      options.skip === false
        ? undefined
        : (title: string) => skipped.push([...path, title].join(' > ')),
  })
  const runner: ContractRunner = {
    describe(title, body) {
      path.push(title)
      body()
      path.pop()
    },
    test,
    beforeEach: () => hooks.push(`beforeEach ${path.join(' > ')}`),
    afterEach: () => hooks.push(`afterEach ${path.join(' > ')}`),
    expect: () => {
      throw new Error('nothing asserts while tests are registered')
    },
  }
  return { runner, tests, skipped, hooks }
}

const never = () => {
  throw new Error('no test runs here')
}

describe('the conformance suites on any test runner', () => {
  test('vitest (its namespace too) and node:test with the expect package fit ContractRunner', () => {
    // Types only: loading Jest's expect here would share vitest's global matcher state.
    expectTypeOf(vitestRunner).toEqualTypeOf<ContractRunner>()
    expectTypeOf<typeof vitest>().toExtend<ContractRunner>()
    expectTypeOf<{
      describe: typeof nodeTest.describe
      test: typeof nodeTest.test
      beforeEach: typeof nodeTest.beforeEach
      afterEach: typeof nodeTest.afterEach
      afterAll: typeof nodeTest.after
      expect: typeof jestExpect
    }>().toExtend<ContractRunner>()
    expect(Object.keys(vitestRunner).sort()).toEqual([
      'afterAll',
      'afterEach',
      'beforeEach',
      'describe',
      'expect',
      'test',
    ])
  })

  test('describeRegistryContract registers every group and test with the runner it is given', () => {
    const { runner, tests, skipped, hooks } = recordingRunner()
    describeRegistryContract('R', never, { runner })
    expect(hooks).toEqual(['beforeEach R', 'afterEach R'])
    expect(skipped).toEqual([])
    const groups = [...new Set(tests.map((t) => t.split(' > ')[1]))]
    expect(groups).toEqual([
      'create',
      'update',
      'updateWithOutcome',
      'get and list',
      'requestCancel',
      'recordMessage',
      'listMessages',
      'publishOutput',
      'events and listeners',
      'wakes',
      'secrets',
      'immutability',
      'stored values',
      'isolation',
      'listStale',
      'claims',
      'prune',
      'record fields (0.2)',
      'find, query and delete',
      'deleteSession',
      'stream',
      'validation',
    ])
    expect(new Set(tests).size).toBe(tests.length)
    expect(tests).toContain('R > create > gives every create without an id a distinct id')
  })

  test('skip takes group titles, test titles and "group > test"; without test.skip they are left out', () => {
    const skip = [
      'wakes',
      'gives every create without an id a distinct id',
      'stream > an already aborted signal yields nothing',
      // A test title under another group: nothing is skipped.
      'update > an already aborted signal yields nothing',
    ]
    const all = recordingRunner()
    describeRegistryContract('R', never, { runner: all.runner })
    const some = recordingRunner()
    describeRegistryContract('R', never, { runner: some.runner, skip })
    const isSkipped = (t: string) =>
      t.startsWith('R > wakes > ') ||
      t === 'R > create > gives every create without an id a distinct id' ||
      t === 'R > stream > an already aborted signal yields nothing'
    expect(some.skipped).toEqual(all.tests.filter(isSkipped))
    expect(some.tests).toEqual(all.tests.filter((t) => !isSkipped(t)))
    expect(some.skipped.length).toBeGreaterThan(10)
    const bare = recordingRunner({ skip: false })
    describeRegistryContract('R', never, { runner: bare.runner, skip })
    expect(bare.tests).toEqual(some.tests)
    expect(bare.skipped).toEqual([])
  })

  test('without a runner the globals are used, and without globals the error says what to do', () => {
    // vitest runs this file without globals.
    expect(() => describeRegistryContract('R', never)).toThrow(
      /describeRegistryContract needs a test runner, and no global describe, test, beforeEach, afterEach, expect was found: pass `runner: .*session-tasks\/testing\/vitest/,
    )
    expect(() => describePostgresRegistry('P', { clients: never })).toThrow(
      /describePostgresRegistry needs a test runner, .*afterAll/,
    )
    const { runner } = recordingRunner()
    expect(() => describePostgresRegistry('P', { clients: never, runner })).toThrow(
      'describePostgresRegistry: the runner passed as `runner` has no afterAll',
    )
    const globals = globalThis as Record<string, unknown>
    const recorded = recordingRunner()
    const keys = ['describe', 'test', 'beforeEach', 'afterEach', 'expect'] as const
    for (const key of keys) globals[key] = recorded.runner[key]
    try {
      describeRegistryContract('G', never)
    } finally {
      for (const key of keys) delete globals[key]
    }
    expect(recorded.tests.length).toBeGreaterThan(100)
    expect(recorded.hooks).toEqual(['beforeEach G', 'afterEach G'])
  })

  test(
    'the whole contract passes under node:test with the expect package (examples/node-test)',
    async () => {
      const result = await node([
        '--import',
        'tsx',
        '--test',
        '--test-reporter=tap',
        'examples/node-test/contract.test.ts',
      ])
      expect(result.code, show(result)).toBe(0)
      const counts = tapCounts(result.stdout)
      expect(counts.tests, show(result)).toBeGreaterThan(150)
      expect(counts).toMatchObject({ pass: counts.tests, fail: 0, cancelled: 0, skipped: 0 })
    },
    SLOW,
  )

  test(
    'under node:test a registry that breaks the contract fails, with the suite’s own messages',
    async () => {
      // get returns thawed copies: the immutability group must catch it.
      const script = `
        import { after, afterEach, beforeEach, describe, test } from 'node:test'
        import { expect } from 'expect'
        import { InMemorySessionTaskRegistry } from './src/index.ts'
        import { describeRegistryContract } from './src/testing/index.ts'
        class Thawed extends InMemorySessionTaskRegistry {
          async get(sessionId, taskId) {
            const task = await super.get(sessionId, taskId)
            return task === undefined ? undefined : structuredClone(task)
          }
        }
        const groups = ['create', 'update', 'updateWithOutcome', 'get and list', 'requestCancel',
          'recordMessage', 'listMessages', 'publishOutput', 'events and listeners', 'wakes',
          'secrets', 'stored values', 'isolation', 'listStale', 'claims', 'prune', 'deleteSession',
          'stream', 'validation']
        describeRegistryContract('Thawed', (o) => new Thawed(o), {
          runner: { describe, test, beforeEach, afterEach, afterAll: after, expect },
          skip: groups,
        })
      `
      // Run as a script (not --test): node:test reports at exit, the imports resolve from the repo.
      const result = await node([
        '--import',
        'tsx',
        '--test-reporter=tap',
        '--input-type=module',
        '-e',
        script,
      ])
      expect(result.code, show(result)).toBe(1)
      const counts = tapCounts(result.stdout)
      expect(counts.fail, show(result)).toBeGreaterThan(0)
      expect(counts.pass, show(result)).toBeGreaterThan(0)
      // expect() with a message works on a runner whose expect takes one argument.
      expect(result.stdout).toContain('value is frozen: ')
    },
    SLOW,
  )
})

describe('the built session-tasks/testing without vitest', () => {
  /** The specifiers a built module imports (statically or with a literal `import()`). */
  async function specifiersOf(file: string): Promise<string[]> {
    const code = await readFile(file, 'utf8')
    const found = code.matchAll(
      /(?:^|[\s;])(?:import|export)\s*(?:[^'"`;]*?\sfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )
    return [...found].map(([, a, b]) => (a ?? b) as string)
  }

  /** Every module `entry` loads by relative import, and the bare specifiers they import. */
  async function importGraph(entry: string) {
    const files = new Set<string>()
    const bare = new Set<string>()
    const visit = async (file: string) => {
      if (files.has(file)) return
      files.add(file)
      for (const specifier of await specifiersOf(file)) {
        if (specifier.startsWith('.')) await visit(path.resolve(path.dirname(file), specifier))
        else bare.add(specifier)
      }
    }
    await visit(entry)
    return { files: [...files].map((f) => path.relative(DIST, f)).sort(), bare: [...bare].sort() }
  }

  const DIST = path.join(ROOT, 'dist')
  const isVitest = (specifier: string) => specifier === 'vitest' || specifier.startsWith('vitest/')

  beforeAll(async () => {
    // npm test builds first; run alone, build when dist/ is missing or older than src/.
    const built = await stat(path.join(DIST, 'testing', 'index.js')).catch(() => undefined)
    const sources = await readdir(path.join(ROOT, 'src'), { recursive: true })
    const times = await Promise.all(
      sources.map(async (file) => (await stat(path.join(ROOT, 'src', file))).mtimeMs),
    )
    if (built && built.mtimeMs >= Math.max(...times)) return
    const result = await node([TSC, '-p', 'tsconfig.build.json'])
    if (result.code !== 0) throw new Error(`npm run build failed\n${show(result)}`)
  }, SLOW)

  test('only dist/testing/vitest.js imports vitest; testing and postgres/testing never reach it', async () => {
    const testing = await importGraph(path.join(DIST, 'testing', 'index.js'))
    expect(testing.files).toContain('testing/contract/suite.js')
    expect(testing.files).toContain('testing/contract/validation.js')
    expect(testing.bare.filter(isVitest)).toEqual([])
    const postgres = await importGraph(path.join(DIST, 'backends', 'postgres', 'testing.js'))
    expect(postgres.files).toContain('testing/contract/suite.js')
    expect(postgres.bare.filter(isVitest)).toEqual([])
    const binding = await importGraph(path.join(DIST, 'testing', 'vitest.js'))
    expect(binding.bare).toContain('vitest')
    // Every module built from src/testing (a leftover in dist/ from an older
    // build has no source any more): only the binding imports vitest.
    const built = (await readdir(path.join(DIST, 'testing'), { recursive: true })).filter(
      (file) =>
        file.endsWith('.js') &&
        existsSync(path.join(ROOT, 'src', 'testing', file.replace(/\.js$/, '.ts'))),
    )
    expect(built.length).toBeGreaterThan(20)
    const importers: string[] = []
    for (const file of built) {
      if ((await specifiersOf(path.join(DIST, 'testing', file))).some(isVitest))
        importers.push(file)
    }
    expect(importers).toEqual(['vitest.js'])
  })

  test(
    'dist/testing/index.js and dist/backends/postgres/testing.js load with vitest unresolvable',
    async () => {
      const hooks = `export async function resolve(specifier, context, next) {
        if (specifier === 'vitest' || specifier.startsWith('vitest/')) {
          const error = new Error('vitest is made unresolvable for this test')
          error.code = 'ERR_MODULE_NOT_FOUND'
          throw error
        }
        return next(specifier, context)
      }`
      const register = `import { register } from 'node:module'
        register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}))`
      const url = (...parts: string[]) => pathToFileURL(path.join(DIST, ...parts)).href
      const script = `
        const testing = await import(${JSON.stringify(url('testing', 'index.js'))})
        const postgres = await import(${JSON.stringify(url('backends', 'postgres', 'testing.js'))})
        let binding = 'loaded'
        await import(${JSON.stringify(url('testing', 'vitest.js'))}).catch((e) => { binding = e.code })
        let error = ''
        try { testing.describeRegistryContract('R', () => {}) } catch (e) { error = e.message }
        console.log(JSON.stringify({
          testing: Object.keys(testing).sort(),
          postgres: Object.keys(postgres).sort(),
          binding,
          error,
        }))
      `
      const result = await node([
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--input-type=module',
        '-e',
        script,
      ])
      expect(result.code, show(result)).toBe(0)
      const output = JSON.parse(result.stdout) as Record<string, unknown>
      expect(output).toEqual({
        testing: [
          'createManualClock',
          'createTestRegistry',
          'describeRegistryContract',
          'expectTaskToSettle',
          'recordEvents',
        ],
        postgres: ['describePostgresRegistry'],
        // The block works: the binding, which needs vitest, does not load.
        binding: 'ERR_MODULE_NOT_FOUND',
        error: expect.stringContaining(
          "import describeRegistryContract from 'session-tasks/testing/vitest'",
        ),
      })
    },
    SLOW,
  )
})
