// Type errors and hovers should name the public types (`SessionTask`), not
// print the object type zod infers. This compiles a small wrong snippet
// against src/ with the TypeScript compiler API and reads the diagnostics.
import path from 'node:path'
import ts from 'typescript'
import { beforeAll, describe, expect, test } from 'vitest'

const ROOT = path.join(import.meta.dirname, '..')
// Inside test/, so `../src/index.js` resolves as it does for the real tests.
const SNIPPET = path.join(ROOT, 'test', '__type_names_snippet__.ts')

const CODE = `
import type {
  CreateSessionTask,
  NewTaskMessage,
  SessionTask,
  SessionTaskUpdate,
  TaskArtifact,
  TaskMessage,
  TaskMessagePart,
  TaskProgress,
  TaskWake,
  TerminalSessionTask,
} from '../src/index.js'

type ReviewSpec = { readonly repo: string }
declare const task: SessionTask
declare const review: SessionTask<ReviewSpec>
declare const finished: TerminalSessionTask

export const a: number = task
export const b: number = {} as TaskMessage
export const c: number = {} as TaskWake
export const d: number = {} as SessionTaskUpdate
export const e: CreateSessionTask = { sessionId: 's', kind: 'k' }
export const f: number = {} as NewTaskMessage
export const g: number = {} as TaskProgress
export const h: number = {} as TaskArtifact
export const i: number = {} as TaskMessagePart
export const j: number = review
export const k: number = finished
export const hover = task
`

function compile(): { messages: string[]; hover: string } {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )
  if (config === undefined) throw new Error('tsconfig.json did not parse')
  const host = ts.createCompilerHost(config.options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, ...rest) =>
    path.resolve(name) === SNIPPET
      ? ts.createSourceFile(name, CODE, language)
      : getSourceFile(name, language, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => path.resolve(name) === SNIPPET || fileExists(name)
  const program = ts.createProgram({ rootNames: [SNIPPET], options: config.options, host })
  const source = program.getSourceFile(SNIPPET)
  if (source === undefined) throw new Error('the snippet was not compiled')
  const messages = ts
    .getPreEmitDiagnostics(program, source)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
  const checker = program.getTypeChecker()
  let hover = ''
  source.forEachChild(function visit(node): void {
    if (ts.isVariableDeclaration(node) && node.name.getText(source) === 'hover') {
      hover = checker.typeToString(checker.getTypeAtLocation(node.name))
    }
    node.forEachChild(visit)
  })
  return { messages, hover }
}

describe('public type names in diagnostics', () => {
  let messages: string[] = []
  let hover = ''
  // Type-checking src/ takes seconds on a busy machine.
  beforeAll(() => {
    ;({ messages, hover } = compile())
  }, 60_000)
  const first = (line: string) => messages.map((m) => m.split('\n')[0]).filter((m) => m === line)

  test('assignment errors name the record, message, wake, update and part types', () => {
    for (const name of [
      'SessionTask',
      'TaskMessage',
      'TaskWake',
      'SessionTaskUpdate',
      'NewTaskMessage',
      'TaskProgress',
      'TaskArtifact',
      'TaskMessagePart',
      'SessionTask<ReviewSpec>',
      'TerminalSessionTask',
    ]) {
      expect(first(`Type '${name}' is not assignable to type 'number'.`), name).toHaveLength(1)
    }
  })

  test('a missing field names CreateSessionTask', () => {
    expect(messages).toContain(
      "Property 'displayName' is missing in type '{ sessionId: string; kind: string; }' but required in type 'CreateSessionTask'.",
    )
  })

  test('no diagnostic spells out a record field by field', () => {
    expect(messages.length).toBe(11)
    for (const message of messages) expect(message).not.toContain('readonly id: string')
  })

  test('a hover over a record shows its name', () => {
    expect(hover).toBe('SessionTask')
  })
})
