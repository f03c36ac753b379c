export type {
  ContractAssertion,
  ContractBody,
  ContractExpect,
  ContractHook,
  ContractMatchers,
  ContractRunner,
  ContractTest,
} from './runner.js'
export { describeRegistryContract } from './suite.js'
export type {
  RegistryContractFactory,
  RegistryContractFactoryOptions,
  RegistryContractOptions,
} from './types.js'
