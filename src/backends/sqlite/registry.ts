import * as z from 'zod'
import type { ListenerErrorHandler } from '../../events/emitter.js'
import type { EventGap } from '../../events/event.js'
import { asyncDisposeKey } from '../../model/dispose.js'
import { UnsupportedOperationError } from '../../model/errors.js'
import { FunctionSchema } from '../../model/schemas.js'
import { parseInput } from '../../model/validate.js'
import { SessionTaskRegistryCore } from '../../registry/core.js'
import { DEFAULT_TABLE_PREFIX, tableNames } from '../table-names.js'
import type { SqliteDriver } from './driver.js'
import { SqliteTaskStore } from './store.js'
import { SQLITE_SYNCHRONOUS, type SqliteSynchronous } from './wal.js'

const ASYNC_DISPOSE: typeof Symbol.asyncDispose = asyncDisposeKey()

/** Options of {@link SqliteSessionTaskRegistry}. */
export type SqliteSessionTaskRegistryOptions = {
  /** The database, through `fromBetterSqlite3(db)` or `fromNodeSqlite(db)`; run `migrate` on it first. */
  driver: SqliteDriver
  /**
   * The clock that stamps records, messages and wakes. Processes on one
   * machine share its clock, so the default needs no alignment.
   * @default () => new Date()
   */
  now?: (() => Date) | undefined
  /**
   * How often `start()`ed delivery looks for other processes' commits
   * (`PRAGMA data_version`, one cheap call when nothing changed).
   * @default 20
   */
  pollIntervalMs?: number | undefined
  /**
   * How long a write waits, in all, for another process's write lock
   * before it fails with SQLITE_BUSY. Waiting is asynchronous (short
   * pauses between tries), so this process's other work goes on.
   * @default 5000
   */
  busyTimeoutMs?: number | undefined
  /**
   * `PRAGMA synchronous` for the connection. `FULL` syncs the WAL on every
   * commit: a commit that returned survives a power loss. `NORMAL` syncs at
   * checkpoints only: faster, still safe against a crashed process, but the
   * last commits can be lost on a power failure (the file stays consistent).
   * @default 'FULL'
   */
  synchronous?: SqliteSynchronous | undefined
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
   * Table name prefix; must match the one given to `migrate`.
   * @default 'session_tasks_'
   */
  prefix?: string | undefined
  /**
   * Receives failures that have no caller to go to (a poll that failed).
   * @default logs with console.error
   */
  onError?: ((error: unknown) => void) | undefined
}

const DriverSchema = z.custom<SqliteDriver>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as SqliteDriver).exec === 'function' &&
    typeof (v as SqliteDriver).prepare === 'function' &&
    typeof (v as SqliteDriver).isBusy === 'function',
  'must be a SqliteDriver (use fromBetterSqlite3 or fromNodeSqlite)',
)

const OptionsSchema = z.strictObject({
  driver: DriverSchema,
  now: FunctionSchema.optional(),
  pollIntervalMs: z.int('must be an integer').min(1, 'must be positive').optional(),
  busyTimeoutMs: z.int('must be an integer').min(0, 'must not be negative').optional(),
  synchronous: z.enum(SQLITE_SYNCHRONOUS).optional(),
  onListenerError: FunctionSchema.optional(),
  onEventGap: FunctionSchema.optional(),
  replayBuffer: z.int('must be an integer').min(0, 'must not be negative').optional(),
  prefix: z
    .string()
    .regex(/^([a-z_][a-z0-9_]{0,39})?$/, 'must be up to 40 characters of a-z, 0-9 and _')
    .optional(),
  onError: FunctionSchema.optional(),
})

// Connections (drivers) and table prefixes that back an open registry: a
// second registry on the same pair would never hear the first one's writes
// (PRAGMA data_version only changes for other connections' commits).
const inUse = new WeakMap<SqliteDriver, Set<string>>()

