import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'

// The wake queue, subscriptions and the PostgreSQL / SQLite registries carry
// `Symbol.dispose` / `Symbol.asyncDispose` members; a consumer's `lib` may
// predate explicit resource management (ES2022 + DOM, as the package test's
// consumer project has it). Both kinds of consumer must type-check.

const SRC = fileURLToPath(new URL('../src', import.meta.url))
const BUILD = fileURLToPath(new URL('../tsconfig.build.json', import.meta.url))
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))

const OLDER_LIB = `import { createWakeQueue, InMemorySessionTaskRegistry, type Subscription } from 'SRC/index.js'
import type { PostgresSessionTaskRegistry } from 'SRC/backends/postgres/index.js'
import type { SqliteSessionTaskRegistry } from 'SRC/backends/sqlite/index.js'
const registry = new InMemorySessionTaskRegistry()
const queue = createWakeQueue(registry)
const sub: Subscription = registry.subscribe('s', () => {})
sub()
sub[Symbol.dispose]()
const all: () => void = registry.subscribeAll(() => {})
all()
queue[Symbol.dispose]()
export async function close(pg: PostgresSessionTaskRegistry, lite: SqliteSessionTaskRegistry) {
  await pg[Symbol.asyncDispose]()
  await lite[Symbol.asyncDispose]()
}
`

const NEWER_LIB = `import { createWakeQueue, InMemorySessionTaskRegistry, type WakeQueue } from 'SRC/index.js'
import type { PostgresSessionTaskRegistry } from 'SRC/backends/postgres/index.js'
import type { SqliteSessionTaskRegistry } from 'SRC/backends/sqlite/index.js'
export async function run(open: () => PostgresSessionTaskRegistry, lite: () => SqliteSessionTaskRegistry) {
  const registry = new InMemorySessionTaskRegistry()
  using queue = createWakeQueue(registry)
  using sub = registry.subscribe('s', () => {})
  using all = registry.subscribeAll(() => {})
  await using pg = open()
  await using sqlite = lite()
  const disposables: Disposable[] = [queue, sub, all]
  const asyncDisposables: AsyncDisposable[] = [pg, sqlite]
  return [disposables, asyncDisposables]
}
export type Check = WakeQueue extends Disposable ? true : never
export const check: Check = true
`

/** Type-checks `code` as a consumer module of the sources under `lib`; returns tsc's output. */
async function typeCheck(dir: string, name: string, lib: string[], code: string) {
  await writeFile(path.join(dir, `${name}.mts`), code.replaceAll('SRC', SRC))
  // The sources compile under the build's flags with the consumer's lib, and
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

describe('disposable members for TypeScript consumers', () => {
  test('the queue, subscriptions and the SQL registries type-check under ES2022 + DOM and with `using` under ESNext', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'session-tasks-disposable-'))
    try {
      const [older, newer] = await Promise.all([
        typeCheck(dir, 'es2022', ['ES2022', 'DOM'], OLDER_LIB),
        typeCheck(dir, 'esnext', ['ESNext', 'DOM'], NEWER_LIB),
      ])
      expect(older).toBe('')
      expect(newer).toBe('')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
