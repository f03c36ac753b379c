import type { StoredEvent } from '../../events/event.js'
import type { SessionTask } from '../../model/schemas.js'
import {
  GENERATED_MESSAGE_PREFIX,
  type RunningCounts,
  type StoreInsert,
  type StoreModified,
  type TaskDecision,
  type TaskWrite,
} from '../../registry/store.js'
import { parseMessage, parseTask } from '../records.js'
import { ClaimLock } from './claim-lock.js'
import type { EventRelay } from './event-relay.js'
import { type CachedRecord, nextVersion, RecordCache } from './record-cache.js'
import { retrying } from './retry.js'
import type { SqlClient, SqlTx } from './sql-client.js'
import type { Statements } from './statements.js'
import { type WriteGuard, type WriteTarget, writeStatement } from './write-statement.js'

/** What {@link TaskWriter} needs from its store. */
export type TaskWriterDeps = {
  client: SqlClient
  sql: Statements
  relay: EventRelay
  target: WriteTarget
}

// Records of its own writes a process remembers (see RecordCache).
const RECORDS_REMEMBERED = 2_000
// Optimistic tries of one write before it falls back to the row lock.
const OPTIMISTIC_TRIES = 3

// A write without events stores nothing: a record or message change always emits.
function eventless(write: TaskWrite): boolean {
  if (write.events.length > 0) return false
  if (write.task !== undefined || write.message !== undefined) {
    throw new Error('session-tasks: a store write without events')
  }
  return true
}

/** Where one transaction's events were numbered. */
type Allocation = { epoch: string; first: number; recordBytes: number }

/**
 * The PostgreSQL store's writes. A write reads the record (or takes the
 * one this process wrote last), lets the core decide, and stores the
 * record, the message and the numbered events in one statement under the
 * session's counter row (which also sends the NOTIFY), applied only if the
 * row is still the one read (else it decides again); a claim with limits
 * locks the row under the claim lock instead.
 */
export class TaskWriter {
  private readonly client: SqlClient
  private readonly sql: Statements
  private readonly relay: EventRelay
  private readonly target: WriteTarget
  private readonly claimLock: ClaimLock
  private readonly cache = new RecordCache(RECORDS_REMEMBERED)
  private epochCounter = 0

  constructor(deps: TaskWriterDeps) {
    this.client = deps.client
    this.sql = deps.sql
    this.relay = deps.relay
    this.target = deps.target
    this.claimLock = new ClaimLock(deps.sql.claimLock)
  }

  /** A fresh epoch for a session's counter row (this process's id and a counter). */
  nextEpoch(): string {
    return `${this.target.origin}.${++this.epochCounter}`
  }

  /**
   * Stores a write and its events in one statement; `undefined` when its
   * insert found the id taken (then nothing was stored).
   */
  private async flush(
    tx: SqlTx,
    sessionId: string,
    write: TaskWrite,
    insert: SessionTask | undefined,
    guard?: WriteGuard,
    removing?: string,
  ): Promise<Allocation | undefined> {
    const { text, params, recordBytes } = writeStatement(
      this.target,
      sessionId,
      this.nextEpoch(),
      write,
      insert,
      guard,
      removing,
    )
    const { rows: result } = await tx.query<{ seq: unknown; epoch: string; ord?: string }>(
      text,
      params,
    )
    const row = result[0]
    if (row === undefined) return undefined
    const first = Number(row.seq) - write.events.length + 1
    this.relay.noteAllocation(sessionId, row.epoch, first)
    if (insert !== undefined && row.ord !== undefined) {
      this.cache.set({ task: insert, version: '0', ord: row.ord, bytes: recordBytes })
    }
    return { epoch: row.epoch, first, recordBytes }
  }

