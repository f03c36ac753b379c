/** A NOTIFY payload the store sends with every write, parsed and checked. */
export type Notice = {
  /** The writing process's origin id. */
  origin: string
  sessionId: string
  /** The session life ('' when absent). */
  epoch: string
  /** The write deleted the session. */
  deleted: boolean
  /** The write's first and last seq (absent for a deletion or a bad payload). */
  first: number | undefined
  last: number | undefined
}

type Wire = { o?: unknown; s?: unknown; e?: unknown; f?: unknown; q?: unknown; d?: unknown }

const seqOf = (value: unknown) => (Number.isSafeInteger(value) ? (value as number) : undefined)

/** Reads a notice; `undefined` for a payload that is not one (it throws on bad JSON). */
export function parseNotice(payload: string): Notice | undefined {
  const wire = JSON.parse(payload) as Wire
  if (typeof wire !== 'object' || wire === null || typeof wire.s !== 'string') return undefined
  return {
    origin: typeof wire.o === 'string' ? wire.o : '',
    sessionId: wire.s,
    epoch: typeof wire.e === 'string' ? wire.e : '',
    deleted: wire.d === 1,
    first: seqOf(wire.f),
    last: seqOf(wire.q),
  }
}
