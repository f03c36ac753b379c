export type {
  ContractAssertion,
  ContractBody,
  ContractExpect,
  ContractHook,
  ContractMatchers,
  ContractRunner,
  ContractTest,
  RegistryContractFactory,
  RegistryContractFactoryOptions,
  RegistryContractOptions,
} from './contract/index.js'
export { describeRegistryContract } from './contract/index.js'
export type { EventRecorder } from './helpers.js'
export { createTestRegistry, expectTaskToSettle, recordEvents } from './helpers.js'
export type { ManualClock } from './manual-clock.js'
export { createManualClock } from './manual-clock.js'