  /** Inserts unless the id exists in any session. */
  async insert(task: SessionTask, events: readonly StoredEvent[]): Promise<StoreInsert> {
    let allocation: Allocation | undefined
    // One statement, so no BEGIN/COMMIT round trips: the insert, the
    // counter bump and the events commit together or not at all.
    const attempt = async (db: SqlTx): Promise<StoreInsert> => {
      allocation = await this.flush(db, task.sessionId, { events }, task)
      if (allocation !== undefined) return { inserted: true }
      const { rows } = await db.query<{ session_id: string; record: string }>(
        this.sql.getAnySession,
        [task.id],
      )
      const row = rows[0]
      return { inserted: false, existing: row === undefined ? undefined : parseTask(row.record) }
    }
    // A first cursor placed from this write must see writes in seq order:
    // then the allocation is noted under the counter row's lock (in a transaction).
    const ordered = this.relay.placesFromWrites(task.sessionId)
    const outcome = await retrying(
      () => this.claimLock.run(this.client, attempt, ordered),
      (error) => this.claimLock.noteFailure(error),
    )
    if (allocation !== undefined && outcome.inserted) {
      await this.relay.deliver(task.sessionId, allocation.epoch, allocation.first, events)
    }
    return outcome
  }

  /**
   * Reads, decides and commits one task's change, then delivers. A
   * caller-chosen message id that is already stored makes the insert hit
   * the messages' key: nothing was written, and the stored message is the answer.
   */
  async modify<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<StoreModified<R> | undefined> {
    let last: TaskDecision<R> | undefined
    const noted = (task: SessionTask) => {
      last = decide(task)
      return last
    }
    try {
      return await this.decideOptimistic(sessionId, taskId, noted)
    } catch (error) {
      const id = (last as TaskDecision<R> | undefined)?.write?.message?.id
      if (id === undefined || id.startsWith(GENERATED_MESSAGE_PREFIX) || !this.isKeyHit(error)) {
        throw error
      }
      const { rows } = await this.client.query<{ record: string }>(this.sql.messageById, [id])
      const row = rows[0]
      if (row === undefined || last === undefined) throw error
      return { result: last.result, duplicate: parseMessage(row.record) }
    }
  }

  // A unique violation of the messages' primary key.
  private isKeyHit(error: unknown): boolean {
    const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null
    if (e?.code !== '23505') return false
    const key = `${this.target.tables.messages}_pkey`
    return e.constraint === key || String(e.message).includes(key)
  }

