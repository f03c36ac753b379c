import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  DuplicateExecutorError,
  InMemorySessionTaskRegistry,
  isDuplicateExecutorError,
  isNoExecutorError,
  isSessionTaskError,
  isStaleAttemptError,
  isStreamOverflowError,
  isTaskConflictError,
  isTaskNotFoundError,
  isUnsupportedOperationError,
  isValidationError,
  NoExecutorError,
  SESSION_TASK_ERROR_CODES,
  SessionTaskError,
  type SessionTaskErrorCode,
  StaleAttemptError,
  StreamOverflowError,
  TaskConflictError,
  TaskNotFoundError,
  UnsupportedOperationError,
  ValidationError,
  type ValidationIssue,
} from '../src/index.js'

// SPEC 11: one base class with code, name and cause; one subclass and one
// guard per code; guards also recognise errors from another copy of the package.

type ErrorsModule = typeof import('../src/model/errors.js')
type Guard = (error: unknown) => boolean

const ISSUES: ValidationIssue[] = [
  { path: ['progress', 'current'], message: 'must not be negative' },
]

type Kind = {
  className: string
  code: SessionTaskErrorCode
  guard: Guard
  guardName: string
  make: (message: string, cause?: unknown) => SessionTaskError
  Class: abstract new (...args: never[]) => SessionTaskError
}

const opts = (cause: unknown) => (cause === undefined ? undefined : { cause })

const KINDS: Kind[] = [
  {
    className: 'ValidationError',
    code: 'validation',
    guard: isValidationError,
    guardName: 'isValidationError',
    make: (m, c) => new ValidationError(m, ISSUES, opts(c)),
    Class: ValidationError,
  },
  {
    className: 'TaskNotFoundError',
    code: 'task_not_found',
    guard: isTaskNotFoundError,
    guardName: 'isTaskNotFoundError',
    make: (m, c) => new TaskNotFoundError(m, opts(c)),
    Class: TaskNotFoundError,
  },
  {
    className: 'TaskConflictError',
    code: 'task_conflict',
    guard: isTaskConflictError,
    guardName: 'isTaskConflictError',
    make: (m, c) => new TaskConflictError(m, opts(c)),
    Class: TaskConflictError,
  },
  {
    className: 'StaleAttemptError',
    code: 'stale_attempt',
    guard: isStaleAttemptError,
    guardName: 'isStaleAttemptError',
    make: (m, c) => new StaleAttemptError(m, opts(c)),
    Class: StaleAttemptError,
  },
  {
    className: 'DuplicateExecutorError',
    code: 'duplicate_executor',
    guard: isDuplicateExecutorError,
    guardName: 'isDuplicateExecutorError',
    make: (m, c) => new DuplicateExecutorError(m, opts(c)),
    Class: DuplicateExecutorError,
  },
  {
    className: 'NoExecutorError',
    code: 'no_executor',
    guard: isNoExecutorError,
    guardName: 'isNoExecutorError',
    make: (m, c) => new NoExecutorError(m, opts(c)),
    Class: NoExecutorError,
  },
  {
    className: 'UnsupportedOperationError',
    code: 'unsupported',
    guard: isUnsupportedOperationError,
    guardName: 'isUnsupportedOperationError',
    make: (m, c) => new UnsupportedOperationError(m, opts(c)),
    Class: UnsupportedOperationError,
  },
  {
    className: 'StreamOverflowError',
    code: 'stream_overflow',
    guard: isStreamOverflowError,
    guardName: 'isStreamOverflowError',
    make: (m, c) => new StreamOverflowError(m, opts(c)),
    Class: StreamOverflowError,
  },
]

const NOT_OURS: [string, unknown][] = [
  ['a plain Error', new Error('validation')],
  ['a TypeError', new TypeError('bad')],
  ['null', null],
  ['undefined', undefined],
  ['a string', 'validation'],
  ['a number', 42],
  ['a plain object with a matching code', { code: 'validation', name: 'ValidationError' }],
  [
    'an Error with a matching code and name but no brand',
    Object.assign(new Error('x'), { code: 'task_not_found', name: 'TaskNotFoundError' }),
  ],
  [
    'an Error whose brand is not true',
    Object.defineProperty(
      Object.assign(new Error('x'), { code: 'validation' }),
      Symbol.for('session-tasks.error'),
      {
        value: 'yes',
      },
    ),
  ],
  ['a function', () => 'validation'],
]

