import * as z from 'zod'
import type { ListenerErrorHandler } from '../../events/emitter.js'
import type { EventGap } from '../../events/event.js'
import { asyncDisposeKey } from '../../model/dispose.js'
import { FunctionSchema } from '../../model/schemas.js'
import { parseInput } from '../../model/validate.js'
import { SessionTaskRegistryCore } from '../../registry/core.js'
import { DEFAULT_TABLE_PREFIX, tableNames } from '../table-names.js'
import { createDatabaseClock, type DatabaseClock } from './clock.js'
import type { SqlClient } from './sql-client.js'
import { PostgresTaskStore } from './store.js'

const ASYNC_DISPOSE: typeof Symbol.asyncDispose = asyncDisposeKey()

/** Options of {@link PostgresSessionTaskRegistry}. */
export type PostgresSessionTaskRegistryOptions = {
  /** The database, through `fromPgPool(pool)` or `fromPGlite(db)`; run `migrate` on it first. */
  client: SqlClient
  /**
   * The clock that stamps records, messages and wakes, and that the
   * supervisor and sinks compare heartbeats with.
   * @default the database's clock (SPEC 12.6): this process's clock plus an
   * offset measured by `start()` and re-measured every `clockSyncMs`, so
   * processes with skewed clocks agree; readings never go backwards
   */
  now?: (() => Date) | undefined
  /**
   * How often the database clock's offset is re-measured after `start()`.
   * @default 60000
   */
  clockSyncMs?: number | undefined
  /**
   * Receives errors thrown by event listeners; the operation never fails.
   * @default logs with console.error
   */
  onListenerError?: ListenerErrorHandler | undefined
  /**
   * Told when committed events could not be delivered to this process
   * (SPEC 12.5): streams re-read a snapshot and `onEventGap` hooks run first.
   * @default logs with console.warn
   */
  onEventGap?: ((gap: EventGap) => void) | undefined
  /**
   * How many recent events of each session `stream({ since })` can replay.
   * @default 1000
   */
  replayBuffer?: number | undefined
  /**
   * The NOTIFY channel that tells other processes about new events.
   * @default 'session_tasks'
   */
  channel?: string | undefined
  /**
   * Table name prefix; must match the one given to `migrate`.
   * @default 'session_tasks_'
   */
  prefix?: string | undefined
  /**
   * Receives failures that have no caller to go to: a notification that
   * could not be processed, a LISTEN connection that dropped.
   * @default logs with console.error
   */
  onError?: ((error: unknown) => void) | undefined
}

const SqlClientSchema = z.custom<SqlClient>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as SqlClient).query === 'function' &&
    typeof (v as SqlClient).transaction === 'function' &&
    typeof (v as SqlClient).listen === 'function',
  'must be a SqlClient (use fromPgPool or fromPGlite)',
)

const OptionsSchema = z.strictObject({
  client: SqlClientSchema,
  now: FunctionSchema.optional(),
  onListenerError: FunctionSchema.optional(),
  onEventGap: FunctionSchema.optional(),
  replayBuffer: z.int('must be an integer').min(0, 'must not be negative').optional(),
  channel: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and _')
    .optional(),
  prefix: z
    .string()
    .regex(/^([a-z_][a-z0-9_]{0,39})?$/, 'must be up to 40 characters of a-z, 0-9 and _')
    .optional(),
  onError: FunctionSchema.optional(),
  clockSyncMs: z.int('must be an integer').min(1, 'must be positive').optional(),
})

const DEFAULT_REPLAY_BUFFER = 1000

const defaultOnError = (error: unknown) => {
  console.error('session-tasks: PostgreSQL registry background failure', error)
}

/**
 * A `SessionTaskRegistry` stored in PostgreSQL (node-postgres or
 * PGlite): the registry core over a {@link PostgresTaskStore}. Every write is
 * one transaction that locks the task row, applies the lifecycle rules and
 * numbers its events under the session's counter row, so several processes
 * can share one database. Events reach this process's listeners right after
 * the commit (before the method resolves) and other processes' listeners
 * through LISTEN/NOTIFY once they call `start()`.
 */
export class PostgresSessionTaskRegistry extends SessionTaskRegistryCore {
  private readonly pg: PostgresTaskStore
  private readonly clockSync: { clock: DatabaseClock; intervalMs: number } | undefined
  private readonly reportError: (error: unknown) => void

  constructor(options: PostgresSessionTaskRegistryOptions) {
    const o = parseInput(OptionsSchema, options, 'PostgreSQL registry options')
    const reportError = (o.onError as ((error: unknown) => void) | undefined) ?? defaultOnError
    const given = o.now as (() => Date) | undefined
    const clock = given === undefined ? createDatabaseClock(o.client) : undefined
    const store = new PostgresTaskStore({
      client: o.client,
      tables: tableNames(o.prefix ?? DEFAULT_TABLE_PREFIX),
      channel: o.channel ?? 'session_tasks',
      replayBuffer: o.replayBuffer ?? DEFAULT_REPLAY_BUFFER,
      reportError,
    })
    super(store, {
      now: given ?? clock?.now,
      onListenerError: o.onListenerError as ListenerErrorHandler | undefined,
      onEventGap: o.onEventGap as ((gap: EventGap) => void) | undefined,
    })
    this.pg = store
    this.reportError = reportError
    this.clockSync =
      clock === undefined ? undefined : { clock, intervalMs: o.clockSyncMs ?? 60_000 }
  }

  /**
   * Starts listening for other processes' events (LISTEN) and, unless a `now`
   * was given, aligns the clock with the database's. Until then only this
   * process's own writes reach its listeners. Idempotent.
   */
  async start(): Promise<void> {
    if (this.clockSync !== undefined) {
      await this.clockSync.clock.sync()
      this.clockSync.clock.start(this.clockSync.intervalMs, this.reportError)
    }
    await this.pg.relay.start()
  }

  /** Stops listening (UNLISTEN). Stored data, listeners and the client stay as they are. */
  async close(): Promise<void> {
    this.clockSync?.clock.stop()
    await this.pg.relay.close()
  }

  /** Calls `close()`: `await using registry = new ...` closes it at block end. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.close()
  }

  /** Counts of what this process tracks in memory, for leak checks and metrics. */
  stats(): { trackedSessions: number; watchedSessions: number; eventSessions: number } {
    return { ...this.pg.relay.stats(), eventSessions: this.hub.sessionCount }
  }
}
