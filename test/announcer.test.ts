import { afterEach, describe, expect, test, vi } from 'vitest'
import { Announcer } from '../src/backends/postgres/announcer.js'
import type { SqlClient } from '../src/backends/postgres/sql-client.js'

/** A client that records what the announcer sends and can hold or fail a statement. */
function recordingClient() {
  const sent: { channel: unknown; notices: unknown[] }[] = []
  let hold: Promise<void> | undefined
  let failures = 0
  const client = {
    async query(_text: string, params?: unknown[]) {
      if (hold !== undefined) await hold
      if (failures > 0) {
        failures--
        throw new Error('connection lost')
      }
      const notices = (JSON.parse(String(params?.[1])) as string[]).map((n) => JSON.parse(n))
      sent.push({ channel: params?.[0], notices })
      return { rows: [] }
    },
  } as unknown as SqlClient
  return {
    client,
    sent,
    hold() {
      let open = () => {}
      hold = new Promise((resolve) => {
        open = resolve
      })
      return () => {
        hold = undefined
        open()
      }
    },
    fail(n: number) {
      failures = n
    },
  }
}

describe('Announcer', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  test('notices gather for 3 ms; one session is one notice spanning its seqs', async () => {
    vi.useFakeTimers()
    const c = recordingClient()
    const errors: unknown[] = []
    const a = new Announcer(c.client, 'ch', 'me', (e) => errors.push(e))
    a.add('s1', 'e1', 1, 1)
    await vi.advanceTimersByTimeAsync(2)
    a.add('s1', 'e1', 2, 3)
    a.add('s2', 'e9', 5, 5)
    expect(c.sent).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(c.sent).toEqual([
      {
        channel: 'ch',
        notices: [
          { o: 'me', s: 's1', e: 'e1', f: 1, q: 3 },
          { o: 'me', s: 's2', e: 'e9', f: 5, q: 5 },
        ],
      },
    ])
    expect(errors).toEqual([])
  })

  test('writes committed while a batch is out go in the next one, coalesced', async () => {
    const c = recordingClient()
    const a = new Announcer(c.client, 'ch', 'me', () => {})
    const release = c.hold()
    a.add('s', 'e', 1, 1)
    const first = a.idle()
    a.add('s', 'e', 2, 2)
    a.add('s', 'e', 3, 3)
    release()
    await first
    await a.idle()
    expect(c.sent.map((b) => b.notices)).toEqual([
      [{ o: 'me', s: 's', e: 'e', f: 1, q: 1 }],
      [{ o: 'me', s: 's', e: 'e', f: 2, q: 3 }],
    ])
  })

  test('a failed statement is reported, not retried; the next batch goes out', async () => {
    const c = recordingClient()
    const errors: unknown[] = []
    const a = new Announcer(c.client, 'ch', 'me', (e) => errors.push(e))
    c.fail(1)
    a.add('s', 'e', 1, 1)
    await a.idle()
    expect(errors).toHaveLength(1)
    a.add('s', 'e', 2, 2)
    await a.idle()
    expect(c.sent.map((b) => b.notices)).toEqual([[{ o: 'me', s: 's', e: 'e', f: 2, q: 2 }]])
  })

  test('a large burst is split into statements of at most 500 notices', async () => {
    const c = recordingClient()
    const a = new Announcer(c.client, 'ch', 'me', () => {})
    for (let i = 0; i < 1201; i++) a.add(`s${i}`, 'e', 1, 1)
    await a.idle()
    expect(c.sent.map((b) => b.notices.length)).toEqual([500, 500, 201])
  })
})
