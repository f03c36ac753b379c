import type { StoredEvent } from '../../events/event.js'
import type { SessionTask } from '../../model/schemas.js'
import { taskIdOf } from '../../registry/replay-log.js'
import { toPublicTask } from '../../rules/projection.js'
import { kindKey } from '../records.js'
import type { SqliteDriver, SqliteValue } from './driver.js'
import type { SqliteStatements } from './statements.js'

/** A write's own events, where they were stored. */
export type OwnEvents = {
  sessionId: string
  first: number
  firstGid: number
  events: readonly StoredEvent[]
}

/** Where {@link appendEvents} writes. */
export type EventTarget = {
  driver: SqliteDriver
  sql: SqliteStatements
  origin: string
  /** Events kept per session. */
  retain: number
}

const nullable = (value: string | undefined): SqliteValue => value ?? null

/** The task row's columns after its id, session and creation time, in statement order. */
export function taskColumns(task: SessionTask): SqliteValue[] {
  return [
    task.state,
    kindKey(task.kind),
    JSON.stringify(task),
    task.updatedAt,
    nullable(task.heartbeatAt),
    nullable(task.finishedAt),
    nullable(task.deadlineAt),
    nullable(task.expiresAt),
  ]
}

/** Numbers and stores a session's events (inside the write transaction); trims what falls out of retention. */
export function appendEvents(
  { driver, sql, origin, retain }: EventTarget,
  sessionId: string,
  events: readonly StoredEvent[],
): OwnEvents | undefined {
  if (events.length === 0) return undefined
  const last = Number(driver.prepare(sql.allocate).get(sessionId, events.length)?.seq)
  const first = last - events.length + 1
  const insert = driver.prepare(sql.insertEvent)
  let firstGid = 0
  events.forEach((event, i) => {
    // Task events are stored as public projections: other processes and replays never see a secret.
    const data =
      event.type === 'task.created' || event.type === 'task.updated'
        ? toPublicTask(event.data)
        : event.data
    const { lastInsertRowid } = insert.run(
      sessionId,
      first + i,
      taskIdOf(event),
      event.type,
      JSON.stringify(data),
      origin,
    )
    if (i === 0) firstGid = Number(lastInsertRowid)
  })
  if (last > retain) driver.prepare(sql.trim).run(sessionId, last - retain)
  return { sessionId, first, firstGid, events }
}
