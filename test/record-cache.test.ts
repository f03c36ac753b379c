import { describe, expect, test } from 'vitest'
import { nextVersion, RecordCache } from '../src/backends/postgres/record-cache.js'
import { newSessionTask } from '../src/rules/create.js'

const task = (id: string, sessionId = 's') =>
  newSessionTask({ sessionId, id, kind: 'k', displayName: id }, new Date(0))

describe('RecordCache', () => {
  test('answers only for the task’s own session', () => {
    const cache = new RecordCache(10)
    cache.set({ task: task('a'), version: '3', ord: '7', bytes: 100 })
    expect(cache.get('s', 'a')?.version).toBe('3')
    expect(cache.get('other', 'a')).toBeUndefined()
    cache.forget('a')
    expect(cache.get('s', 'a')).toBeUndefined()
  })

  test('keeps at most max entries, dropping the least recently used', () => {
    const cache = new RecordCache(2)
    cache.set({ task: task('a'), version: '0', ord: '1', bytes: 100 })
    cache.set({ task: task('b'), version: '0', ord: '2', bytes: 100 })
    cache.get('s', 'a')
    cache.set({ task: task('c'), version: '0', ord: '3', bytes: 100 })
    expect(cache.get('s', 'b')).toBeUndefined()
    expect(cache.get('s', 'a')?.ord).toBe('1')
    expect(cache.get('s', 'c')?.ord).toBe('3')
  })

  test('keeps no record over 64 KiB, at most 8 MiB in all, and forgets a deleted session', () => {
    const cache = new RecordCache(10_000)
    cache.set({ task: task('big'), version: '0', ord: '1', bytes: 64 * 1024 + 1 })
    expect(cache.get('s', 'big')).toBeUndefined()
    for (let i = 0; i < 200; i++) {
      cache.set({
        task: task(`t${i}`, i % 2 === 0 ? 's' : 'x'),
        version: '0',
        ord: `${i}`,
        bytes: 60 * 1024,
      })
    }
    expect(cache.size().bytes).toBeLessThanOrEqual(8 * 1024 * 1024)
    expect(cache.get('x', 't199')).toBeDefined()
    expect(cache.get('s', 't0')).toBeUndefined()
    cache.forgetSession('x')
    expect(cache.get('x', 't199')).toBeUndefined()
    expect(cache.size().records).toBeGreaterThan(0)
    const left = cache.size()
    expect(left.bytes).toBe(left.records * 60 * 1024)
  })

  test('versions count past 2^53 exactly', () => {
    expect(nextVersion('0')).toBe('1')
    expect(nextVersion('9007199254740993')).toBe('9007199254740994')
  })
})
