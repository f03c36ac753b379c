// The few test-runner functions the conformance suites call, typed
// structurally so vitest's, Jest's and node:test's (with the `expect`
// package) all fit without an adapter. Nothing here imports a runner.

/** A test or hook body as the suites write it: no arguments, maybe async. */
export type ContractBody = () => Promise<void> | void

/** Registers one test: `test(title, body)`, with an optional `test.skip` of the same shape. */
export type ContractTest = ((title: string, body: ContractBody) => unknown) & {
  /** Registers a skipped test; when a runner has none, skipped tests are not registered. */
  skip?: ((title: string, body: ContractBody) => unknown) | undefined
}

/** Registers a hook (`beforeEach`, `afterEach`, `afterAll`) in the enclosing `describe`. */
export type ContractHook = (body: ContractBody) => unknown

/** The matchers the suites use, as Jest, vitest and the `expect` package spell them. */
export interface ContractMatchers {
  /** `Object.is` equality. */
  toBe(expected: unknown): unknown
  /** Recursive equality. */
  toEqual(expected: unknown): unknown
  /** Recursive equality that also compares `undefined` keys, array sparseness and types. */
  toStrictEqual(expected: unknown): unknown
  /** The received object holds (recursively) the expected subset. */
  toMatchObject(expected: Record<string, unknown>): unknown
  /** The received string matches the pattern or contains the string. */
  toMatch(expected: string | RegExp): unknown
  /** The received value has a `length` of `expected`. */
  toHaveLength(expected: number): unknown
  /** The received array or string contains `expected`. */
  toContain(expected: unknown): unknown
  /** The received value is `undefined`. */
  toBeUndefined(): unknown
  /** The received value is `null`. */
  toBeNull(): unknown
  /** The received number is greater than `expected`. */
  toBeGreaterThan(expected: number): unknown
  /** The received number is at least `expected`. */
  toBeGreaterThanOrEqual(expected: number): unknown
  /** The received value is an instance of `expected`. */
  toBeInstanceOf(expected: unknown): unknown
  /** The received function throws (an instance of `expected`, when given). */
  toThrow(expected?: new (...args: never[]) => Error): unknown
}

/** What `expect(value)` returns: the matchers and their negation under `not`. */
export interface ContractAssertion extends ContractMatchers {
  /** The same matchers, negated. */
  readonly not: ContractMatchers
}

/** `expect(value)`: vitest's, Jest's global, or the `expect` package's default export. */
export type ContractExpect = (actual: unknown) => ContractAssertion

/**
 * The test-runner functions a conformance suite registers its tests with.
 * vitest: `import * as vitest from 'vitest'` fits as is (or use
 * `session-tasks/testing/vitest`); Jest: its globals; node:test:
 * `{ describe, test, beforeEach, afterEach, afterAll: after, expect }` with
 * `expect` from the `expect` package.
 */
export type ContractRunner = {
  /** Groups tests under a title; the body registers them synchronously. */
  describe: (title: string, body: () => void) => unknown
  /** Registers one test. */
  test: ContractTest
  /** Runs a body before each test of the enclosing `describe`. */
  beforeEach: ContractHook
  /** Runs a body after each test of the enclosing `describe`. */
  afterEach: ContractHook
  /** Runs a body once after the enclosing `describe`'s last test (needed by `describePostgresRegistry`). */
  afterAll?: ContractHook | undefined
  /** Makes assertions; a failed one throws. */
  expect: ContractExpect
}

const REQUIRED = ['describe', 'test', 'beforeEach', 'afterEach', 'expect'] as const

/**
 * The runner to use: `runner` when given, else the runner's globals
 * (`describe`, `test`, `beforeEach`, `afterEach`, `expect`, and `afterAll`
 * when `needs` lists it) when they all exist, as under Jest or vitest with
 * `globals: true`. Throws an Error naming what is missing otherwise.
 */
export function resolveRunner(
  runner: ContractRunner | undefined,
  caller: string,
  needs: readonly 'afterAll'[] = [],
): ContractRunner {
  if (runner !== undefined) {
    const absent = needs.filter((key) => typeof runner[key] !== 'function')
    if (absent.length > 0) {
      throw new Error(
        `${caller}: the runner passed as \`runner\` has no ${absent.join(', ')} (under node:test, pass \`afterAll: after\`)`,
      )
    }
    return runner
  }
  const globals = globalThis as Record<string, unknown>
  const missing = [...REQUIRED, ...needs].filter((key) => typeof globals[key] !== 'function')
  if (missing.length > 0) {
    throw new Error(
      `${caller} needs a test runner, and no global ${missing.join(', ')} was found: ` +
        'pass `runner: { describe, test, beforeEach, afterEach, expect }` from your test runner ' +
        "(under vitest, `import * as vitest from 'vitest'` and `runner: vitest`), " +
        "enable your runner's globals (vitest's `globals: true`), " +
        "or import describeRegistryContract from 'session-tasks/testing/vitest'",
    )
  }
  return {
    describe: globals.describe as ContractRunner['describe'],
    test: globals.test as ContractTest,
    beforeEach: globals.beforeEach as ContractHook,
    afterEach: globals.afterEach as ContractHook,
    afterAll: globals.afterAll as ContractHook | undefined,
    expect: globals.expect as ContractExpect,
  }
}
