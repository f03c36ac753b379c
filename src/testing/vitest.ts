// The vitest binding: the only module of session-tasks/testing that imports vitest.
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest'
import {
  type ContractRunner,
  describeRegistryContract as describeOn,
  type RegistryContractFactory,
  type RegistryContractOptions,
} from './contract/index.js'

/** vitest's functions as a {@link ContractRunner}, for `describePostgresRegistry` or your own suites. */
export const vitestRunner: ContractRunner = {
  describe,
  test,
  beforeEach,
  afterEach,
  afterAll,
  expect,
}

/**
 * {@link describeOn | describeRegistryContract} registered with vitest (no
 * globals needed); `options.runner`, when given, still wins.
 */
export function describeRegistryContract(
  name: string,
  makeRegistry: RegistryContractFactory,
  options: RegistryContractOptions = {},
): void {
  describeOn(name, makeRegistry, { ...options, runner: options.runner ?? vitestRunner })
}
