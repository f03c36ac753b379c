// The registry talks to PostgreSQL through this small interface only, so the
// library never imports a driver: `fromPgPool` adapts node-postgres,
// `fromPGlite` adapts PGlite (which also runs in browsers). Both adapters are
// typed structurally, so neither `pg` nor `@electric-sql/pglite` (nor their
// type packages) is needed to compile against this module.

/** The rows one statement returned. */
export type SqlResult<T> = { rows: T[] }

/** Runs statements inside one open transaction. */
export interface SqlTx {
  /** Runs one statement with `$1`-style parameters. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<T>>
}

/** Hooks of {@link SqlClient.listen}. */
export type SqlListenOptions = {
  /** A failure of the listening connection (it is re-established when the driver can). */
  onError?: ((error: unknown) => void) | undefined
  /** The listening connection was re-established; notifications may have been missed meanwhile. */
  onReconnect?: (() => void) | undefined
}

/** What the PostgreSQL registry needs from a database: statements, transactions and LISTEN. */
export interface SqlClient extends SqlTx {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<R>(fn: (tx: SqlTx) => Promise<R>): Promise<R>
  /** Starts listening on a channel; resolves with the function that stops listening. */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    options?: SqlListenOptions,
  ): Promise<() => Promise<void>>
}

/** A statement node-postgres prepares once per connection under `name`. */
export type PgNamedQuery = { name: string; text: string; values?: unknown[] }

/** The part of a node-postgres client (`PoolClient`) the adapter uses. */
export interface PgClientLike {
  /** Runs one statement; a {@link PgNamedQuery} is parsed and planned once per connection. */
  query(text: string | PgNamedQuery, values?: unknown[]): Promise<{ rows: unknown[] }>
  /** Returns the client to its pool; an error (or `true`) destroys it instead. */
  release(error?: Error | boolean): void
  /** Attaches an event handler (`notification`, `error`, `end`). */
  on(event: string, listener: (...args: unknown[]) => void): unknown
  /** Removes an event handler. */
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown
}

/** The part of a node-postgres `Pool` the adapter uses; a `pg.Pool` fits. */
export interface PgPoolLike {
  /** Runs one statement on any pooled connection. */
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>
  /** Checks out one connection (for a transaction or for LISTEN). */
  connect(): Promise<PgClientLike>
  /**
   * Attaches an event handler: `error` for idle connections, and `connect`,
   * which a `pg.Pool` emits with each new connection as it joins the pool.
   */
  on?(event: 'error', listener: (error: Error) => void): unknown
  /** See the `error` overload. */
  on?(event: 'connect', listener: (client: PgClientLike) => void): unknown
}

/** Options of {@link fromPgPool}. */
export type PgPoolAdapterOptions = {
  /**
   * Receives errors of idle pooled connections (a terminated backend, a
   * server restart). The adapter attaches it to the pool so that such an
   * error never goes unhandled and ends the process.
   * @default logs with console.error
   */
  onError?: ((error: Error) => void) | undefined
  /**
   * Prepares each parameterised statement once per connection (a named
   * statement) instead of parsing and planning it on every call. Turn it
   * off behind a pooler that cannot keep prepared statements (PgBouncer in
   * transaction mode before 1.21).
   * @default true
   */
  prepare?: boolean | undefined
}

/** The part of a PGlite database the adapter uses; a `PGlite` instance fits. */
export interface PGliteLike {
  /** Runs one statement. */
  query<T>(query: string, params?: unknown[]): Promise<{ rows: T[] }>
  /** Runs `callback` in one transaction. */
  transaction<T>(
    callback: (tx: {
      query<R>(query: string, params?: unknown[]): Promise<{ rows: R[] }>
    }) => Promise<T>,
  ): Promise<T>
  /** Listens on a channel; resolves with the function that stops listening. */
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/

/** Checks that `channel` is a plain lower-case identifier, safe to splice into LISTEN. */
export function assertChannelName(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new TypeError(
      `invalid channel name '${channel}': use 1-63 characters of a-z, 0-9 and _ (not starting with a digit)`,
    )
  }
}

type Notification = { channel?: unknown; payload?: unknown }

