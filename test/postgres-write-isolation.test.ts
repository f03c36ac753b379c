// Creates and updates of one session under strict server isolation defaults.
import { afterEach, describe, expect, test } from 'vitest'
import { endPools, freshPrefix, noServer, pool, registry } from './fixtures/postgres-writes.js'

// Each test's pools end with it: files run side by side on one server.
afterEach(endPools, 30000)
describe.skipIf(noServer)('repeatable read server default', () => {
  for (const iso of ['repeatable\\ read', 'serializable']) {
    test(`one session, many tasks, concurrent creates and updates (${iso})`, async () => {
      const prefix = freshPrefix()
      const pa = pool(20, `-c default_transaction_isolation=${iso}`),
        pb = pool(20, `-c default_transaction_isolation=${iso}`)
      const a = await registry(pa, prefix),
        b = await registry(pb, prefix)
      const creates = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? a : b).create({ sessionId: 's', kind: 'k', displayName: `t${i}` }),
        ),
      )
      const cf = creates.filter((r) => r.status === 'rejected')
      const ids = creates.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []))
      const ups = await Promise.allSettled(
        ids.map((id, i) => (i % 2 ? a : b).update('s', id, { summary: 'x' })),
      )
      const uf = ups.filter((r) => r.status === 'rejected')
      const hot = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? a : b).update('s', ids[0]!, { appendArtifact: { name: `n${i}`, type: 't' } }),
        ),
      )
      const hf = hot.filter((r) => r.status === 'rejected')
      console.log(iso, {
        createFailures: cf.length,
        updateFailures: uf.length,
        hotTaskFailures: hf.length,
        sample:
          (hf[0] as PromiseRejectedResult | undefined)?.reason?.message ??
          (uf[0] as PromiseRejectedResult | undefined)?.reason?.message ??
          (cf[0] as PromiseRejectedResult | undefined)?.reason?.message,
      })
      expect(cf.length + uf.length + hf.length).toBe(0)
    }, 60000)
  }
})
