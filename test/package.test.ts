/**
 * Packaging checks (issue 7, item 1): what we publish, checked as a consumer
 * gets it. Every check below works on the real tarball from `npm pack`, except
 * the export list (read from src) and the size budget (bundled from dist).
 *
 * Needs dist/: `npm test` builds it before vitest; run alone, this file builds
 * it when dist/index.js is missing or older than a file in src/.
 * The install step fetches nanoid, zod and mitt from the npm cache or registry.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const ATTW = path.join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
const DEPENDENCIES = ['mitt', 'nanoid', 'zod']
/** Per-test (and hook) timeout: packing, installing and tsc are slow on a busy machine. */
const SLOW = 120_000

type RunResult = { code: number; stdout: string; stderr: string }

/** Runs a command without a shell; never throws, the exit code is in the result. */
async function run(command: string, args: string[], cwd: string): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd,
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

function show(result: RunResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`
}

async function newestSourceMtime(): Promise<number> {
  const files = await readdir(path.join(ROOT, 'src'), { recursive: true })
  const times = await Promise.all(
    files.map(async (file) => (await stat(path.join(ROOT, 'src', file))).mtimeMs),
  )
  return Math.max(...times)
}

/** Builds dist/ unless it is there and newer than every file in src/. */
async function ensureBuilt(): Promise<void> {
  const built = await stat(path.join(ROOT, 'dist', 'index.js')).catch(() => undefined)
  if (built && built.mtimeMs >= (await newestSourceMtime())) return
  const result = await run(process.execPath, [TSC, '-p', 'tsconfig.build.json'], ROOT)
  if (result.code !== 0) throw new Error(`npm run build failed\n${show(result)}`)
}

let work: string
let tarball: string
let packedFiles: string[]

beforeAll(async () => {
  await ensureBuilt()
  work = await mkdtemp(path.join(tmpdir(), 'session-tasks-pack-'))
  // Built just above; prepack would build it again.
  const packed = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
    ROOT,
  )
  if (packed.code !== 0) throw new Error(`npm pack failed\n${show(packed)}`)
  // Lifecycle scripts could print before the JSON; it is the last thing on stdout.
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[\n'))) as {
    filename: string
    files: { path: string }[]
  }[]
  if (!info) throw new Error(`npm pack printed no package\n${show(packed)}`)
  tarball = path.join(work, info.filename)
  packedFiles = info.files.map((file) => file.path).sort()
}, SLOW)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('the packed tarball', { timeout: SLOW }, () => {
  test('holds dist/ and the package files, nothing from src/, test/ or scratch/', () => {
    expect(packedFiles).toContain('package.json')
    expect(packedFiles).toContain('README.md')
    expect(packedFiles).toContain('LICENSE')
    expect(packedFiles).toContain('dist/index.js')
    expect(packedFiles).toContain('dist/index.d.ts')
    const stray = packedFiles.filter(
      (file) =>
        !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(file),
    )
    expect(stray).toEqual([])
  })

  test('npm pack builds dist/ first (prepack), so a pack from a fresh clone is never empty', async () => {
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    expect(manifest.scripts.prepack).toBe('npm run build')
  })

  test('every module ships a source map with its TypeScript source inside', async () => {
    const modules = packedFiles.filter((file) => file.endsWith('.js'))
    expect(modules.length).toBeGreaterThan(50)
    expect(modules.filter((file) => !packedFiles.includes(`${file}.map`))).toEqual([])
    const map = JSON.parse(await readFile(path.join(ROOT, 'dist/index.js.map'), 'utf8')) as {
      sources: string[]
      sourcesContent?: string[]
    }
    expect(map.sources).toEqual(['../src/index.ts'])
    expect(map.sourcesContent?.[0]).toContain('export')
  })

  test('publint finds no error or warning', async () => {
    const bytes = await readFile(tarball)
    // Linting the tarball itself, so this is exactly what npm would publish.
    const { messages, pkg } = await publint({ pack: { tarball: new Uint8Array(bytes).buffer } })
    const problems = messages
      .filter((message) => message.type === 'error' || message.type === 'warning')
      .map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`)
    expect(problems, problems.join('\n')).toEqual([])
  })

  test('arethetypeswrong finds no problem for node16 (from ESM) and bundler', async () => {
    // --profile esm-only skips the node10 and node16-from-CJS resolutions. The
    // package is ESM only on purpose, so under those it always reports
    // CJSResolvesToESM ("require resolves to ESM"), which is what ESM only
    // means, not a defect; Node >= 20.19 can require() it anyway (see below).
    // --no-definitely-typed: the package ships its own types, and it keeps
    // the check offline.
    const args = [ATTW, tarball, '--profile', 'esm-only', '--format', 'json']
    const result = await run(process.execPath, [...args, '--no-definitely-typed'], ROOT)
    if (!result.stdout.trimStart().startsWith('{')) throw new Error(`attw failed\n${show(result)}`)
    const report = JSON.parse(result.stdout) as {
      analysis: {
        entrypoints: Record<
          string,
          { resolutions: Record<string, { resolution?: { fileName: string } }> }
        >
        problems: { kind: string; entrypoint?: string; resolutionKind?: string }[]
      }
    }
    const ignored = ['node10', 'node16-cjs']
    const problems = report.analysis.problems.filter(
      (problem) => !ignored.includes(problem.resolutionKind ?? ''),
    )
    expect(problems, JSON.stringify(problems, null, 2)).toEqual([])
    expect(result.code, show(result)).toBe(0)
    const resolved = (entrypoint: string, kind: string) =>
      report.analysis.entrypoints[entrypoint]?.resolutions[kind]?.resolution?.fileName
    for (const kind of ['node16-esm', 'bundler']) {
      expect(resolved('.', kind)).toMatch(/\/dist\/index\.d\.ts$/)
      expect(resolved('./testing', kind)).toMatch(/\/dist\/testing\/index\.d\.ts$/)
      expect(resolved('./testing/vitest', kind)).toMatch(/\/dist\/testing\/vitest\.d\.ts$/)
    }
  })
})

