import type { SessionTask } from '../../model/schemas.js'
import { taskIdOf } from '../../registry/replay-log.js'
import type { TaskWrite } from '../../registry/store.js'
import { toPublicTask } from '../../rules/projection.js'
import { kindKey } from '../records.js'
import type { TableNames } from '../table-names.js'

/** Where a write statement goes and what it tells other processes. */
export type WriteTarget = {
  readonly tables: TableNames
  /** The NOTIFY channel. */
  readonly channel: string
  /** This process's id, so its own notices are recognised. */
  readonly origin: string
  /** How many events per session stay stored. */
  readonly retain: number
}

/** An optimistic write's condition: the task still has the version its decision read. */
export type WriteGuard = {
  readonly taskId: string
  readonly version: string
  /** The row's insertion number: a task deleted and created again under its id is another row. */
  readonly ord: string
}

/**
 * The one statement that stores a write: the record (inserted, or updated),
 * the message, the session counter bump under a new `epoch` when the row is
 * new, the numbered events, the trim of old events and the NOTIFY. It
 * returns the counter row (`seq`, `epoch`, and for an insert the new row's
 * `ord`), or no row when the insert found
 * the id taken or the `guard` failed (then nothing was stored). A deletion
 * (`write.deleted`) removes the task `removing` (or the guard's) instead.
 */
export function writeStatement(
  on: WriteTarget,
  sessionId: string,
  epoch: string,
  write: TaskWrite,
  insert: SessionTask | undefined,
  guard?: WriteGuard,
  removing?: string,
): { text: string; params: unknown[]; recordBytes: number } {
  const params: unknown[] = [sessionId, write.events.length]
  let recordBytes = 0
  const recordJson = (record: SessionTask) => {
    const json = JSON.stringify(record)
    recordBytes = json.length
    return json
  }
  const p = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const { tasks, messages, sessions, events } = on.tables
  const ctes: string[] = []
  let from = ''
  if (insert !== undefined) {
    ctes.push(
      `i AS (INSERT INTO ${tasks} (id, session_id, state, record, finished_at, created_at, kind, deadline_at, expires_at) VALUES (${p(insert.id)}, $1, ${p(insert.state)}, ${p(recordJson(insert))}::json, ${p(insert.finishedAt ?? null)}, ${p(insert.createdAt)}, ${p(kindKey(insert.kind))}, ${p(insert.deadlineAt ?? null)}, ${p(insert.expiresAt ?? null)}) ON CONFLICT (id) DO NOTHING RETURNING ord)`,
    )
    from = ' FROM i'
  }
  const task = write.task
  // Every record write bumps the version, so an optimistic writer that read
  // an older one matches no row.
  const at = (id: string) =>
    guard === undefined
      ? `id = ${p(id)}`
      : `id = ${p(id)} AND session_id = $1 AND ord = ${p(guard.ord)} AND version = ${p(guard.version)}`
  if (write.deleted === true) {
    const id = guard?.taskId ?? removing
    if (id === undefined) throw new Error('session-tasks: a deletion without its task id')
    // The task's messages go with it (ON DELETE CASCADE), its stored events
    // here; the deletion's own event is inserted below, which this DELETE
    // (one snapshot for the whole statement) does not see.
    ctes.push(`r AS (DELETE FROM ${tasks} WHERE ${at(id)} AND session_id = $1 RETURNING 1)`)
    ctes.push(
      `x AS (DELETE FROM ${events} WHERE session_id = $1 AND task_id = ${p(id)} AND EXISTS (SELECT 1 FROM r))`,
    )
    from = ' FROM r'
  } else if (task !== undefined) {
    ctes.push(
      `u AS (UPDATE ${tasks} SET record = ${p(recordJson(task))}::json, state = ${p(task.state)}, heartbeat_at = ${p(task.heartbeatAt ?? null)}, finished_at = ${p(task.finishedAt ?? null)}, deadline_at = ${p(task.deadlineAt ?? null)}, expires_at = ${p(task.expiresAt ?? null)}, version = version + 1 WHERE ${at(task.id)} RETURNING 1)`,
    )
    if (guard !== undefined) from = ' FROM u'
  } else if (guard !== undefined) {
    // No record change: the row is only checked (and held for the statement).
    ctes.push(`g AS (SELECT 1 FROM ${tasks} WHERE ${at(guard.taskId)} FOR SHARE)`)
    from = ' FROM g'
  }
  const m = write.message
  if (m !== undefined) {
    ctes.push(
      `m AS (INSERT INTO ${messages} (id, task_id, record, created_at) SELECT ${p(m.id)}, ${p(m.taskId)}, ${p(JSON.stringify(m))}::json, ${p(m.createdAt)}${from})`,
    )
  }
  ctes.push(
    `s AS (INSERT INTO ${sessions} AS x (session_id, seq, epoch) SELECT $1, $2, ${p(epoch)}${from} ON CONFLICT (session_id) DO UPDATE SET seq = x.seq + EXCLUDED.seq, tx = EXCLUDED.tx RETURNING x.seq, x.epoch)`,
  )
  // Task events are stored as public projections: other processes and
  // replays never see a secret.
  const rows = write.events.map((event, i) => {
    const data =
      event.type === 'task.created' || event.type === 'task.updated'
        ? toPublicTask(event.data)
        : event.data
    return `(${i + 1}, ${p(taskIdOf(event))}, ${p(event.type)}, ${p(JSON.stringify(data))}::json)`
  })
  ctes.push(
    `e AS (INSERT INTO ${events} (session_id, seq, task_id, type, payload) SELECT $1, s.seq - $2 + v.i, v.t, v.y, v.p FROM s, (VALUES ${rows.join(', ')}) AS v(i, t, y, p))`,
  )
  // Only the seqs this write pushed out of retention: the older ones went
  // with earlier writes, and a range open below would walk every dead row
  // of the session's index until vacuum removes them. Once every 256 seqs
  // the range is opened, for rows a process keeping more events left behind.
  const retain = p(on.retain)
  const head = '(SELECT seq FROM s)'
  ctes.push(
    `d AS (DELETE FROM ${events} WHERE session_id = $1 AND seq > CASE WHEN ${head} / 256 <> (${head} - $2) / 256 THEN 0 ELSE ${head} - $2 - ${retain} END AND seq <= ${head} - ${retain})`,
  )
  const ord = insert === undefined ? '' : ', (SELECT ord::text FROM i) AS ord'
  const text = `WITH ${ctes.join(', ')} SELECT s.seq, s.epoch${ord}, pg_notify(${p(on.channel)}, json_build_object('o', ${p(on.origin)}::text, 's', $1::text, 'e', s.epoch, 'f', s.seq - $2 + 1, 'q', s.seq)::text) AS n FROM s`
  return { text, params, recordBytes }
}
