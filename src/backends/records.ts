import type { SequencedEvent } from '../events/event.js'
import { deepFreeze } from '../model/freeze.js'
import type { Draft, SessionTask, TaskMessage } from '../model/schemas.js'

// The SQL backends store records, messages and event payloads as JSON text;
// what a store hands the core is parsed and frozen.

/**
 * Parses a stored task record. One written before `stateChangedAt` existed
 * (schema 0.1, or a 0.2 process of an earlier build) is dated by its last
 * known transition.
 */
export function parseTask(text: string): SessionTask {
  const task = JSON.parse(text) as Draft<SessionTask>
  if (task.stateChangedAt === undefined) {
    task.stateChangedAt = task.finishedAt ?? task.startedAt ?? task.createdAt
  }
  return deepFreeze(task)
}

/** Parses a stored message. */
export const parseMessage = (text: string): TaskMessage =>
  deepFreeze(JSON.parse(text) as TaskMessage)

/** Parses an events-table row; payloads are stored as public JSON. */
export function rowToEvent(row: { seq: unknown; type: string; payload: string }): SequencedEvent {
  return {
    type: row.type,
    data: deepFreeze(JSON.parse(row.payload)),
    seq: Number(row.seq),
  } as SequencedEvent
}

/**
 * A kind as the `kind` column holds it: its JSON text, because a kind may
 * contain U+0000, which a PostgreSQL `text` value cannot hold and SQLite's
 * text functions stop at.
 */
export const kindKey = (kind: string): string => JSON.stringify(kind)
