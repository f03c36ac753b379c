// The tables of the SQL backends, named after one prefix.

/** The prefix used when none is given: tables `session_tasks_tasks`, `session_tasks_events`, ... */
export const DEFAULT_TABLE_PREFIX = 'session_tasks_'

/** The table names a SQL registry uses for one prefix (PostgreSQL and SQLite alike). */
export type TableNames = {
  /** One row per task: the full record as JSON plus the columns queries sort and filter on. */
  tasks: string
  /** One row per task message. */
  messages: string
  /** One row per session that raised events: its event counter. */
  sessions: string
  /** The recent events of every session (public payloads), for replay and cross-process delivery. */
  events: string
  /** The schema versions applied to this prefix (one row per migration). */
  schema: string
  /** Prefix of index names. */
  prefix: string
}

const PREFIX = /^[a-z_][a-z0-9_]{0,39}$/

/** The table names for `prefix`; throws a TypeError for a prefix that is not a plain identifier. */
export function tableNames(prefix: string = DEFAULT_TABLE_PREFIX): TableNames {
  if (prefix !== '' && !PREFIX.test(prefix)) {
    throw new TypeError(
      `invalid table prefix '${prefix}': use up to 40 characters of a-z, 0-9 and _ (not starting with a digit)`,
    )
  }
  return {
    tasks: `${prefix}tasks`,
    messages: `${prefix}messages`,
    sessions: `${prefix}sessions`,
    events: `${prefix}events`,
    schema: `${prefix}schema`,
    prefix,
  }
}
