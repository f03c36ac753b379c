import { ValidationError } from '../model/errors.js'
import type { StreamItem } from './stream.js'

/** Options of {@link toServerSentEvents}. */
export type ServerSentEventsOptions = {
  /** Sent first as `retry:`, the reconnect delay a browser's EventSource should use. */
  retryMs?: number | undefined
}

/**
 * One `text/event-stream` frame for a stream item: `id:` is the item's `seq`
 * (so an EventSource resumes with `Last-Event-ID`), `event:` its type and
 * `data:` its payload as one line of JSON.
 */
export function serverSentEventFrame(item: StreamItem): string {
  // JSON.stringify escapes line breaks, so the payload is always one data line.
  return `id: ${item.seq}\nevent: ${item.type}\ndata: ${JSON.stringify(item.payload)}\n\n`
}

/**
 * Turns a registry stream into `text/event-stream` frames, ready to write to
 * an HTTP response. Ending the returned iteration ends the stream's.
 */
export async function* toServerSentEvents(
  stream: AsyncIterable<StreamItem>,
  options: ServerSentEventsOptions = {},
): AsyncGenerator<string, void, undefined> {
  if (options.retryMs !== undefined) yield `retry: ${Math.max(0, Math.floor(options.retryMs))}\n\n`
  for await (const item of stream) yield serverSentEventFrame(item)
}

/**
 * The `since` to resume from, read from a `Last-Event-ID` header (or query
 * value); `undefined` when absent or not a sequence number.
 */
export function sinceFromLastEventId(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value !== 'string') {
    // Node gives an array for a repeated header: say so rather than fail on .trim().
    throw new ValidationError('invalid lastEventId: must be a string (one Last-Event-ID header)', [
      { path: ['lastEventId'], message: 'must be a string' },
    ])
  }
  if (!/^\d{1,15}$/.test(value.trim())) return undefined
  return Number(value.trim())
}
