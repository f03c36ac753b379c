import type { TableNames } from '../table-names.js'

const terminalStates = `('succeeded', 'failed', 'canceled')`
const unfinishedStates = `('queued', 'running', 'awaiting_input')`
const slotStates = `('running', 'awaiting_input')`

// Any constant: claims of one table prefix take this advisory lock with the
// hash of the tasks table's name, so they are serialised with each other only.
const CLAIM_LOCK = 0x5e55_c1a1

/** The SQL the PostgreSQL store runs, for one table prefix. */
export type Statements = ReturnType<typeof statements>

/** Builds the store's statements for a set of table names. */
export function statements(t: TableNames) {
  const { tasks, messages, sessions, events } = t
  const order = 'created_at, ord'
  // Expired at $3 (the claim's `liveAt`): absent, and holding no slot.
  const liveR = '(r.expires_at IS NULL OR r.expires_at > $3)'
  return {
    lock: `SELECT record::text AS record, version::text AS version, ord::text AS ord FROM ${tasks} WHERE id = $1 AND session_id = $2 FOR UPDATE`,
    get: `SELECT record::text AS record FROM ${tasks} WHERE id = $1 AND session_id = $2`,
    // The version, and the row's insertion number: an id deleted and created again is another row.
    getVersioned: `SELECT record::text AS record, version::text AS version, ord::text AS ord FROM ${tasks} WHERE id = $1 AND session_id = $2`,
    // $1 session ids (JSON) or null, $2 kind key, $3 state, $4 updated after, $5/$6 the position after, $7 live at, $8 limit.
    query: `SELECT record::text AS record, ord::text AS ord FROM ${tasks} WHERE ($1::json IS NULL OR session_id IN (SELECT json_array_elements_text($1::json))) AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR (record->>'updatedAt') COLLATE "C" > $4) AND ($5::text IS NULL OR (created_at, ord) > ($5, $6::bigint)) AND (expires_at IS NULL OR expires_at > $7) ORDER BY ${order} LIMIT $8`,
    messageById: `SELECT record::text AS record FROM ${messages} WHERE id = $1`,
    getAnySession: `SELECT session_id, record::text AS record FROM ${tasks} WHERE id = $1`,
    list: `SELECT record::text AS record FROM ${tasks} WHERE session_id = $1 ORDER BY ${order}`,
    listByState: `SELECT record::text AS record FROM ${tasks} WHERE session_id = $1 AND state = $2 ORDER BY ${order}`,
    messagesNewest: `SELECT m.record::text AS record FROM ${messages} m WHERE m.task_id = $1 AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = $1 AND t.session_id = $2 AND (t.expires_at IS NULL OR t.expires_at > $4)) ORDER BY m.created_at DESC, m.ord DESC LIMIT $3`,
    messagesAfter: `SELECT m.record::text AS record FROM ${messages} m, ${messages} c WHERE c.id = $3 AND c.task_id = $1 AND m.task_id = $1 AND (m.created_at, m.ord) > (c.created_at, c.ord) AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = $1 AND t.session_id = $2 AND (t.expires_at IS NULL OR t.expires_at > $5)) ORDER BY m.created_at, m.ord LIMIT $4`,
    sessionHead: `SELECT seq, epoch FROM ${sessions} WHERE session_id = $1`,
    events: `SELECT e.seq, e.type, e.payload::text AS payload FROM ${events} e JOIN ${sessions} x ON x.session_id = e.session_id WHERE e.session_id = $1 AND ($2 = '' OR x.epoch = $2) AND e.seq >= $3 AND e.seq <= $4 ORDER BY e.seq`,
    // Rows written by transactions at or after a recovery point (an xid8).
    sessionsSince: `SELECT session_id, seq, epoch FROM ${sessions} WHERE tx >= $1::xid8`,
    // From the first event written at or after the point ($3) on, every
    // event up to $4: seqs follow commit order, so a later one belongs after
    // the point even when its transaction id is older. `lo` is the lowest
    // seq still stored: when that is where they start, older ones may be gone.
    eventsSince: `SELECT e.seq, e.type, e.payload::text AS payload, (SELECT min(l.seq) FROM ${events} l WHERE l.session_id = $1) AS lo FROM ${events} e WHERE e.session_id = $1 AND e.seq <= $4 AND e.seq >= (SELECT min(f.seq) FROM ${events} f WHERE f.session_id = $1 AND f.tx >= $3::xid8 AND f.seq <= $4) AND EXISTS (SELECT 1 FROM ${sessions} x WHERE x.session_id = $1 AND x.epoch = $2) ORDER BY e.seq`,
    replay: `SELECT seq, type, payload::text AS payload FROM ${events} WHERE session_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
    // The isolation comes back too: the counts after it need fresh snapshots.
    claimLock: `SELECT pg_advisory_xact_lock(${CLAIM_LOCK}, hashtext('${tasks}'))::text AS l, current_setting('transaction_isolation') AS iso`,
    // The row locked, with what holds a slot, read after the claim lock was taken.
    lockCounted: `SELECT t.record::text AS record, t.version::text AS version, t.ord::text AS ord, (SELECT count(*) FROM ${tasks} r WHERE r.state IN ${slotStates} AND ${liveR}) AS g, (SELECT count(*) FROM ${tasks} r WHERE r.state IN ${slotStates} AND r.session_id = t.session_id AND ${liveR}) AS s, (SELECT count(*) FROM ${tasks} r WHERE r.state IN ${slotStates} AND r.kind = t.kind AND ${liveR}) AS k FROM ${tasks} t WHERE t.id = $1 AND t.session_id = $2 FOR UPDATE OF t`,
    // $1 limit, $2 the kinds (JSON of kind keys) or null, $3 the cursor's id or null.
    queued: `SELECT record::text AS record FROM ${tasks} WHERE state = 'queued' AND ($2::json IS NULL OR kind IN (SELECT json_array_elements_text($2::json))) AND ($3::text IS NULL OR (created_at, ord) > (SELECT created_at, ord FROM ${tasks} WHERE id = $3)) AND (expires_at IS NULL OR expires_at > $4) ORDER BY ${order} LIMIT $1`,
    overdue: `SELECT record::text AS record FROM ${tasks} WHERE state IN ${unfinishedStates} AND deadline_at IS NOT NULL AND deadline_at < $1 AND (expires_at IS NULL OR expires_at > $3) ORDER BY deadline_at, ${order} LIMIT $2`,
    stale: `SELECT record::text AS record FROM ${tasks} WHERE state IN ('queued', 'running') AND heartbeat_at IS NOT NULL AND heartbeat_at < $1 AND (expires_at IS NULL OR expires_at > $3) ORDER BY heartbeat_at, created_at, ord LIMIT $2`,
    // Finished before $1, or expired before $3: each side walks its own index.
    prune: `WITH doomed AS (SELECT id FROM ${tasks} WHERE id IN (SELECT id FROM (SELECT id FROM ${tasks} WHERE state IN ${terminalStates} AND finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at, created_at, ord LIMIT $2) f UNION SELECT id FROM (SELECT id FROM ${tasks} WHERE expires_at IS NOT NULL AND expires_at <= $3 ORDER BY expires_at LIMIT $2) x) ORDER BY finished_at, created_at, ord LIMIT $2 FOR UPDATE SKIP LOCKED), gone AS (DELETE FROM ${tasks} t USING doomed WHERE t.id = doomed.id RETURNING t.session_id, t.id, t.record, t.finished_at, t.created_at, t.ord) SELECT session_id, id, record::text AS record FROM gone ORDER BY finished_at, created_at, ord`,
    lockSessions: `SELECT 1 FROM ${sessions} WHERE session_id IN (SELECT json_array_elements_text($1::json)) ORDER BY session_id FOR UPDATE`,
    deleteTaskEvents: `DELETE FROM ${events} WHERE task_id IN (SELECT json_array_elements_text($1::json))`,
    deleteSessionTasks: `WITH gone AS (DELETE FROM ${tasks} WHERE session_id = $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
    // The counter row stays, one number further, under a new epoch: the next
    // life of the session continues after a gap, so an old cursor gets a snapshot.
    deleteSessionRow: `UPDATE ${sessions} AS x SET seq = x.seq + 1, epoch = $2 FROM (SELECT session_id, epoch FROM ${sessions} WHERE session_id = $1 FOR UPDATE) AS o WHERE x.session_id = o.session_id RETURNING o.epoch`,
    deleteSessionEvents: `DELETE FROM ${events} WHERE session_id = $1`,
  }
}
