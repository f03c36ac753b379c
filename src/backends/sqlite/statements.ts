import type { TableNames } from '../table-names.js'

/** The SQL the SQLite store runs, for one table prefix. */
export type SqliteStatements = ReturnType<typeof sqliteStatements>

/** Builds the SQLite store's statements for a set of table names. */
export function sqliteStatements(t: TableNames) {
  const { tasks, messages, sessions, events } = t
  const order = 'created_at, ord'
  const live = (param: string) => `(expires_at IS NULL OR expires_at > ${param})`
  return {
    get: `SELECT record FROM ${tasks} WHERE id = ? AND session_id = ?`,
    find: `SELECT record FROM ${tasks} WHERE id = ?`,
    exists: `SELECT 1 AS x FROM ${tasks} WHERE id = ?`,
    insert: `INSERT INTO ${tasks} (id, session_id, created_at, state, kind, record, updated_at, heartbeat_at, finished_at, deadline_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    update: `UPDATE ${tasks} SET state = ?, kind = ?, record = ?, updated_at = ?, heartbeat_at = ?, finished_at = ?, deadline_at = ?, expires_at = ? WHERE id = ?`,
    deleteTask: `DELETE FROM ${tasks} WHERE id = ?`,
    deleteTaskMessages: `DELETE FROM ${messages} WHERE task_id = ?`,
    deleteTaskEvents: `DELETE FROM ${events} WHERE task_id = ? AND seq > 0`,
    // ?1 session ids (JSON) or null, ?2 kind key, ?3 state, ?4 updated after, ?5/?6 the position after, ?7 live at, ?8 limit.
    query: `SELECT record, ord FROM ${tasks} WHERE (?1 IS NULL OR session_id IN (SELECT value FROM json_each(?1))) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR updated_at > ?4) AND (?5 IS NULL OR (created_at, ord) > (?5, ?6)) AND ${live('?7')} ORDER BY ${order} LIMIT ?8`,
    list: `SELECT record FROM ${tasks} WHERE session_id = ? ORDER BY ${order}`,
    listByState: `SELECT record FROM ${tasks} WHERE session_id = ? AND state = ? ORDER BY ${order}`,
    // ?1 limit, ?2 kind keys (JSON) or null, ?3 after this task or null, ?4 live at.
    queued: `SELECT record FROM ${tasks} WHERE state = 'queued' AND (?2 IS NULL OR kind IN (SELECT value FROM json_each(?2))) AND (?3 IS NULL OR (created_at, ord) > (SELECT created_at, ord FROM ${tasks} WHERE id = ?3)) AND ${live('?4')} ORDER BY ${order} LIMIT ?1`,
    overdue: `SELECT record FROM ${tasks} WHERE state IN ('queued', 'running', 'awaiting_input') AND deadline_at IS NOT NULL AND deadline_at < ?1 AND ${live('?3')} ORDER BY deadline_at, ${order} LIMIT ?2`,
    stale: `SELECT record FROM ${tasks} WHERE state IN ('queued', 'running') AND heartbeat_at IS NOT NULL AND heartbeat_at < ?1 AND ${live('?3')} ORDER BY heartbeat_at, ${order} LIMIT ?2`,
    // ?1 finished before, ?2 limit, ?3 expired at or before.
    prunable: `SELECT id, session_id, record FROM ${tasks} WHERE id IN (SELECT id FROM (SELECT id FROM ${tasks} WHERE finished_at IS NOT NULL AND finished_at < ?1 AND state IN ('succeeded', 'failed', 'canceled') ORDER BY finished_at, ${order} LIMIT ?2) UNION SELECT id FROM (SELECT id FROM ${tasks} WHERE expires_at IS NOT NULL AND expires_at <= ?3 ORDER BY expires_at LIMIT ?2)) ORDER BY finished_at IS NULL, finished_at, ${order} LIMIT ?2`,
    // Slot holders, live at ?1: every session, ?2's session, ?3's kind.
    running: `SELECT count(*) AS g, coalesce(sum(session_id = ?2), 0) AS s, coalesce(sum(kind = ?3), 0) AS k FROM ${tasks} WHERE state IN ('running', 'awaiting_input') AND ${live('?1')}`,
    messageById: `SELECT record FROM ${messages} WHERE id = ?`,
    insertMessage: `INSERT INTO ${messages} (id, task_id, record, created_at) VALUES (?, ?, ?, ?)`,
    // ?1 task, ?2 session, ?3 limit (-1: all), ?4 live at.
    messagesNewest: `SELECT m.record FROM ${messages} m WHERE m.task_id = ?1 AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = ?1 AND t.session_id = ?2 AND (t.expires_at IS NULL OR t.expires_at > ?4)) ORDER BY m.created_at DESC, m.ord DESC LIMIT ?3`,
    // ?1 task, ?2 session, ?3 the message after, ?4 limit (-1: all), ?5 live at.
    messagesAfter: `SELECT m.record FROM ${messages} m, ${messages} c WHERE c.id = ?3 AND c.task_id = ?1 AND m.task_id = ?1 AND (m.created_at, m.ord) > (c.created_at, c.ord) AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = ?1 AND t.session_id = ?2 AND (t.expires_at IS NULL OR t.expires_at > ?5)) ORDER BY m.created_at, m.ord LIMIT ?4`,
    sessionHead: `SELECT seq FROM ${sessions} WHERE session_id = ?`,
    // Numbers ?2 events: resolves the session's new last seq.
    allocate: `INSERT INTO ${sessions} (session_id, seq) VALUES (?1, ?2) ON CONFLICT (session_id) DO UPDATE SET seq = seq + excluded.seq RETURNING seq`,
    insertEvent: `INSERT INTO ${events} (session_id, seq, task_id, type, payload, origin) VALUES (?, ?, ?, ?, ?, ?)`,
    // Drops a session's events up to seq ?2 (deleted rows are gone from the index: no dead rows to walk).
    trim: `DELETE FROM ${events} WHERE session_id = ?1 AND seq > 0 AND seq <= ?2`,
    replay: `SELECT seq, type, payload FROM ${events} WHERE session_id = ? AND seq > ? AND seq <= ? ORDER BY seq`,
    // The feed after a gid, in commit order.
    feed: `SELECT gid, session_id, seq, type, payload, origin FROM ${events} WHERE gid > ? ORDER BY gid LIMIT ?`,
    feedHead: `SELECT coalesce(max(gid), 0) AS gid FROM ${events}`,
    deleteSessionTasks: `DELETE FROM ${tasks} WHERE session_id = ?`,
    deleteSessionMessages: `DELETE FROM ${messages} WHERE task_id IN (SELECT id FROM ${tasks} WHERE session_id = ?)`,
    deleteSessionEvents: `DELETE FROM ${events} WHERE session_id = ? AND seq > 0`,
    // One number is left out: the next life of the session continues after a gap (see the in-memory store).
    skipSeq: `UPDATE ${sessions} SET seq = seq + 1 WHERE session_id = ?`,
    // Deletion markers (seq 0; payload: when) older than ? go.
    dropMarkers: `DELETE FROM ${events} WHERE seq = 0 AND payload < ?`,
  }
}