// Statement names are shared by every adapter of the process (several may
// share one pool, whose connections keep what was prepared on them); the
// texts are a small fixed set, and the cap keeps a caller's varying SQL from
// filling the server's per-connection plan memory.
const MAX_NAMED_STATEMENTS = 500
const statementNames = new Map<string, string>()
// Two copies of the library in one process may share a pool: their names differ.
const copy = Math.random().toString(36).slice(2, 8)

function statementName(text: string): string | undefined {
  const known = statementNames.get(text)
  if (known !== undefined || statementNames.size >= MAX_NAMED_STATEMENTS) return known
  const name = `session_tasks_${copy}_${statementNames.size + 1}`
  statementNames.set(text, name)
  return name
}

const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 30_000

/**
 * Adapts a node-postgres pool. Statements use any pooled connection, a
 * transaction checks out one connection for BEGIN ... COMMIT, and LISTEN holds
 * one dedicated connection, re-established with backoff when it fails.
 */
export function fromPgPool(pool: PgPoolLike, options: PgPoolAdapterOptions = {}): SqlClient {
  // One adapter per pool and options: each one listens on the pool and on
  // every connection, so a new one per registry would pile up listeners.
  const made = adapters.get(pool) ?? []
  adapters.set(pool, made)
  const same = made.find((a) => a.onError === options.onError && a.prepare === options.prepare)
  if (same !== undefined) return same.client
  const client = adaptPool(pool, options)
  made.push({ onError: options.onError, prepare: options.prepare, client })
  return client
}

const adapters = new WeakMap<
  PgPoolLike,
  { onError: PgPoolAdapterOptions['onError']; prepare: boolean | undefined; client: SqlClient }[]
>()

