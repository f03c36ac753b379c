import { describe, expect, test } from 'vitest'
import {
  createTaskSupervisor,
  createWakeQueue,
  InMemorySessionTaskRegistry,
  isValidationError,
  RegistryTaskSink,
  type SessionTaskRegistry,
  sinceFromLastEventId,
  TaskExecutorRegistry,
} from '../src/index.js'

// Bad options and caller-supplied functions that misbehave are a
// ValidationError naming what is wrong, never a raw TypeError or RangeError
// from deep inside (issue: trust across faults, item 15).

function expectValidation(run: () => unknown, field: string): void {
  let error: unknown
  try {
    run()
  } catch (e) {
    error = e
  }
  expect(isValidationError(error), `expected a ValidationError, got ${String(error)}`).toBe(true)
  expect((error as Error).message).toContain(field)
}

async function expectValidationAsync(run: () => Promise<unknown>, field: string): Promise<void> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isValidationError(error), `expected a ValidationError, got ${String(error)}`).toBe(true)
  expect((error as Error).message).toContain(field)
}

const notARegistry = {} as SessionTaskRegistry

describe('bad options', () => {
  test('createTaskSupervisor with something that is not a registry', () => {
    expectValidation(() => createTaskSupervisor({ registry: notARegistry }), 'registry')
  })

  test('createWakeQueue with something that is not a registry', () => {
    expectValidation(() => createWakeQueue(notARegistry), 'registry')
  })

  test('new RegistryTaskSink with something that is not a registry', () => {
    expectValidation(() => new RegistryTaskSink(notARegistry, 's', 't'), 'registry')
  })

  test('sinceFromLastEventId with a repeated header (an array)', () => {
    expectValidation(() => sinceFromLastEventId(['1'] as unknown as string), 'lastEventId')
    expect(sinceFromLastEventId('7')).toBe(7)
    expect(sinceFromLastEventId(undefined)).toBeUndefined()
  })

  test('a plugin whose factory throws', () => {
    const executors = new TaskExecutorRegistry()
    expectValidation(
      () =>
        executors.register({
          kind: 'k',
          executor: () => {
            throw new Error('no config')
          },
        }),
      'the factory threw: no config',
    )
    expect(executors.kinds()).toEqual([])
  })

  test('a registry clock that returns an invalid Date or throws: the write fails cleanly, nothing is stored', async () => {
    const registry = new InMemorySessionTaskRegistry({ now: () => new Date(Number.NaN) })
    await expectValidationAsync(
      () => registry.create({ sessionId: 's', kind: 'k', displayName: 'd' }),
      'now',
    )
    expect(await registry.list('s')).toEqual([])
    const throwing = new InMemorySessionTaskRegistry({
      now: () => {
        throw new Error('clock broke')
      },
    })
    await expectValidationAsync(
      () => throwing.create({ sessionId: 's', kind: 'k', displayName: 'd' }),
      'now',
    )
  })

  test('a supervisor clock that returns something other than a Date', async () => {
    const registry = new InMemorySessionTaskRegistry()
    const supervisor = createTaskSupervisor({
      registry,
      executors: new TaskExecutorRegistry(),
      now: (() => 42) as unknown as () => Date,
    })
    await expectValidationAsync(() => supervisor.reap(), 'now')
    await supervisor.close()
  })
})
