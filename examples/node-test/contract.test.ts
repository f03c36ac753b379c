// The registry conformance suite under node:test, with Jest's standalone
// `expect` package for assertions: no vitest anywhere. Run it with
//   node --import tsx --test examples/node-test/contract.test.ts
// (test/testing.test.ts runs it this way and checks that every test passes).
import { after, afterEach, beforeEach, describe, test } from 'node:test'
import { expect } from 'expect'
import { InMemorySessionTaskRegistry } from '../../src/index.js'
import { type ContractRunner, describeRegistryContract } from '../../src/testing/index.js'

// node:test names its suite-level hook `after`; the rest fits as is. Every
// test passes here, the frozen-record and well-formed-string ones included,
// so nothing is skipped (`skip: ['group', 'title', 'group > title']` would).
const runner: ContractRunner = { describe, test, beforeEach, afterEach, afterAll: after, expect }

describeRegistryContract(
  'InMemorySessionTaskRegistry under node:test',
  (options) => new InMemorySessionTaskRegistry(options),
  { runner },
)
