import type { SequencedEvent } from '../../events/event.js'
import { deepFreeze } from '../../model/freeze.js'
import type { Draft, SessionTask, TaskMessage } from '../../model/schemas.js'
import type { SqlTx } from './sql-client.js'

// Rows come back as JSON text; what the store hands the core is frozen.

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

/** Runs a query whose rows carry `record` and parses each as a task. */
export async function queryTasks(
  client: SqlTx,
  text: string,
  params: unknown[],
): Promise<SessionTask[]> {
  const { rows } = await client.query<{ record: string }>(text, params)
  return rows.map((row) => parseTask(row.record))
}