describe('SessionTaskError (base class)', () => {
  it('is an Error carrying code, name, message and a stack', () => {
    const e = new SessionTaskError('task_not_found', 'no such task')
    expect(e).toBeInstanceOf(Error)
    expect(e).toBeInstanceOf(SessionTaskError)
    expect(e.code).toBe('task_not_found')
    expect(e.name).toBe('SessionTaskError')
    expect(e.message).toBe('no such task')
    expect(typeof e.stack).toBe('string')
    expect(String(e)).toBe('SessionTaskError: no such task')
  })

  it('keeps the cause it was given, and has no cause when none was given', () => {
    const cause = new RangeError('root')
    expect(new SessionTaskError('unsupported', 'm', { cause }).cause).toBe(cause)
    expect(new SessionTaskError('unsupported', 'm', { cause: 'text cause' }).cause).toBe(
      'text cause',
    )
    const bare = new SessionTaskError('unsupported', 'm')
    expect(bare.cause).toBeUndefined()
    expect(Object.hasOwn(bare, 'cause')).toBe(false)
  })

  it('is recognised by isSessionTaskError and by the guard of its code', () => {
    const e = new SessionTaskError('stale_attempt', 'm')
    expect(isSessionTaskError(e)).toBe(true)
    expect(isStaleAttemptError(e)).toBe(true)
    expect(isValidationError(e)).toBe(false)
  })

  it('lists exactly the eight codes of SPEC 11', () => {
    expect([...SESSION_TASK_ERROR_CODES]).toEqual([
      'validation',
      'task_not_found',
      'task_conflict',
      'stale_attempt',
      'duplicate_executor',
      'no_executor',
      'unsupported',
      'stream_overflow',
    ])
    expect(KINDS.map((k) => k.code).sort()).toEqual([...SESSION_TASK_ERROR_CODES].sort())
  })
})

describe.each(KINDS)('$className', (kind) => {
  it(`has code '${kind.code}' and name '${kind.className}'`, () => {
    const e = kind.make('went wrong')
    expect(e.code).toBe(kind.code)
    expect(e.name).toBe(kind.className)
    expect(e.message).toBe('went wrong')
    expect(String(e)).toBe(`${kind.className}: went wrong`)
  })

  it('is an instance of itself, of SessionTaskError and of Error', () => {
    const e = kind.make('m')
    expect(e).toBeInstanceOf(kind.Class)
    expect(e).toBeInstanceOf(SessionTaskError)
    expect(e).toBeInstanceOf(Error)
  })

  it('keeps its cause', () => {
    const cause = new Error('root cause')
    expect(kind.make('m', cause).cause).toBe(cause)
    expect(Object.hasOwn(kind.make('m'), 'cause')).toBe(false)
  })

  it(`${kind.guardName} is true for it and isSessionTaskError too`, () => {
    const e = kind.make('m')
    expect(kind.guard(e)).toBe(true)
    expect(isSessionTaskError(e)).toBe(true)
  })

  it(`${kind.guardName} is false for every other error class`, () => {
    for (const other of KINDS) {
      if (other === kind) continue
      expect(kind.guard(other.make('m')), `${kind.guardName}(${other.className})`).toBe(false)
    }
  })

  it.each(NOT_OURS)(`${kind.guardName} and isSessionTaskError are false for %s`, (_what, value) => {
    expect(kind.guard(value)).toBe(false)
    expect(isSessionTaskError(value)).toBe(false)
  })
})

describe('ValidationError', () => {
  it('keeps the structured issues it was given', () => {
    const e = new ValidationError('invalid x', ISSUES)
    expect(e.issues).toStrictEqual(ISSUES)
  })

  it('narrows to a type with issues', () => {
    const e: unknown = new ValidationError('invalid x', ISSUES)
    if (isValidationError(e)) expectTypeOf(e.issues).toEqualTypeOf<ValidationIssue[]>()
    else expect.unreachable()
  })
})

