import type { SessionTaskEvents, SessionTaskEventType } from '../events/emitter.js'
import type { EventGap, SequencedEvent } from '../events/event.js'
import { type HubEvent, hubEvent, payloadOf, type SessionEventHub } from '../events/hub.js'
import { StreamOverflowError } from '../model/errors.js'
import type { SessionTask } from '../model/schemas.js'

/** The first item of a stream that starts from the current state rather than a cursor. */
export type StreamSnapshotItem = {
  readonly seq: number
  readonly type: 'snapshot'
  readonly payload: { readonly tasks: readonly SessionTask[] }
}

/** One item of a session stream: a snapshot, or a session event with its sequence number. */
export type StreamItem =
  | StreamSnapshotItem
  | {
      [K in SessionTaskEventType]: {
        readonly seq: number
        readonly type: K
        readonly payload: SessionTaskEvents[K]
      }
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

/** Where a stream starts: a snapshot, or the events after the cursor. */
export type StreamStart =
  | { kind: 'snapshot'; seq: number; tasks: readonly SessionTask[] }
  | { kind: 'replay'; seq: number; events: readonly SequencedEvent[] }

/** Reads a stream's starting point and fills gaps in its live events. */
export type StreamSource = {
  /** The snapshot (or the replay after `since`), read in one consistent view. */
  start(since: number | undefined): Promise<StreamStart>
  /** The stored events `from`..`to` (inclusive) in order; fewer when some are gone. */
  events(from: number, to: number): Promise<readonly SequencedEvent[]>
  /** Optional: tells the backend someone streams this session; returns the release. */
  watch?(): (() => void) | undefined
}

type Waiter = {
  resolve: (result: IteratorResult<StreamItem>) => void
  reject: (error: unknown) => void
}

/**
 * The async iterable behind every registry's `stream`. Nothing is attached
 * until the first `next()`; then the live tap is attached first and the start
 * (snapshot or replay) is read from the source, so events that arrive while it
 * is being read are held back and de-duplicated by seq. A jump in the live
 * seqs (events this process never saw, with a database backend) is filled from
 * the source; when they are gone, or the backend reports a gap, the stream
 * re-reads the session and goes on with a fresh `snapshot` item (SPEC 12.5).
 */
export function createSessionStream(
  hub: SessionEventHub,
  sessionId: string,
  source: StreamSource,
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
      // Ready once the start has been read; live events wait in `held` until
      // then, and while a gap is being filled.
      let ready = false
      let filling = false
      // A gap was reported while the start or a fill was being read: once
      // that is done, re-read a snapshot unless it already covered the gap.
      let resync: { through: number | undefined } | undefined
      let held: HubEvent[] = []
      const queue: (StreamItem | HubEvent | undefined)[] = []
      const waiting: Waiter[] = []
      let detach: (() => void) | undefined
      let unwatch: (() => void) | undefined

      const cleanup = () => {
        detach?.()
        detach = undefined
        unwatch?.()
        unwatch = undefined
        signal?.removeEventListener('abort', onAbort)
      }
      const finish = () => {
        if (finished) return
        finished = true
        cleanup()
        queue.length = 0
        head = 0
        held = []
        for (const w of waiting.splice(0)) w.resolve({ done: true, value: undefined })
      }
      function onAbort() {
        finish()
      }
      const pendingCount = () => queue.length - head + held.length
      // Stops listening and keeps what is queued; the error follows it.
      const fail = (error: unknown) => {
        if (finished || failure !== undefined) return
        failure = error
        cleanup()
        held = []
        if (head >= queue.length) {
          const waiter = waiting.shift()
          if (waiter !== undefined) {
            failure = undefined
            finish()
            waiter.reject(error)
          }
        }
      }
      const overflow = () =>
        fail(
          new StreamOverflowError(
            `stream of session '${sessionId}' fell more than ${maxQueue} items behind (last queued seq ${lastSeq})`,
          ),
        )
      const toItem = (entry: StreamItem | HubEvent): StreamItem =>
        entry.type === 'snapshot'
          ? (entry as StreamItem)
          : (Object.freeze({
              seq: entry.seq,
              type: entry.type,
              payload: payloadOf(entry as HubEvent),
            }) as StreamItem)

      // While the start is being queued, waiters are served only afterwards,
      // so the whole start counts against maxQueue.
      let bulk = false
      const enqueue = (entry: StreamItem | HubEvent) => {
        const waiter = bulk ? undefined : waiting.shift()
        if (waiter !== undefined) {
          waiter.resolve({ done: false, value: toItem(entry) })
          return
        }
        if (queue.length - head >= maxQueue) {
          overflow()
          return
        }
        queue.push(entry)
      }

      // Hands queued items (then a pending failure) to next() calls that are waiting.
      const serveWaiters = () => {
        while (waiting.length > 0 && head < queue.length) {
          const entry = queue[head] as StreamItem | HubEvent
          queue[head++] = undefined
          ;(waiting.shift() as Waiter).resolve({ done: false, value: toItem(entry) })
        }
        if (waiting.length > 0 && failure !== undefined) {
          const error = failure
          failure = undefined
          const waiter = waiting.shift() as Waiter
          finish()
          waiter.reject(error)
        }
      }

      const snapshotItem = (seq: number, tasks: readonly SessionTask[]): StreamItem =>
        Object.freeze({
          seq,
          type: 'snapshot',
          payload: Object.freeze({ tasks: Object.freeze(tasks.slice()) }),
        }) as StreamItem

      // Events are lost for good: the consumer gets the session as it is now,
      // then the events after it.
      const resnapshot = () => {
        filling = true
        resync = undefined
        source.start(undefined).then(
          (begin) => {
            if (finished || failure !== undefined) return
            filling = false
            if (begin.kind === 'snapshot' && begin.seq > lastSeq) {
              lastSeq = begin.seq
              enqueue(snapshotItem(begin.seq, begin.tasks))
            }
            drainHeld()
          },
          (error: unknown) => fail(error),
        )
      }

      const fill = (from: number, to: number) => {
        filling = true
        source.events(from, to).then(
          (events) => {
            if (finished || failure !== undefined) return
            filling = false
            for (let i = 0; i < events.length; i++) {
              const event = events[i] as SequencedEvent
              if (event.seq !== from + i) break
              accept(hubEvent(event))
            }
            if (lastSeq < to) {
              resnapshot()
              return
            }
            drainHeld()
          },
          // The events could not be read: a snapshot still can be, maybe
          // (when that fails too, the stream ends with its error).
          () => {
            if (!finished && failure === undefined) resnapshot()
          },
        )
      }

      const gap = (lost: EventGap) => {
        if (finished || failure !== undefined) return
        if (lost.through !== undefined && lost.through <= lastSeq) return
        if (!ready || filling) {
          resync = { through: lost.through }
          return
        }
        resnapshot()
      }

      const accept = (event: HubEvent) => {
        if (event.seq <= lastSeq || failure !== undefined) return
        lastSeq = event.seq
        enqueue(event)
      }

      const drainHeld = () => {
        if (resync !== undefined && !filling && !finished && failure === undefined) {
          const through = resync.through
          if (through === undefined || through > lastSeq) {
            resnapshot()
            return
          }
          resync = undefined
        }
        while (!filling && !finished && failure === undefined && held.length > 0) {
          const event = held.shift() as HubEvent
          if (event.seq <= lastSeq) continue
          if (event.seq > lastSeq + 1) {
            held.unshift(event)
            fill(lastSeq + 1, event.seq - 1)
            return
          }
          accept(event)
        }
      }

      const push = (event: HubEvent) => {
        if (finished || failure !== undefined) return
        if (!ready || filling || held.length > 0) {
          if (pendingCount() >= maxQueue) {
            overflow()
            return
          }
          held.push(event)
          return
        }
        if (event.seq <= lastSeq) return
        if (event.seq > lastSeq + 1) {
          held.push(event)
          fill(lastSeq + 1, event.seq - 1)
          return
        }
        accept(event)
      }

      const start = () => {
        started = true
        if (signal?.aborted) {
          finish()
          return
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        // Listen first, then read: whatever commits after the read arrives here.
        detach = hub.tap(sessionId, { push, gap, end: finish })
        unwatch = source.watch?.()
        source.start(options.since).then(
          (begin) => {
            if (finished || failure !== undefined) return
            bulk = true
            if (begin.kind === 'snapshot') {
              lastSeq = begin.seq
              enqueue(snapshotItem(begin.seq, begin.tasks))
            } else {
              for (const event of begin.events) {
                lastSeq = event.seq
                enqueue(hubEvent(event))
              }
              lastSeq = Math.max(lastSeq, begin.seq)
            }
            bulk = false
            serveWaiters()
            ready = true
            drainHeld()
          },
          (error: unknown) => fail(error),
        )
      }

      return {
        next(): Promise<IteratorResult<StreamItem>> {
          if (!started && !finished) start()
          if (head < queue.length) {
            const entry = queue[head] as StreamItem | HubEvent
            queue[head++] = undefined
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
          return new Promise((resolve, reject) => {
            waiting.push({ resolve, reject })
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
