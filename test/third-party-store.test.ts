import { SessionTaskRegistryCore } from '../src/index.js'
import { describeRegistryContract } from '../src/testing/vitest.js'
import { JsonStore } from './fixtures/json-store.js'

// The storage port proven by a backend that uses nothing but the exported
// types: the whole conformance suite runs on the core over it.
describeRegistryContract(
  'SessionTaskRegistryCore over a third-party JSON store',
  (options) =>
    new SessionTaskRegistryCore(new JsonStore({ replayBuffer: options.replayBuffer }), {
      now: options.now,
      onListenerError: options.onListenerError,
    }),
)