  /**
   * Reads the record and its version without a lock, decides, and commits
   * in one statement that applies only if the version is unchanged: two
   * round trips, and no row lock held across one. A write that lost to
   * another one decides again on the new record; after a few losses (a hot
   * task) it takes the row lock instead.
   */
  private async decideOptimistic<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    // See insert: a first cursor placed from writes needs them in seq order.
    if (this.relay.placesFromWrites(sessionId))
      return this.decideLocked(sessionId, taskId, undefined, decide)
    let cached = this.cache.get(sessionId, taskId)
    for (let attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
      const current = cached ?? (await this.readVersioned(sessionId, taskId))
      if (current === undefined) return undefined
      let decision: TaskDecision<R>
      try {
        decision = decide(current.task)
      } catch (error) {
        // A refusal (a fenced message) read off a remembered record is made again on a fresh read.
        if (cached === undefined) throw error
        this.cache.forget(taskId)
        cached = undefined
        continue
      }
      const { write, result } = decision
      const nothing = write === undefined || eventless(write)
      if (nothing && cached === undefined) return { result }
      // A decision on a remembered record is checked by its write's guard;
      // one that writes nothing is made again on a fresh read.
      cached = undefined
      if (nothing || write === undefined) continue
      const guard = { taskId, version: current.version, ord: current.ord }
      const allocation = await retrying(
        () =>
          this.claimLock.run(this.client, (db) =>
            this.flush(db, sessionId, write, undefined, guard),
          ),
        (error) => this.claimLock.noteFailure(error),
      )
      if (allocation === undefined) {
        this.cache.forget(taskId)
        continue
      }
      if (write.deleted === true) this.cache.forget(taskId)
      else this.remember(current, write, allocation.recordBytes)
      await this.relay.deliver(sessionId, allocation.epoch, allocation.first, write.events)
      return { result }
    }
    return this.decideLocked(sessionId, taskId, undefined, decide)
  }

  private async readVersioned(
    sessionId: string,
    taskId: string,
  ): Promise<CachedRecord | undefined> {
    const { rows } = await this.client.query<{ record: string; version: string; ord: string }>(
      this.sql.getVersioned,
      [taskId, sessionId],
    )
    const row = rows[0]
    if (row === undefined) this.cache.forget(taskId)
    return row === undefined
      ? undefined
      : {
          task: parseTask(row.record),
          version: row.version,
          ord: row.ord,
          bytes: row.record.length,
        }
  }

  // What the row holds after `write` committed on `current`.
  private remember(current: CachedRecord, write: TaskWrite, bytes: number): void {
    if (write.task === undefined) this.cache.set(current)
    else
      this.cache.set({
        task: write.task,
        version: nextVersion(current.version),
        ord: current.ord,
        bytes,
      })
  }

  /** Forgets what is remembered of a deleted session's tasks. */
  forgetSession(sessionId: string): void {
    this.cache.forgetSession(sessionId)
  }

  /** Forgets what is remembered of deleted tasks. */
  forget(taskIds: readonly string[]): void {
    for (const id of taskIds) this.cache.forget(id)
  }

  /**
   * Like `modify`, under the registry's claim lock (a transaction-level
   * advisory lock), with the running counts read after taking it: the
   * claim before committed first, so its task is counted.
   */
  claim<R>(
    sessionId: string,
    taskId: string,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
    liveAt: string,
  ): Promise<{ readonly result: R } | undefined> {
    return this.decideLocked(sessionId, taskId, liveAt, decide)
  }

  private async decideLocked<R>(
    sessionId: string,
    taskId: string,
    // A claim's `liveAt`: it takes the claim lock and counts the live slot holders.
    claimAt: string | undefined,
    decide: (task: SessionTask, running: RunningCounts) => TaskDecision<R>,
  ): Promise<{ readonly result: R } | undefined> {
    let allocation: Allocation | undefined
    let events: readonly StoredEvent[] = []
    // Remembers the committed record, once the transaction has committed.
    let written: (() => void) | undefined
    const done = await retrying(
      () =>
        this.client.transaction(async (tx) => {
          allocation = undefined
          written = undefined
          if (claimAt !== undefined) await this.claimLock.take(tx)
          else await this.claimLock.begin(tx)
          const { rows } = await tx.query<{
            record: string
            version: string
            ord: string
            g?: unknown
            s?: unknown
            k?: unknown
          }>(
            claimAt === undefined ? this.sql.lock : this.sql.lockCounted,
            claimAt === undefined ? [taskId, sessionId] : [taskId, sessionId, claimAt],
          )
          const row = rows[0]
          if (row === undefined) return undefined
          const running = {
            global: Number(row.g ?? 0),
            session: Number(row.s ?? 0),
            kind: Number(row.k ?? 0),
          }
          const current: CachedRecord = {
            task: parseTask(row.record),
            version: row.version,
            ord: row.ord,
            bytes: row.record.length,
          }
          const { write, result } = decide(current.task, running)
          if (write !== undefined && !eventless(write)) {
            allocation = await this.flush(tx, sessionId, write, undefined, undefined, taskId)
            events = write.events
            const bytes = allocation?.recordBytes ?? 0
            written = () =>
              write.deleted === true
                ? this.cache.forget(taskId)
                : this.remember(current, write, bytes)
          }
          return { result }
        }),
      (error) => this.claimLock.noteFailure(error),
    )
    if (allocation !== undefined) {
      written?.()
      await this.relay.deliver(sessionId, allocation.epoch, allocation.first, events)
    }
    return done
  }
}
