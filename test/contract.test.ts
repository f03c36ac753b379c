import { InMemorySessionTaskRegistry } from '../src/index.js'
import { describeRegistryContract } from '../src/testing/contract.js'

describeRegistryContract('InMemorySessionTaskRegistry', (o) => new InMemorySessionTaskRegistry(o))
