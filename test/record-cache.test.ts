import { describe, expect, test } from 'vitest'
import { nextVersion, RecordCache } from '../src/backends/postgres/record-cache.js'
import { newSessionTask } from '../src/rules/create.js'

const task = (id: string, sessionId = 's') =>
  newSessionTask({ sessionId, id, kind: 'k', displayName: id }, new Date(0))

describe('RecordCache', () => {
  test('answers only for the task’s own session', () => {
    const cache = new RecordCache(10)
    cache.set({ task: task('a'), version: '3', ord: '7' })
    expect(cache.get('s', 'a')?.version).toBe('3')
    expect(cache.get('other', 'a')).toBeUndefined()
    cache.forget('a')
    expect(cache.get('s', 'a')).toBeUndefined()
  })

  test('keeps at most max entries, dropping the least recently used', () => {
    const cache = new RecordCache(2)
    cache.set({ task: task('a'), version: '0', ord: '1' })
    cache.set({ task: task('b'), version: '0', ord: '2' })
    cache.get('s', 'a')
    cache.set({ task: task('c'), version: '0', ord: '3' })
    expect(cache.get('s', 'b')).toBeUndefined()
    expect(cache.get('s', 'a')?.ord).toBe('1')
    expect(cache.get('s', 'c')?.ord).toBe('3')
  })

  test('versions count past 2^53 exactly', () => {
    expect(nextVersion('0')).toBe('1')
    expect(nextVersion('9007199254740993')).toBe('9007199254740994')
  })
})
