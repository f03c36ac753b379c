import type { SessionTaskRegistry } from '../../registry/registry.js'
import type { ContractRunner } from './runner.js'

/** What {@link describeRegistryContract} passes to the registry factory for each test. */
export type RegistryContractFactoryOptions = {
  /** The clock the registry must stamp every record, message and wake with. */
  now: () => Date
  /** Where the registry must report errors thrown by listeners. */
  onListenerError?: (error: unknown, type: string, payload: unknown) => void
  /** How many recent events per session the registry must keep for `stream({ since })`. */
  replayBuffer?: number
}

/** Builds a fresh, empty registry for one test of the contract suite. */
export type RegistryContractFactory = (
  options: RegistryContractFactoryOptions,
) => SessionTaskRegistry | Promise<SessionTaskRegistry>

/** Options of {@link describeRegistryContract}. */
export type RegistryContractOptions = {
  /** Runs after each test with the registry it created (close pools, drop schemas). */
  cleanup?: (registry: SessionTaskRegistry) => Promise<void> | void
  /** Test titles (or `group > title`, or whole group titles) to skip. */
  skip?: string[]
  /**
   * The test runner to register the tests with; by default the runner's
   * globals (Jest, vitest with `globals: true`). See {@link ContractRunner}.
   */
  runner?: ContractRunner | undefined
}
