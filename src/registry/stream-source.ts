import { freezeTask } from '../model/freeze.js'
import type { SessionTask } from '../model/schemas.js'
import { isExpired } from '../rules/expiry.js'
import { toPublicTask } from '../rules/projection.js'
import type { StreamSource } from '../stream/stream.js'
import type { SessionTaskStore } from './store.js'

/**
 * Where a stream of one session reads from a store: a replay from `since`
 * when the store still has it, else a snapshot of public records (expired
 * ones left out).
 */
export function storeStreamSource(
  store: SessionTaskStore,
  sessionId: string,
  now: () => Date,
): StreamSource {
  return {
    start: async (since) => {
      if (since !== undefined) {
        const events = await store.readEvents(sessionId, since)
        if (events !== undefined) {
          const seq = events.length === 0 ? since : (events.at(-1)?.seq ?? since)
          return { kind: 'replay', seq, events }
        }
      }
      const snapshot = await store.snapshot(sessionId)
      const tasks: SessionTask[] = []
      for (const task of snapshot.tasks) {
        if (!isExpired(task, now)) tasks.push(toPublicTask(freezeTask(task)))
      }
      return { kind: 'snapshot', seq: snapshot.seq, tasks }
    },
    events: async (from, to) => (await store.readEvents(sessionId, from - 1, to)) ?? [],
    watch: () => store.watch?.(sessionId),
  }
}