describe('public surface', { timeout: SLOW }, () => {
  // Runtime exports only: type-only exports do not exist at runtime. After
  // adding or removing an export, update with `npx vitest run test/package.test.ts -u`.
  test('the sorted list of runtime exports of session-tasks', async () => {
    const names = Object.keys(await import('../src/index.js')).sort()
    expect(names).toMatchInlineSnapshot(`
      [
        "A2A_TASK_STATES",
        "CallerTaskIdSchema",
        "CreateSessionTaskSchema",
        "DISPATCH_MODES",
        "DuplicateExecutorError",
        "FORWARDED_MESSAGE_PREFIX",
        "GENERATED_MESSAGE_PREFIX",
        "InMemorySessionTaskRegistry",
        "InMemoryTaskStore",
        "InputRequestIdSchema",
        "JsonObjectSchema",
        "JsonValueSchema",
        "ListMessagesOptionsSchema",
        "ListOverdueOptionsSchema",
        "ListQueuedOptionsSchema",
        "ListStaleOptionsSchema",
        "MAX_JSON_DEPTH",
        "MAX_JSON_NODES",
        "NewTaskMessageSchema",
        "NoExecutorError",
        "PruneOptionsSchema",
        "QueryTasksOptionsSchema",
        "RegistryTaskSink",
        "SESSION_TASK_ERROR_CODES",
        "SESSION_TASK_STATES",
        "SessionIdSchema",
        "SessionTaskError",
        "SessionTaskFilterSchema",
        "SessionTaskRegistryCore",
        "SessionTaskSchema",
        "SessionTaskStateSchema",
        "SessionTaskUpdateSchema",
        "StaleAttemptError",
        "StreamOverflowError",
        "TASK_ABORT_KINDS",
        "TASK_KIND_AGENT_HANDOFF",
        "TASK_KIND_BACKGROUND_TOOL",
        "TASK_KIND_EXTERNAL_AGENT",
        "TASK_KIND_MONITOR",
        "TASK_KIND_SESSION",
        "TASK_KIND_SUBAGENT",
        "TASK_MESSAGE_DIRECTIONS",
        "TASK_STEP_STATUSES",
        "TASK_WAKE_POLICIES",
        "TERMINAL_TASK_STATES",
        "TaskAbortReason",
        "TaskArtifactSchema",
        "TaskConflictError",
        "TaskErrorSchema",
        "TaskExecutorRegistry",
        "TaskIdSchema",
        "TaskInputRequestSchema",
        "TaskLinksInputSchema",
        "TaskLinksSchema",
        "TaskMessageDirectionSchema",
        "TaskMessagePartSchema",
        "TaskMessageSchema",
        "TaskNotFoundError",
        "TaskOutputSchema",
        "TaskProgressSchema",
        "TaskStepSchema",
        "TaskStepStatusSchema",
        "TaskWakePolicySchema",
        "TaskWakeSchema",
        "TaskWakeTransitionSchema",
        "UnsupportedOperationError",
        "ValidationError",
        "WireSessionTaskSchema",
        "WireTaskLinksSchema",
        "WireTaskMessageSchema",
        "applyTaskUpdate",
        "createTaskSupervisor",
        "createWakeQueue",
        "defaultTaskExecutors",
        "findTaskExecutor",
        "fromA2ATaskState",
        "fromWireMessage",
        "fromWireTask",
        "generateTaskId",
        "generateTaskMessageId",
        "isDuplicateExecutorError",
        "isNoExecutorError",
        "isSessionTaskError",
        "isStaleAttemptError",
        "isStreamOverflowError",
        "isTaskConflictError",
        "isTaskInState",
        "isTaskNotFoundError",
        "isTerminalState",
        "isTerminalTask",
        "isUnsupportedOperationError",
        "isValidationError",
        "listTaskExecutorKinds",
        "newSessionTask",
        "parseTaskState",
        "registerTaskExecutor",
        "serverSentEventFrame",
        "sinceFromLastEventId",
        "taskMessageText",
        "taskResultPath",
        "taskVfsDir",
        "toA2ATaskState",
        "toPublicTask",
        "toServerSentEvents",
        "toSubscription",
        "toWireMessage",
        "toWireTask",
      ]
    `)
  })

  test('the sorted list of runtime exports of session-tasks/testing', async () => {
    const names = Object.keys(await import('../src/testing/index.js')).sort()
    expect(names).toMatchInlineSnapshot(`
      [
        "createManualClock",
        "createTestRegistry",
        "describeRegistryContract",
        "expectTaskToSettle",
        "recordEvents",
      ]
    `)
  })

  test('the sorted list of runtime exports of session-tasks/testing/vitest', async () => {
    const names = Object.keys(await import('../src/testing/vitest.js')).sort()
    expect(names).toMatchInlineSnapshot(`
      [
        "describeRegistryContract",
        "vitestRunner",
      ]
    `)
  })

  test('the sorted list of runtime exports of session-tasks/a2a', async () => {
    const names = Object.keys(await import('../src/bridges/a2a/index.js')).sort()
    expect(names).toEqual([
      'SessionTasksA2AEventBusManager',
      'SessionTasksA2ATaskStore',
      'a2aClientExecutor',
      'a2aExecutor',
    ])
  })

  test('the sorted list of runtime exports of session-tasks/ai', async () => {
    const names = Object.keys(await import('../src/bridges/ai/index.js')).sort()
    expect(names).toEqual([
      'AI_TOOL_KIND',
      'aiToolExecutor',
      'backgroundTools',
      'nextWakes',
      'questionTools',
      'runWhileTasksOpen',
      'taskTools',
      'taskView',
      'wakeMessage',
      'wakeSteps',
      'writeTaskParts',
    ])
  })

  test('the sorted list of runtime exports of session-tasks/mcp', async () => {
    const names = Object.keys(await import('../src/bridges/mcp/index.js')).sort()
    expect(names).toEqual([
      'MCP_QUEUE_SESSION',
      'SessionTasksMcpMessageQueue',
      'SessionTasksMcpTaskStore',
      'elicitResultOf',
      'elicitationRequestId',
      'mcpClientExecutor',
      'mcpSession',
    ])
  })

  test('the sorted list of runtime exports of session-tasks/sqlite', async () => {
    const names = Object.keys(await import('../src/backends/sqlite/index.js')).sort()
    expect(names).toEqual([
      'SQLITE_MIGRATIONS',
      'SQLITE_SCHEMA_VERSION',
      'SQLITE_SYNCHRONOUS',
      'SqliteSessionTaskRegistry',
      'SqliteTaskStore',
      'fromBetterSqlite3',
      'fromNodeSqlite',
      'migrate',
    ])
  })

  test('the sorted list of runtime exports of session-tasks/postgres/testing', async () => {
    const names = Object.keys(await import('../src/backends/postgres/testing.js')).sort()
    expect(names).toMatchInlineSnapshot(`
      [
        "describePostgresRegistry",
      ]
    `)
  })
})

