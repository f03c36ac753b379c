import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { type ElicitationSchema, elicitResultOf } from '../src/bridges/mcp/index.js'
import type { TaskMessage } from '../src/index.js'

// How an answer recorded in the registry becomes the ElicitResult the MCP
// server asked for, and how an answer that does not fit is refused.

const message = (content: TaskMessage['content']): TaskMessage =>
  ({
    id: 'm1',
    taskId: 't1',
    sessionId: 's1',
    direction: 'inbound',
    content,
    createdAt: new Date(0).toISOString(),
  }) as TaskMessage
const text = (t: string) => message([{ type: 'text', text: t }])
const data = (d: TaskMessage['content'][number] & { type: 'data' }) => message([d])

const confirm: ElicitationSchema = {
  type: 'object',
  properties: { confirm: { type: 'boolean' } },
  required: ['confirm'],
}
const form: ElicitationSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    colour: { type: 'string', enum: ['red', 'blue'] },
  },
  required: ['name'],
}

describe('elicitResultOf', () => {
  test.each([
    ['yes', true],
    ['No', false],
    [' true ', true],
    ['n', false],
  ])('a one-field boolean form takes %j as %s', (answer, value) => {
    expect(elicitResultOf(text(answer), confirm)).toEqual({
      action: 'accept',
      content: { confirm: value },
    })
  })

  test('decline and cancel are those actions, whatever the form', () => {
    expect(elicitResultOf(text('decline'), form)).toEqual({ action: 'decline' })
    expect(elicitResultOf(text('cancel'), confirm)).toEqual({ action: 'cancel' })
    expect(elicitResultOf(data({ type: 'data', data: { action: 'decline' } }), form)).toEqual({
      action: 'decline',
    })
  })

  test('a JSON text or a data part fills a form of several fields', () => {
    expect(elicitResultOf(text('{"name":"Ana","age":7}'), form)).toEqual({
      action: 'accept',
      content: { name: 'Ana', age: 7 },
    })
    expect(
      elicitResultOf(
        data({ type: 'data', data: { action: 'accept', content: { name: 'Bo', colour: 'red' } } }),
        form,
      ),
    ).toEqual({ action: 'accept', content: { name: 'Bo', colour: 'red' } })
  })

  test.each([
    [text('maybe'), confirm, "field 'confirm': must be yes or no"],
    [text('{"age":7}'), form, "field 'name': is required"],
    [text('{"name":"A","age":7.5}'), form, "field 'age': must be of type integer"],
    [text('{"name":"A","colour":"green"}'), form, "field 'colour': must be one of red, blue"],
    [text('{"name":"A","shoe":1}'), form, "field 'shoe': is not asked for"],
    [text('{"name":'), form, 'does not parse'],
    [text('Ana'), form, 'the form has 3 fields'],
  ])(
    'an answer that does not fit is refused with the field and the problem (%#)',
    (m, schema, problem) => {
      expect(() => elicitResultOf(m, schema)).toThrow(problem)
    },
  )

  test('any text answers a one-field string form as it is (trimmed)', () => {
    const one: ElicitationSchema = { type: 'object', properties: { note: { type: 'string' } } }
    fc.assert(
      fc.property(
        fc
          .string()
          .filter((s) => !['decline', 'cancel'].includes(s.trim()) && !s.trim().startsWith('{')),
        (s) => {
          expect(elicitResultOf(text(s), one)).toEqual({
            action: 'accept',
            content: { note: s.trim() },
          })
        },
      ),
    )
  })
})
