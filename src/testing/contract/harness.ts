// The per-test harness of the contract (a fresh registry on a hand-driven
// clock, recorders, streams closed afterwards) and what each group gets.
import type { SessionTaskRegistry } from '../../registry/registry.js'
import type { StreamItem, StreamOptions } from '../../stream/stream.js'
import { type ListenerErrorReport, type Seen, type SeenAll, T0 } from './helpers.js'
import type { ContractAssertion, ContractBody, ContractExpect, ContractMatchers } from './runner.js'
import type { RegistryContractFactory, RegistryContractFactoryOptions } from './types.js'

/** A registry under test, its hand-driven clock and what its listeners saw. */
export type Harness = {
  registry: SessionTaskRegistry
  /** The clock's current instant as an ISO string. */
  iso(): string
  /** Moves the clock by `ms` (negative goes back) and returns the new ISO string. */
  tick(ms?: number): string
  /** Sets the clock to `T0 + ms` and returns its ISO string. */
  at(ms: number): string
  listenerErrors: ListenerErrorReport[]
  /** Records one session's events through `subscribe`. */
  record(sessionId: string): Seen[]
  /** Records every session's events through `subscribeAll`. */
  recordAll(): SeenAll[]
  /** Opens a stream iterator that is closed after the test. */
  stream(sessionId: string, options?: StreamOptions): AsyncIterator<StreamItem>
}

/** Registers one test of a group (honouring the `skip` option). */
export type It = (title: string, fn: ContractBody) => void

/** The runner's `expect`, plus an optional message put in front of a failure. */
export type GroupExpect = (actual: unknown, message?: string) => ContractAssertion

/** What a group's definition gets. */
export type GroupContext = {
  /** Registers a test in the group. */
  it: It
  /** Makes assertions. */
  expect: GroupExpect
  /** Builds a fresh registry (and harness) for the current test. */
  setup(extra?: { replayBuffer?: number }): Promise<Harness>
  /** Asserts that no key of a record (or message) holds `undefined` or `null`: absent means absent. */
  expectNoEmptyKeys(value: object): void
  /** Asserts that `value` is frozen at every level. */
  expectDeepFrozen(value: unknown, path?: string): void
}

/** The harness factory of one suite, and the cleanup its `afterEach` runs. */
export type HarnessPool = {
  /** Builds a fresh registry (and harness) for the current test. */
  setup(extra?: { replayBuffer?: number }): Promise<Harness>
  /** Forgets the previous test's harnesses (for `beforeEach`). */
  reset(): void
  /** Closes the current test's streams and runs `cleanup` on its registries (for `afterEach`). */
  release(): Promise<void>
}

/** The harnesses of one suite: `makeRegistry` per test, `cleanup` after it. */
export function harnessPool(
  makeRegistry: RegistryContractFactory,
  cleanup: ((registry: SessionTaskRegistry) => Promise<void> | void) | undefined,
): HarnessPool {
  let harnesses: { registry: SessionTaskRegistry; streams: AsyncIterator<StreamItem>[] }[] = []
  return {
    reset() {
      harnesses = []
    },
    async release() {
      const done = harnesses
      harnesses = []
      for (const h of done) {
        try {
          for (const it of h.streams) await it.return?.()
        } finally {
          await cleanup?.(h.registry)
        }
      }
    },
    async setup(extra = {}) {
      let time = T0
      const listenerErrors: ListenerErrorReport[] = []
      const factoryOptions: RegistryContractFactoryOptions = {
        now: () => new Date(time),
        onListenerError: (error, type, payload) => listenerErrors.push({ error, type, payload }),
      }
      if (extra.replayBuffer !== undefined) factoryOptions.replayBuffer = extra.replayBuffer
      const registry = await makeRegistry(factoryOptions)
      const streams: AsyncIterator<StreamItem>[] = []
      harnesses.push({ registry, streams })
      const iso = () => new Date(time).toISOString()
      return {
        registry,
        iso,
        tick(ms = 1000) {
          time += ms
          return iso()
        },
        at(ms) {
          time = T0 + ms
          return iso()
        },
        listenerErrors,
        record(sessionId) {
          const seen: Seen[] = []
          registry.subscribe(sessionId, (type, payload) => seen.push({ type, payload }))
          return seen
        },
        recordAll() {
          const seen: SeenAll[] = []
          registry.subscribeAll((sessionId, type, payload) =>
            seen.push({ sessionId, type, payload }),
          )
          return seen
        },
        stream(sessionId, streamOptions) {
          const it = registry.stream(sessionId, streamOptions)[Symbol.asyncIterator]()
          streams.push(it)
          return it
        },
      }
    },
  }
}

const MATCHERS = [
  'toBe',
  'toEqual',
  'toStrictEqual',
  'toMatchObject',
  'toMatch',
  'toHaveLength',
  'toContain',
  'toBeUndefined',
  'toBeNull',
  'toBeGreaterThan',
  'toBeGreaterThanOrEqual',
  'toBeInstanceOf',
  'toThrow',
] as const satisfies readonly (keyof ContractMatchers)[]

/** Puts `message` in front of an assertion error's message (and its stack). */
function explain(error: unknown, message: string): unknown {
  if (error instanceof Error) {
    const original = error.message
    error.message = `${message}: ${original}`
    if (typeof error.stack === 'string') error.stack = error.stack.replace(original, error.message)
  }
  return error
}

function explained(matchers: ContractMatchers, message: string): ContractMatchers {
  const out: Partial<Record<keyof ContractMatchers, unknown>> = {}
  for (const name of MATCHERS) {
    out[name] = (...args: unknown[]) => {
      try {
        return (matchers[name] as (...a: unknown[]) => unknown).apply(matchers, args)
      } catch (error) {
        throw explain(error, message)
      }
    }
  }
  return out as ContractMatchers
}

/**
 * `expect` with an optional failure message, on a runner whose `expect`
 * takes one argument (Jest's refuses a second).
 */
export function withMessages(expect: ContractExpect): GroupExpect {
  return (actual, message) => {
    const assertion = expect(actual)
    if (message === undefined) return assertion
    const positive = explained(assertion, message)
    return Object.defineProperty(positive, 'not', {
      get: () => explained(assertion.not, message),
    }) as ContractAssertion
  }
}

/** The assertions groups share, on the runner's `expect`. */
export function sharedAssertions(
  expect: GroupExpect,
): Pick<GroupContext, 'expectNoEmptyKeys' | 'expectDeepFrozen'> {
  const expectDeepFrozen = (value: unknown, path = 'value'): void => {
    if (typeof value !== 'object' || value === null) return
    expect(Object.isFrozen(value), `${path} is frozen`).toBe(true)
    for (const [key, item] of Object.entries(value)) expectDeepFrozen(item, `${path}.${key}`)
  }
  return {
    expectNoEmptyKeys(value) {
      for (const [key, v] of Object.entries(value)) {
        if (key === 'spec') continue
        expect(v, `key '${key}' must be absent rather than ${String(v)}`).not.toBeUndefined()
        expect(v, `key '${key}' must be absent rather than null`).not.toBeNull()
      }
    },
    expectDeepFrozen,
  }
}