describe('bundle size', { timeout: SLOW }, () => {
  // esbuild, minified ESM for the browser, gzip level 6 (the zlib default).
  // Measured when the budgets were last set (0.2 with the first-week
  // additions: waitAny/waitAll, signals, timers, disposal, the awaitable
  // wake queue, type guards; esbuild 0.28.2, zod 4, nanoid 5, mitt 3):
  //   library alone, dependencies external:  98,581 B raw, 30,867 B gzip
  //   full bundle, zod + nanoid + mitt in:  193,786 B raw, 58,256 B gzip
  // and after the adversarial fixes and forwarded messages: 100,980 B raw,
  // 31,686 B gzip alone; 196,179 B raw, 59,055 B gzip in full.
  //   `import { isTerminalState }` alone:        97 B raw (sideEffects: false lets it shake)
  // (With the durable control plane they were 25,411 and 52,847 B gzip; at
  // the storage-port refactor 20,198 and 47,615.)
  // Budgets are about 15% over the measured gzip figures.
  const BUDGET_LIBRARY_GZIP = 35_500
  const BUDGET_FULL_GZIP = 67_000

  async function measure(contents: string, external: string[]) {
    const result = await build({
      stdin: { contents, resolveDir: ROOT, sourcefile: 'entry.js' },
      bundle: true,
      format: 'esm',
      minify: true,
      platform: 'browser',
      external,
      write: false,
      logLevel: 'silent',
    })
    const code = result.outputFiles[0]?.contents ?? new Uint8Array()
    return { raw: code.byteLength, gzip: gzipSync(code).byteLength }
  }

  test('core bundle stays within its gzip budget', async () => {
    const all = "export * from './dist/index.js'"
    const library = await measure(all, DEPENDENCIES)
    const full = await measure(all, [])
    console.log(
      `bundle size: library alone ${library.raw} B raw, ${library.gzip} B gzip; ` +
        `with dependencies ${full.raw} B raw, ${full.gzip} B gzip`,
    )
    expect(library.gzip).toBeLessThan(BUDGET_LIBRARY_GZIP)
    expect(full.gzip).toBeLessThan(BUDGET_FULL_GZIP)
  })

  test('the root entry never loads an optional integration', async () => {
    const result = await build({
      stdin: { contents: "export * from './dist/index.js'", resolveDir: ROOT, sourcefile: 'e.js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      write: false,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.some((file) => file.includes('dist/index.js'))).toBe(true)
    for (const optional of [
      '@a2a-js',
      '@modelcontextprotocol',
      'node_modules/ai/',
      '@ai-sdk',
      'node_modules/pg/',
      'pglite',
      'better-sqlite3',
      'node:sqlite',
      'backends/sqlite',
    ]) {
      expect(inputs.filter((file) => file.includes(optional))).toEqual([])
    }
  })

  test('one small import tree-shakes to almost nothing (sideEffects: false)', async () => {
    const one = await measure("export { isTerminalState } from './dist/index.js'", [])
    console.log(`bundle size: isTerminalState alone ${one.raw} B raw, ${one.gzip} B gzip`)
    expect(one.raw).toBeLessThan(1_024)
  })
})

const LIFECYCLE = `
import * as lib from 'session-tasks'
const { createTaskSupervisor, InMemorySessionTaskRegistry, isTerminalState, TaskExecutorRegistry } = lib
const registry = new InMemorySessionTaskRegistry()
const executors = new TaskExecutorRegistry()
executors.register({
  kind: 'echo',
  executor: () => ({
    kind: 'echo',
    async start(task, ctx) {
      await ctx.sink.state('running')
      await ctx.sink.progress({ current: 1, total: 1 })
      await ctx.sink.update({ state: 'succeeded', summary: 'echo ' + task.spec.text })
    },
    async cancel() {},
  }),
})
const supervisor = createTaskSupervisor({ registry, executors })
const spawned = await supervisor.spawn({ sessionId: 's1', kind: 'echo', displayName: 'Echo', spec: { text: 'hi' } })
const { task, timedOut } = await supervisor.wait('s1', spawned.id, { timeoutMs: 5000 })
await supervisor.close()
console.log(JSON.stringify({
  state: task.state,
  summary: task.summary,
  progress: task.progress,
  timedOut,
  terminal: isTerminalState(task.state),
  exports: Object.keys(lib).sort(),
}))
`

const REQUIRE = `
const lib = require('session-tasks')
console.log(JSON.stringify({
  registry: typeof lib.InMemorySessionTaskRegistry,
  supervisor: typeof lib.createTaskSupervisor,
  exports: Object.keys(lib).sort(),
}))
`

const CONSUMER_TS = `
import {
  type CreateSessionTask,
  createTaskSupervisor,
  InMemorySessionTaskRegistry,
  isValidationError,
  type SessionTask,
  type SessionTaskEvents,
  type SessionTaskState,
  type TaskExecutionContext,
  type TaskExecutor,
  type TaskExecutorPlugin,
  TaskExecutorRegistry,
  type TaskSupervisor,
} from 'session-tasks'

const echo: TaskExecutor = {
  kind: 'echo',
  async start(task: SessionTask, ctx: TaskExecutionContext): Promise<void> {
    ctx.signal.throwIfAborted()
    await ctx.sink.update({ state: 'succeeded', summary: task.displayName })
  },
  async cancel(): Promise<void> {},
}
const plugin: TaskExecutorPlugin = { kind: echo.kind, executor: () => echo }

const registry = new InMemorySessionTaskRegistry({ now: () => new Date() })
const executors = new TaskExecutorRegistry()
executors.register(plugin)
const supervisor: TaskSupervisor = createTaskSupervisor({ registry, executors })
const input: CreateSessionTask = { sessionId: 's1', kind: 'echo', displayName: 'Echo' }
const seen: Array<keyof SessionTaskEvents> = []
registry.subscribe('s1', (type) => {
  seen.push(type)
})

export async function run(): Promise<SessionTaskState> {
  try {
    const spawned = await supervisor.spawn(input)
    const { task } = await supervisor.wait(spawned.sessionId, spawned.id)
    return task.state
  } catch (error) {
    if (isValidationError(error)) return 'failed'
    throw error
  }
}

// @ts-expect-error 'bogus' is not a state; unused (an error) if the types resolved to any.
export const notAState: SessionTaskState = 'bogus'
`

// A CommonJS TypeScript file importing the package: TypeScript models
// require(esm) from --module node20 / nodenext on (TS 5.8+), not under node16.
const CONSUMER_CTS = `
import { InMemorySessionTaskRegistry, type SessionTask } from 'session-tasks'
export const registry = new InMemorySessionTaskRegistry()
export type Task = SessionTask
`

/** The runtime export names of src/index.ts, sorted. */
async function sourceExports(): Promise<string[]> {
  return Object.keys(await import('../src/index.js')).sort()
}

// The main entry point, and session-tasks/testing without vitest (an optional
// peer dependency, so not installed here); the rest is covered above by
// publint, attw and the export lists.
describe('installed from the tarball into a fresh project', { timeout: SLOW }, () => {
  let project: string
  let installLog = ''
  // The type-checks are slow (lib.dom and zod's declarations, skipLibCheck
  // off): they all start once the project is installed and run side by side.
  let checks: {
    node16: Promise<RunResult>
    bundler: Promise<RunResult>
    nodenext: Promise<RunResult>
  }

  async function writeTsconfig(
    module: string,
    moduleResolution: string,
    files: string[],
    skipLibCheck = false,
  ) {
    const name = `tsconfig.${module}.json`
    const config = {
      compilerOptions: {
        target: 'ES2022',
        // AbortSignal (ours) and URL (zod's) come from DOM here; a Node
        // project gets them from @types/node instead. ES2022 alone fails.
        lib: ['ES2022', 'DOM'],
        module,
        moduleResolution,
        strict: true,
        noEmit: true,
        // False unless asked: our shipped .d.ts files get checked too (and
        // zod's, the slow part).
        skipLibCheck,
        types: [],
      },
      files,
    }
    await writeFile(path.join(project, name), JSON.stringify(config, null, 2))
    return name
  }

  /** `file code` of every error tsc printed, e.g. `consumer.cts TS1479`. */
  function errors(result: RunResult): string[] {
    return [...result.stdout.matchAll(/^(\S+?)\(\d+,\d+\): error (TS\d+)/gm)].map(
      ([, file, code]) => `${file} ${code}`,
    )
  }

  beforeAll(async () => {
    project = path.join(work, 'consumer')
    await mkdir(project)
    const manifest = { name: 'consumer', version: '1.0.0', private: true, type: 'module' }
    await writeFile(path.join(project, 'package.json'), JSON.stringify(manifest, null, 2))
    const installed = await run(
      'npm',
      [
        'install',
        tarball,
        '--prefix',
        project,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
      ],
      project,
    )
    if (installed.code !== 0) throw new Error(`npm install failed\n${show(installed)}`)
    installLog = `${installed.stdout}\n${installed.stderr}`
    await writeFile(path.join(project, 'require.cjs'), REQUIRE)
    await writeFile(path.join(project, 'consumer.ts'), CONSUMER_TS)
    await writeFile(path.join(project, 'consumer.cts'), CONSUMER_CTS)
    const configs = await Promise.all([
      writeTsconfig('node16', 'node16', ['consumer.ts', 'consumer.cts']),
      writeTsconfig('esnext', 'bundler', ['consumer.ts']),
      // Only whether TypeScript allows the import; the .d.ts files are checked above.
      writeTsconfig('nodenext', 'nodenext', ['consumer.cts'], true),
    ])
    const [node16, bundler, nodenext] = configs.map((config) =>
      run(process.execPath, [TSC, '-p', config], project),
    ) as [Promise<RunResult>, Promise<RunResult>, Promise<RunResult>]
    checks = { node16, bundler, nodenext }
  }, SLOW)

  afterAll(async () => {
    // Let tsc finish before the temp folder goes, whatever failed.
    if (checks) await Promise.all(Object.values(checks))
  }, SLOW)

  test('installing the package prints no npm warning (no peer, engine or deprecation notice)', () => {
    const warnings = installLog.split('\n').filter((line) => /\bnpm warn\b|\bWARN\b/i.test(line))
    expect(warnings).toEqual([])
  })

  test('npm installed the package and its dependencies', async () => {
    for (const name of ['session-tasks', ...DEPENDENCIES]) {
      const manifest = path.join(project, 'node_modules', name, 'package.json')
      expect(await stat(manifest).catch(() => undefined), name).toBeDefined()
    }
  })

  test('ESM: a task runs to completion, and the exports match src', async () => {
    const result = await run(process.execPath, ['--input-type=module', '-e', LIFECYCLE], project)
    expect(result.code, show(result)).toBe(0)
    const output = JSON.parse(result.stdout) as Record<string, unknown>
    expect(output).toMatchObject({
      state: 'succeeded',
      summary: 'echo hi',
      progress: { current: 1, total: 1 },
      timedOut: false,
      terminal: true,
    })
    // A stale or partial dist/ would ship a different list.
    expect(output.exports).toEqual(await sourceExports())
  })

  test('session-tasks/testing loads without vitest; only session-tasks/testing/vitest needs it', async () => {
    const script = `
      const testing = await import('session-tasks/testing')
      const binding = await import('session-tasks/testing/vitest').then(() => 'loaded', (e) => e.code)
      console.log(JSON.stringify({ exports: Object.keys(testing).sort(), binding }))
    `
    const result = await run(process.execPath, ['--input-type=module', '-e', script], project)
    expect(result.code, show(result)).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      exports: Object.keys(await import('../src/testing/index.js')).sort(),
      binding: 'ERR_MODULE_NOT_FOUND',
    })
    const vitest = path.join(project, 'node_modules', 'vitest', 'package.json')
    expect(
      await stat(vitest).catch(() => undefined),
      'vitest must not be installed',
    ).toBeUndefined()
  })

  test('CommonJS: require() works where Node has require(esm)', async () => {
    const result = await run(process.execPath, ['require.cjs'], project)
    // Unflagged from Node 20.19 and 22.12; older 20.x throws ERR_REQUIRE_ESM.
    const features = process.features as { require_module?: boolean }
    if (!features.require_module) {
      expect(result.code).not.toBe(0)
      expect(result.stderr).toContain('ERR_REQUIRE_ESM')
      return
    }
    expect(result.code, show(result)).toBe(0)
    // No top-level await anywhere, so require() gets the whole module. Node
    // 20.20 prints nothing; some 22.x print an ExperimentalWarning, allowed.
    const stderr = result.stderr.replace(/^.*(ExperimentalWarning|--trace-warnings).*\n/gm, '')
    expect(stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({
      registry: 'function',
      supervisor: 'function',
      exports: await sourceExports(),
    })
  })

  test('a TypeScript consumer type-checks under node16 and under bundler resolution', async () => {
    const node16 = await checks.node16
    const ownErrors = errors(node16).filter((error) => error.startsWith('consumer.ts '))
    expect(ownErrors, show(node16)).toEqual([])
    const bundler = await checks.bundler
    expect(bundler.code, show(bundler)).toBe(0)
  })

  test('a CommonJS TypeScript consumer needs --module nodenext (node16 rejects it)', async () => {
    const nodenext = await checks.nodenext
    expect(nodenext.code, show(nodenext)).toBe(0)
    // TS1479: a CommonJS file cannot require() an ES module (under node16).
    const node16 = await checks.node16
    expect(errors(node16), show(node16)).toEqual(['consumer.cts TS1479'])
  })
})
