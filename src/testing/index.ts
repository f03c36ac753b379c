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
export type { EventRecorder, ManualClock } from './helpers.js'
export {
  createManualClock,
  createTestRegistry,
  expectTaskToSettle,
  recordEvents,
} from './helpers.js'