function claimConnection(driver: SqliteDriver, prefix: string): () => void {
  let prefixes = inUse.get(driver)
  if (prefixes === undefined) {
    prefixes = new Set()
    inUse.set(driver, prefixes)
  }
  if (prefixes.has(prefix)) {
    throw new TypeError(
      `session-tasks: SQLite registry options: driver: this connection already backs a registry on prefix '${prefix}' (open one connection per registry, or close() the other first)`,
    )
  }
  prefixes.add(prefix)
  const taken = prefixes
  let held = true
  // Once only: a second close() must not free a claim another registry took since.
  return () => {
    if (!held) return
    held = false
    taken.delete(prefix)
  }
}

/** True while some registry holds the connection and prefix. */
const isClaimed = (driver: SqliteDriver, prefix: string) => inUse.get(driver)?.has(prefix) === true

const defaultOnError = (error: unknown) => {
  console.error('session-tasks: SQLite registry background failure', error)
}

/**
 * A `SessionTaskRegistry` stored in a SQLite database file (better-sqlite3
 * or node:sqlite): the registry core over a {@link SqliteTaskStore}. Every
 * write is one `BEGIN IMMEDIATE` transaction, so several processes on one
 * machine can share the file. Events reach this process's listeners right
 * after its own commits and other processes' once `start()` polls for them.
 */
export class SqliteSessionTaskRegistry extends SessionTaskRegistryCore {
  private readonly sqlite: SqliteTaskStore
  private readonly pollIntervalMs: number
  private readonly driver: SqliteDriver
  private readonly prefix: string
  private release: () => void
  private closed = false

  constructor(options: SqliteSessionTaskRegistryOptions) {
    const o = parseInput(OptionsSchema, options, 'SQLite registry options')
    const prefix = o.prefix ?? DEFAULT_TABLE_PREFIX
    const release = claimConnection(o.driver, prefix)
    let store: SqliteTaskStore
    try {
      store = new SqliteTaskStore({
        driver: o.driver,
        tables: tableNames(prefix),
        replayBuffer: o.replayBuffer ?? 1000,
        busyTimeoutMs: o.busyTimeoutMs ?? 5000,
        synchronous: o.synchronous ?? 'FULL',
        reportError: (o.onError as ((error: unknown) => void) | undefined) ?? defaultOnError,
      })
    } catch (error) {
      release()
      throw error
    }
    super(store, {
      now: o.now as (() => Date) | undefined,
      onListenerError: o.onListenerError as ListenerErrorHandler | undefined,
      onEventGap: o.onEventGap as ((gap: EventGap) => void) | undefined,
    })
    this.sqlite = store
    this.pollIntervalMs = o.pollIntervalMs ?? 20
    this.driver = o.driver
    this.prefix = prefix
    this.release = release
    // A closed registry whose connection another registry took would write
    // events that registry never hears (its own connection's commits do not
    // change data_version): refused instead.
    store.beforeWrite = () => {
      if (this.closed && isClaimed(this.driver, this.prefix)) {
        throw new UnsupportedOperationError(
          `this SQLite registry was closed and its connection now backs another registry on prefix '${this.prefix}'`,
        )
      }
    }
  }

  /**
   * Starts delivering other processes' events (polling every
   * `pollIntervalMs`). Until then only this process's own writes, and what
   * others committed before each of them, reach its listeners. Idempotent.
   * The poll timer keeps the process alive until `close()`.
   */
  async start(): Promise<void> {
    if (this.closed) {
      // Taken back, or refused with a TypeError if another registry has it now.
      this.release = claimConnection(this.driver, this.prefix)
      this.closed = false
    }
    this.sqlite.feed.start(this.pollIntervalMs)
  }

  /**
   * Stops polling and frees the connection for another registry. This one
   * still works, hearing only its own writes, until another registry takes
   * the connection and prefix; its writes are then refused. `start()` takes
   * the connection back if it is free. Stored data, listeners and the
   * connection stay as they are. Idempotent.
   */
  async close(): Promise<void> {
    this.sqlite.feed.stop()
    this.closed = true
    this.release()
  }

  /** Calls `close()`: `await using registry = new ...` closes it at block end. */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.close()
  }

  /** Counts of what this process tracks in memory, for leak checks and metrics. */
  stats(): { trackedSessions: number; watchedSessions: number; eventSessions: number } {
    return { ...this.sqlite.feed.stats(), eventSessions: this.hub.sessionCount }
  }
}
