import type { GroupContext } from './harness.js'
import { base, outbound, textOf } from './helpers.js'

/** The `listMessages` group: message pages and their order. */
export function listMessagesTests({ it, expect, setup }: GroupContext): void {
  async function fiveMessages() {
    const h = await setup()
    const task = await h.registry.create(base('s1'))
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      h.tick()
      ids.push((await h.registry.recordMessage('s1', task.id, outbound(`m${i}`))).id)
    }
    return { ...h, task, ids }
  }

  it('without a cursor returns the newest `limit` messages, oldest first', async () => {
    const { registry, task } = await fiveMessages()
    const texts = async (limit: number) =>
      (await registry.listMessages('s1', task.id, { limit })).map(textOf)
    expect(await texts(2)).toEqual(['m3', 'm4'])
    expect(await texts(1)).toEqual(['m4'])
    expect(await texts(50)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
  })

  it('without a limit returns every message, oldest first', async () => {
    const { registry, task, ids } = await fiveMessages()
    expect((await registry.listMessages('s1', task.id)).map((m) => m.id)).toEqual(ids)
    expect((await registry.listMessages('s1', task.id, {})).map((m) => m.id)).toEqual(ids)
  })

  it('with afterId returns the first `limit` messages strictly after the cursor', async () => {
    const { registry, task, ids } = await fiveMessages()
    const page = async (afterId: string, limit?: number) =>
      (
        await registry.listMessages(
          's1',
          task.id,
          limit === undefined ? { afterId } : { afterId, limit },
        )
      ).map(textOf)
    expect(await page(ids[1] as string, 2)).toEqual(['m2', 'm3'])
    expect(await page(ids[0] as string)).toEqual(['m1', 'm2', 'm3', 'm4'])
    expect(await page(ids[3] as string, 5)).toEqual(['m4'])
    expect(await page(ids[4] as string)).toEqual([])
  })

  it('returns [] for an unknown cursor or a cursor of another task', async () => {
    const { registry, task } = await fiveMessages()
    const other = await registry.create(base('s1'))
    const foreign = await registry.recordMessage('s1', other.id, outbound('other'))
    expect(await registry.listMessages('s1', task.id, { afterId: 'tmsg_unknown' })).toEqual([])
    expect(await registry.listMessages('s1', task.id, { afterId: foreign.id })).toEqual([])
    expect(await registry.listMessages('s1', task.id, { afterId: foreign.id, limit: 3 })).toEqual(
      [],
    )
  })

  it('returns [] for an unknown task, a task without messages or another session', async () => {
    const { registry, task } = await fiveMessages()
    const empty = await registry.create(base('s1'))
    expect(await registry.listMessages('s1', 'task_missing')).toEqual([])
    expect(await registry.listMessages('s1', empty.id)).toEqual([])
    expect(await registry.listMessages('s2', task.id)).toEqual([])
    expect(await registry.listMessages('s2', task.id, { limit: 2 })).toEqual([])
  })

  it('orders by createdAt, then record order, when the clock goes back', async () => {
    const { registry, at } = await setup()
    const task = await registry.create(base('s1'))
    const ids: Record<string, string> = {}
    for (const [name, ms] of [
      ['a', 10_000],
      ['b', 5_000],
      ['c', 10_000],
      ['d', 5_000],
      ['e', 1_000],
    ] as const) {
      at(ms)
      ids[name] = (await registry.recordMessage('s1', task.id, outbound(name))).id
    }
    const list = async (o?: { limit?: number; afterId?: string }) =>
      (await registry.listMessages('s1', task.id, o)).map(textOf)
    expect(await list()).toEqual(['e', 'b', 'd', 'a', 'c'])
    expect(await list({ limit: 2 })).toEqual(['a', 'c'])
    expect(await list({ afterId: ids.d as string, limit: 2 })).toEqual(['a', 'c'])
    expect(await list({ afterId: ids.e as string, limit: 1 })).toEqual(['b'])
    expect(await list({ afterId: ids.b as string })).toEqual(['d', 'a', 'c'])
  })

  it('keeps record order for messages stamped at the same instant', async () => {
    const { registry } = await setup()
    const task = await registry.create(base('s1'))
    const names = ['z', 'a', 'm', 'b', 'y']
    for (const n of names) await registry.recordMessage('s1', task.id, outbound(n))
    expect((await registry.listMessages('s1', task.id)).map(textOf)).toEqual(names)
    expect((await registry.listMessages('s1', task.id, { limit: 2 })).map(textOf)).toEqual([
      'b',
      'y',
    ])
  })
}
