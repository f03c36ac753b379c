import { describe, expect, test } from 'vitest'
import { WatchSet } from '../src/backends/watch-set.js'

describe('WatchSet', () => {
  test('a session is followed until its last listener is released, and gone runs once then', () => {
    const set = new WatchSet()
    const gone: (string | undefined)[] = []
    const a = set.add('s', (id) => gone.push(id))
    const b = set.add('s', (id) => gone.push(id))
    expect(set.follows('s')).toBe(true)
    a()
    a()
    expect(set.follows('s')).toBe(true)
    expect(gone).toEqual([])
    b()
    expect(set.follows('s')).toBe(false)
    expect(gone).toEqual(['s'])
    expect(set.size).toBe(0)
  })

  test('a listener of every session follows them all without counting as one of them', () => {
    const set = new WatchSet()
    const gone: (string | undefined)[] = []
    const all = set.add(undefined, (id) => gone.push(id))
    expect(set.everySession).toBe(true)
    expect(set.follows('anything')).toBe(true)
    expect(set.has('anything')).toBe(false)
    all()
    all()
    expect(set.everySession).toBe(false)
    expect(gone).toEqual([undefined])
  })

  test('delete drops a deleted session at once; a later release of it is harmless', () => {
    const set = new WatchSet()
    const gone: (string | undefined)[] = []
    const off = set.add('s', (id) => gone.push(id))
    set.delete('s')
    expect(set.follows('s')).toBe(false)
    off()
    expect(set.size).toBe(0)
    // The deletion already dropped it: nothing is left to be told gone.
    expect(gone).toEqual([])
  })

  test('a release from before a deletion leaves the next life of the session followed', () => {
    const set = new WatchSet()
    const gone: (string | undefined)[] = []
    const old = set.add('s', (id) => gone.push(id))
    set.delete('s')
    const fresh = set.add('s', (id) => gone.push(id))
    old()
    expect(set.follows('s')).toBe(true)
    expect(set.size).toBe(1)
    fresh()
    expect(set.follows('s')).toBe(false)
    expect(gone).toEqual(['s'])
  })
})
