/** Readonly all the way down: records at run time (deeply frozen), and what inputs accept. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T

/** A shallow writable copy of a readonly type, for code that builds values field by field. */
export type Draft<T> = { -readonly [K in keyof T]: T[K] }
