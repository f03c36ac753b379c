import type * as z from 'zod'
import { ValidationError, type ValidationIssue } from './errors.js'

function formatPath(path: readonly (string | number)[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? part : `.${part}`
  }
  return out
}

function toIssues(error: z.ZodError): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        issues.push({ path: [...path, key], message: 'is not a known field' })
    } else {
      issues.push({ path, message: issue.message })
    }
  }
  return issues
}

// Optional keys given as `undefined` count as absent: records never carry
// undefined-valued keys. Only plain objects and arrays are walked: anything
// else (a Date, an AbortSignal) is the caller's own object, passed through.
function dropUndefined(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (const item of value) dropUndefined(item)
    return value
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (record[key] === undefined) delete record[key]
    else dropUndefined(record[key])
  }
  return value
}

/**
 * Parses `value` with `schema` or throws a {@link ValidationError} whose message
 * names `label` and each offending field. The result is a fresh copy.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  label: string,
): z.output<S> {
  let result: z.ZodSafeParseResult<z.output<S>>
  try {
    result = schema.safeParse(value)
    if (result.success) return dropUndefined(result.data) as z.output<S>
  } catch (error) {
    // A proxy or a throwing getter can break out of the parser itself.
    const reason = error instanceof Error ? error.message : String(error)
    throw new ValidationError(
      `invalid ${label}: could not be read: ${reason}`,
      [{ path: [], message: `could not be read: ${reason}` }],
      { cause: error },
    )
  }
  const issues = toIssues(result.error)
  const text = issues
    .map((issue) => {
      const where = formatPath(issue.path)
      return where === '' ? issue.message : `${where}: ${issue.message}`
    })
    .join('; ')
  throw new ValidationError(`invalid ${label}: ${text}`, issues, { cause: result.error })
}
