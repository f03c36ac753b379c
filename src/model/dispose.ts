// Declared for consumers whose `lib` predates explicit resource management
// (ES2022 + DOM), so the disposal members of our types check there too; it
// merges with the lib's (or @types/node's) own declaration where there is one.
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol
    readonly dispose: unique symbol
  }
}

/**
 * `Symbol.asyncDispose`, or where the runtime has none (older browsers) the
 * registered symbol that the `await using` helpers of esbuild and Babel fall back to.
 */
export function asyncDisposeKey(): typeof Symbol.asyncDispose {
  const native = (Symbol as { asyncDispose?: symbol }).asyncDispose
  return (native ?? Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose
}

/** `Symbol.dispose`, with the same fallback as {@link asyncDisposeKey}. */
export function disposeKey(): typeof Symbol.dispose {
  const native = (Symbol as { dispose?: symbol }).dispose
  return (native ?? Symbol.for('Symbol.dispose')) as typeof Symbol.dispose
}

/** An unsubscribe function that is also `Disposable`: `using sub = registry.subscribe(...)`. */
export type Subscription = {
  /** Stops listening; calling it again does nothing. */
  (): void
  /** The same as calling it. */
  [Symbol.dispose](): void
}

/** Makes an unsubscribe function disposable (the same function, once). */
export function toSubscription(off: () => void): Subscription {
  let done = false
  const stop = () => {
    if (done) return
    done = true
    off()
  }
  return Object.assign(stop, { [disposeKey()]: stop }) as Subscription
}
