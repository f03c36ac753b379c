// Wires the contract's groups into one `describe`, on the given runner.
import { claimsTests } from './claims.js'
import { createTests } from './create.js'
import { deleteSessionTests } from './delete-session.js'
import { eventsTests } from './events.js'
import { getAndListTests } from './get-and-list.js'
import { type GroupContext, harnessPool, sharedAssertions, withMessages } from './harness.js'
import { immutabilityTests } from './immutability.js'
import { isolationTests } from './isolation.js'
import { listMessagesTests } from './list-messages.js'
import { listStaleTests } from './list-stale.js'
import { pruneTests } from './prune.js'
import { publishOutputTests } from './publish-output.js'
import { queriesTests } from './queries.js'
import { recordFieldsTests } from './record-fields.js'
import { recordMessageTests } from './record-message.js'
import { requestCancelTests } from './request-cancel.js'
import { resolveRunner } from './runner.js'
import { secretsTests } from './secrets.js'
import { storedValuesTests } from './stored-values.js'
import { streamTests } from './stream.js'
import type { RegistryContractFactory, RegistryContractOptions } from './types.js'
import { updateTests } from './update.js'
import { updateWithOutcomeTests } from './update-with-outcome.js'
import { validationTests } from './validation.js'
import { wakesTests } from './wakes.js'

/** The groups, in the order they run. */
const GROUPS: [title: string, define: (context: GroupContext) => void][] = [
  ['create', createTests],
  ['update', updateTests],
  ['updateWithOutcome', updateWithOutcomeTests],
  ['get and list', getAndListTests],
  ['requestCancel', requestCancelTests],
  ['recordMessage', recordMessageTests],
  ['listMessages', listMessagesTests],
  ['publishOutput', publishOutputTests],
  ['events and listeners', eventsTests],
  ['wakes', wakesTests],
  ['secrets', secretsTests],
  ['immutability', immutabilityTests],
  ['stored values', storedValuesTests],
  ['isolation', isolationTests],
  ['listStale', listStaleTests],
  ['claims', claimsTests],
  ['prune', pruneTests],
  ['record fields (0.2)', recordFieldsTests],
  ['find, query and delete', queriesTests],
  ['deleteSession', deleteSessionTests],
  ['stream', streamTests],
  ['validation', validationTests],
]

/**
 * Defines, inside `describe(name)`, the behaviour every SessionTaskRegistry
 * backend must show (SPEC 4, 4.1, 5, 6, 10 and 12.1). `makeRegistry` must
 * return an empty registry that stamps time with the given `now`; each test
 * makes its own and `options.cleanup` runs after it. The tests register with
 * `options.runner`, else with the runner's globals (Jest, vitest with
 * `globals: true`); without either it throws (see `session-tasks/testing/vitest`).
 */
export function describeRegistryContract(
  name: string,
  makeRegistry: RegistryContractFactory,
  options: RegistryContractOptions = {},
): void {
  const runner = resolveRunner(options.runner, 'describeRegistryContract')
  const { describe, test, beforeEach, afterEach } = runner
  const expect = withMessages(runner.expect)
  const assertions = sharedAssertions(expect)
  const skip = new Set(options.skip ?? [])

  describe(name, () => {
    const pool = harnessPool(makeRegistry, options.cleanup)
    beforeEach(() => pool.reset())
    afterEach(() => pool.release())

    for (const [title, define] of GROUPS) {
      describe(title, () => {
        define({
          it(testTitle, fn) {
            const skipped =
              skip.has(title) || skip.has(testTitle) || skip.has(`${title} > ${testTitle}`)
            // Zero-argument bodies: node:test treats a two-argument one as callback style.
            if (!skipped) test(testTitle, () => fn())
            else test.skip?.(testTitle, () => fn())
          },
          expect,
          setup: pool.setup,
          ...assertions,
        })
      })
    }
  })
}