describe('errors thrown by the registry are the documented classes', () => {
  it('ValidationError, TaskNotFoundError, TaskConflictError and StaleAttemptError', async () => {
    const r = new InMemorySessionTaskRegistry()
    await r.create({ sessionId: 's1', id: 't1', kind: 'k', displayName: 'd' })
    const validation = await r.get('', 't1').catch((e: unknown) => e)
    expect(validation).toBeInstanceOf(ValidationError)
    expect(isValidationError(validation)).toBe(true)
    const notFound = await r
      .recordMessage('s1', 'nope', { direction: 'inbound', content: [{ type: 'text', text: 'x' }] })
      .catch((e: unknown) => e)
    expect(notFound).toBeInstanceOf(TaskNotFoundError)
    expect((notFound as TaskNotFoundError).code).toBe('task_not_found')
    const conflict = await r
      .create({ sessionId: 's2', id: 't1', kind: 'k', displayName: 'd' })
      .catch((e: unknown) => e)
    expect(conflict).toBeInstanceOf(TaskConflictError)
    expect(isTaskConflictError(conflict)).toBe(true)
    const stale = await r
      .recordMessage('s1', 't1', {
        direction: 'outbound',
        content: [{ type: 'text', text: 'x' }],
        expectedAttempt: 2,
      })
      .catch((e: unknown) => e)
    expect(stale).toBeInstanceOf(StaleAttemptError)
    expect(isStaleAttemptError(stale)).toBe(true)
  })
})

describe('errors from another copy of the package', () => {
  async function loadCopy(): Promise<ErrorsModule> {
    // A query string makes the module loader evaluate errors.ts a second time:
    // a distinct module instance with its own classes, like a duplicated package.
    const specifier = '../src/model/errors.js?copy=2'
    return (await import(/* @vite-ignore */ specifier)) as ErrorsModule
  }

  it('the second copy really is a distinct module (instanceof fails across copies)', async () => {
    const copy = await loadCopy()
    expect(copy.ValidationError).not.toBe(ValidationError)
    expect(copy.SessionTaskError).not.toBe(SessionTaskError)
    const foreign = new copy.TaskNotFoundError('from the other copy')
    expect(foreign instanceof TaskNotFoundError).toBe(false)
    expect(foreign instanceof SessionTaskError).toBe(false)
  })

  it('local guards recognise every error class of the other copy, by code', async () => {
    const copy = await loadCopy()
    const foreign: [SessionTaskErrorCode, unknown][] = [
      ['validation', new copy.ValidationError('m', ISSUES)],
      ['task_not_found', new copy.TaskNotFoundError('m')],
      ['task_conflict', new copy.TaskConflictError('m')],
      ['stale_attempt', new copy.StaleAttemptError('m')],
      ['duplicate_executor', new copy.DuplicateExecutorError('m')],
      ['no_executor', new copy.NoExecutorError('m')],
      ['unsupported', new copy.UnsupportedOperationError('m')],
      ['stream_overflow', new copy.StreamOverflowError('m')],
    ]
    for (const [code, error] of foreign) {
      expect(isSessionTaskError(error), code).toBe(true)
      for (const kind of KINDS) {
        expect(kind.guard(error), `${kind.guardName} on a foreign ${code}`).toBe(kind.code === code)
      }
    }
  })

  it("the other copy's guards recognise this copy's errors", async () => {
    const copy = await loadCopy()
    for (const kind of KINDS) {
      const local = kind.make('m')
      expect(copy.isSessionTaskError(local)).toBe(true)
      expect(copy.isValidationError(local)).toBe(kind.code === 'validation')
      expect(copy.isStreamOverflowError(local)).toBe(kind.code === 'stream_overflow')
    }
  })

  it('a hand-made error with the registered brand and a code is recognised without the local class', () => {
    const foreign = new Error('made elsewhere')
    Object.defineProperty(foreign, Symbol.for('session-tasks.error'), { value: true })
    Object.assign(foreign, { code: 'task_not_found', name: 'TaskNotFoundError' })
    expect(foreign instanceof SessionTaskError).toBe(false)
    expect(isSessionTaskError(foreign)).toBe(true)
    expect(isTaskNotFoundError(foreign)).toBe(true)
    expect(isValidationError(foreign)).toBe(false)
    expect(isStaleAttemptError(foreign)).toBe(false)
  })

  it('a branded error with an unknown code is a SessionTaskError but matches no specific guard', () => {
    const foreign = new Error('future code')
    Object.defineProperty(foreign, Symbol.for('session-tasks.error'), { value: true })
    Object.assign(foreign, { code: 'something_new' })
    expect(isSessionTaskError(foreign)).toBe(true)
    for (const kind of KINDS) expect(kind.guard(foreign), kind.guardName).toBe(false)
  })
})