function adaptPool(pool: PgPoolLike, options: PgPoolAdapterOptions): SqlClient {
  const onPoolError =
    options.onError ??
    ((error: Error) => console.error('session-tasks: an idle PostgreSQL connection failed', error))
  pool.on?.('error', (error: Error) => onPoolError(error))
  // A connection this adapter checked out keeps one error listener for good:
  // a terminated backend can still emit 'error' after our per-use handler is
  // gone (while it is being released or destroyed), and an 'error' with no
  // listener ends the process.
  const guarded = new WeakSet<PgClientLike>()
  const guard = (c: PgClientLike) => {
    if (guarded.has(c)) return
    guarded.add(c)
    c.on('error', (error) => onPoolError(asError(error)))
  }
  const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)))
  // Guarded as it joins the pool: the pool hands a new connection over from
  // inside the driver's read of the server's messages, and an error message
  // in the same read (a backend terminated right after it connected) would
  // otherwise be emitted before anyone here listens.
  pool.on?.('connect', (c: PgClientLike) => guard(c))
  const prepare = options.prepare !== false
  // Statements without parameters (BEGIN, SET, LISTEN) are cheap to parse and
  // some cannot be prepared at all.
  const run = (client: PgClientLike, text: string, params: unknown[] | undefined) => {
    const name =
      prepare && params !== undefined && params.length > 0 ? statementName(text) : undefined
    return name === undefined
      ? client.query(text, params)
      : client.query({ name, text, values: params ?? [] })
  }
  // A connection whose prepared statements the server dropped (DISCARD ALL,
  // DEALLOCATE, a pooler's reset) while the driver still counts on them.
  const lostStatement = (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown } | null
    return (
      e?.code === '26000' ||
      (e?.code === '0A000' && String(e.message).includes('cached plan must not change'))
    )
  }
  /**
   * Checks out one connection for `use` and returns it to the pool after,
   * destroyed when it failed. A statement's own error (a constraint, say)
   * leaves the connection fine; a connection 'error' or an error `use`
   * reports through `fail` (a failed ROLLBACK) gets it destroyed.
   */
  async function withConnection<R>(
    use: (client: PgClientLike, fail: (error: unknown) => void) => Promise<R>,
  ): Promise<R> {
    const client = await pool.connect()
    guard(client)
    let broken: Error | undefined
    const fail = (error: unknown) => {
      broken ??= asError(error)
    }
    client.on('error', fail)
    try {
      return await use(client, fail)
    } finally {
      client.removeListener('error', fail)
      client.release(broken)
    }
  }
  return {
    async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
      // Not pool.query: it listens for a connection's 'error' only once, and a
      // terminated backend can emit two (the server's message, then the close).
      return withConnection(async (client, fail) => {
        try {
          return { rows: (await run(client, text, params)).rows as T[] }
        } catch (error) {
          if (!lostStatement(error)) throw error
          // Unnamed on this connection once, which is then replaced.
          fail(error)
          return { rows: (await client.query(text, params)).rows as T[] }
        }
      })
    },

    async transaction<R>(fn: (tx: SqlTx) => Promise<R>): Promise<R> {
      return withConnection(async (client, fail) => {
        await client.query('BEGIN')
        try {
          const tx: SqlTx = {
            async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
              try {
                return { rows: (await run(client, text, params)).rows as T[] }
              } catch (error) {
                // The transaction is lost; the connection is replaced after it.
                if (lostStatement(error)) fail(error)
                throw error
              }
            },
          }
          const result = await fn(tx)
          await client.query('COMMIT')
          return result
        } catch (error) {
          // The connection is unusable when even ROLLBACK fails: destroy it.
          await client.query('ROLLBACK').catch(fail)
          throw error
        }
      })
    },

    async listen(channel, onPayload, options = {}) {
      assertChannelName(channel)
      let client: PgClientLike | undefined
      let closed = false
      let timer: ReturnType<typeof setTimeout> | undefined
      let delay = RECONNECT_MIN_MS

      const onNotification = (...args: unknown[]) => {
        const message = (args[0] ?? {}) as Notification
        if (message.channel === channel && typeof message.payload === 'string') {
          onPayload(message.payload)
        }
      }
      const detach = (c: PgClientLike) => {
        c.removeListener('notification', onNotification)
        c.removeListener('error', onFailure)
        c.removeListener('end', onEnd)
      }
      const drop = (error: Error | boolean) => {
        const c = client
        client = undefined
        if (c === undefined) return
        detach(c)
        c.release(error)
      }
      const schedule = () => {
        if (closed || timer !== undefined) return
        timer = setTimeout(() => {
          timer = undefined
          attach().then(
            () => {
              delay = RECONNECT_MIN_MS
              options.onReconnect?.()
            },
            (error: unknown) => {
              options.onError?.(error)
              delay = Math.min(delay * 2, RECONNECT_MAX_MS)
              schedule()
            },
          )
        }, delay)
        // A pending reconnect must not keep a Node process alive on its own.
        ;(timer as { unref?: () => void }).unref?.()
      }
      function onFailure(error: unknown) {
        if (closed) return
        options.onError?.(error)
        drop(error instanceof Error ? error : true)
        schedule()
      }
      function onEnd() {
        if (closed || client === undefined) return
        onFailure(new Error(`the LISTEN connection for '${channel}' ended`))
      }
      const attach = async () => {
        const c = await pool.connect()
        guard(c)
        c.on('notification', onNotification)
        c.on('error', onFailure)
        c.on('end', onEnd)
        try {
          await c.query(`LISTEN ${channel}`)
        } catch (error) {
          detach(c)
          c.release(error instanceof Error ? error : true)
          throw error
        }
        if (closed) {
          detach(c)
          c.release(true)
          return
        }
        client = c
      }

      await attach()
      return async () => {
        closed = true
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        const c = client
        client = undefined
        if (c === undefined) return
        detach(c)
        try {
          await c.query(`UNLISTEN ${channel}`)
          c.release()
        } catch (error) {
          c.release(error instanceof Error ? error : true)
        }
      }
    },
  }
}

/**
 * Adapts a PGlite database (in-process PostgreSQL, Node or browser). PGlite
 * runs one statement at a time, so transactions are serialized.
 */
export function fromPGlite(db: PGliteLike): SqlClient {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
      const result = await db.query<T>(text, params)
      return { rows: result.rows }
    },

    async transaction<R>(fn: (tx: SqlTx) => Promise<R>): Promise<R> {
      return db.transaction((inner) =>
        fn({
          async query<T>(text: string, params?: unknown[]): Promise<SqlResult<T>> {
            const result = await inner.query<T>(text, params)
            return { rows: result.rows }
          },
        }),
      )
    },

    async listen(channel, onPayload) {
      assertChannelName(channel)
      const stop = await db.listen(channel, onPayload)
      return async () => {
        await stop()
      }
    },
  }
}
