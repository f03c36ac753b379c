import { InMemorySessionTaskRegistry } from '../src/index.js'
import { describeRegistryContract } from '../src/testing/vitest.js'

describeRegistryContract('InMemorySessionTaskRegistry', (o) => new InMemorySessionTaskRegistry(o))
