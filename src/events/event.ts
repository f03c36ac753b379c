import type { SessionTask, TaskMessage, TaskWake } from '../model/schemas.js'

/**
 * An event as a store keeps it: what happened and the frozen value it is
 * about. Task events hold the full record (secrets included); the core turns
 * it into the public payload on delivery. A store may keep `data` as JSON and
 * hand back a parsed copy.
 */
export type StoredEvent =
  | { readonly type: 'task.created' | 'task.updated'; readonly data: SessionTask }
  | { readonly type: 'task.message.sent' | 'task.message.received'; readonly data: TaskMessage }
  | {
      readonly type: 'task.output'
      readonly data: { readonly taskId: string; readonly stream: string; readonly delta: string }
    }
  | { readonly type: 'task.wake'; readonly data: TaskWake }
  | { readonly type: 'task.deleted'; readonly data: { readonly taskId: string } }

/** A stored event with its per-session sequence number (1, 2, 3, ... in commit order). */
export type SequencedEvent = StoredEvent & { readonly seq: number }

/**
 * Committed events a process could not deliver to its listeners (SPEC
 * 12.5): the session's events after seq `after`, up to `through` when
 * known, are gone (pruned, past the backend's retention, or unreadable
 * after retries). Whoever keeps state derived from the events should read
 * the records again.
 */
export type EventGap = {
  readonly sessionId: string
  /** The last seq delivered before the gap. */
  readonly after: number
  /** The last seq of the gap, when known. */
  readonly through?: number | undefined
}
