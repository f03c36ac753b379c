import { StreamOverflowError } from './errors.js'
import { materialize, type SequencedEvent, type SessionEventHub } from './event-hub.js'
import type { SessionTaskEvents, SessionTaskEventType } from './events.js'
import type { SessionTask } from './schemas.js'

/** The first item of a stream that starts from the current state rather than a cursor. */
export type StreamSnapshotItem = {
  seq: number
  type: 'snapshot'
  payload: { tasks: SessionTask[] }
}

/** One item of a session stream: a snapshot, or a session event with its sequence number. */
export type StreamItem =
  | StreamSnapshotItem
  | {
      [K in SessionTaskEventType]: { seq: number; type: K; payload: SessionTaskEvents[K] }
    }[SessionTaskEventType]

/** Options of `registry.stream`. */
export type StreamOptions = {
  /** Resume after this sequence number; replays from the buffer when it still can. */
  since?: number | undefined
  /** Ends the iteration when aborted. */
  signal?: AbortSignal | undefined
  /**
   * Most items a slow consumer may have waiting before the stream ends with
   * `StreamOverflowError`.
   * @default 10000
   */
  maxQueue?: number | undefined
}

type Pending = (result: IteratorResult<StreamItem>) => void

/**
 * Builds the async iterable behind `registry.stream`. Nothing is attached
 * until the first `next()`: then the snapshot (or the replay) and the live
 * subscription are taken in one synchronous step, so no event falls between.
 */
export function createSessionStream(
  hub: SessionEventHub,
  sessionId: string,
  snapshot: () => SessionTask[],
  options: StreamOptions = {},
): AsyncIterable<StreamItem> {
  const maxQueue = options.maxQueue ?? 10_000
  const signal = options.signal
  return {
    [Symbol.asyncIterator](): AsyncIterator<StreamItem> {
      let started = false
      let finished = false
      let failure: unknown
      let lastSeq = 0
      let head = 0
      const queue: (StreamItem | SequencedEvent)[] = []
      // Consumers may call next() again before the previous one settled.
      const waiting: Pending[] = []
      let detach: (() => void) | undefined

      const cleanup = () => {
        detach?.()
        detach = undefined
        signal?.removeEventListener('abort', onAbort)
      }
      const finish = () => {
        if (finished) return
        finished = true
        cleanup()
        queue.length = 0
        head = 0
        for (const resolve of waiting.splice(0)) resolve({ done: true, value: undefined })
      }
      function onAbort() {
        finish()
      }
      const toItem = (entry: StreamItem | SequencedEvent): StreamItem =>
        entry.type === 'snapshot'
          ? (entry as StreamItem)
          : ({
              seq: entry.seq,
              type: entry.type,
              payload: materialize(entry as SequencedEvent),
            } as StreamItem)

      const enqueue = (entry: StreamItem | SequencedEvent) => {
        const resolve = waiting.shift()
        if (resolve !== undefined) {
          resolve({ done: false, value: toItem(entry) })
          return
        }
        if (queue.length - head >= maxQueue) {
          // Stop listening, keep what is queued (so the consumer can resume
          // with `since`), and fail once the queue is drained.
          failure = new StreamOverflowError(
            `stream of session '${sessionId}' fell more than ${maxQueue} items behind (last queued seq ${lastSeq})`,
          )
          cleanup()
          return
        }
        queue.push(entry)
      }

      const start = () => {
        started = true
        if (signal?.aborted) {
          finish()
          return
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        const replay =
          options.since === undefined ? undefined : hub.replay(sessionId, options.since)
        if (replay === undefined) {
          lastSeq = hub.lastSeq(sessionId)
          enqueue({ seq: lastSeq, type: 'snapshot', payload: { tasks: snapshot() } })
        } else {
          for (const event of replay) {
            lastSeq = event.seq
            enqueue(event)
          }
          lastSeq = Math.max(lastSeq, options.since ?? 0)
        }
        if (failure !== undefined) return
        detach = hub.tap(sessionId, {
          push(event) {
            if (event.seq <= lastSeq || failure !== undefined) return
            lastSeq = event.seq
            enqueue(event)
          },
          end: finish,
        })
      }

      return {
        next(): Promise<IteratorResult<StreamItem>> {
          if (!started && !finished) start()
          if (head < queue.length) {
            const entry = queue[head] as StreamItem | SequencedEvent
            queue[head++] = undefined as unknown as StreamItem
            if (head > 1024 && head * 2 > queue.length) {
              queue.splice(0, head)
              head = 0
            }
            return Promise.resolve({ done: false, value: toItem(entry) })
          }
          if (failure !== undefined) {
            const error = failure
            failure = undefined
            finish()
            return Promise.reject(error)
          }
          if (finished) return Promise.resolve({ done: true, value: undefined })
          return new Promise((resolve) => {
            waiting.push(resolve)
          })
        },
        return(): Promise<IteratorResult<StreamItem>> {
          finish()
          return Promise.resolve({ done: true, value: undefined })
        },
      }
    },
  }
}
