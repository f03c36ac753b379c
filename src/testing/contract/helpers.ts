// Constants, builders and stream helpers shared by the contract's groups.
// Runner-free: nothing here asserts.
import type { SessionTaskEvents, SessionTaskEventType } from '../../events/emitter.js'
import type {
  CreateSessionTask,
  NewTaskMessage,
  SessionTask,
  TaskWake,
} from '../../model/schemas.js'
import type { StreamItem } from '../../stream/stream.js'

/** An error a listener threw, as the registry reported it to `onListenerError`. */
export type ListenerErrorReport = { error: unknown; type: string; payload: unknown }
/** Any event payload. */
export type Payload = SessionTaskEvents[SessionTaskEventType]
/** One event seen through `subscribe`. */
export type Seen = { type: SessionTaskEventType; payload: Payload }
/** One event seen through `subscribeAll`. */
export type SeenAll = Seen & { sessionId: string }

/** A deeply writable view of a readonly type, for tests that try to write. */
export type Writable<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer U)[]
    ? Writable<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Writable<T[K]> }
      : T

/** The instant every test's clock starts at. */
export const T0 = Date.parse('2026-01-01T00:00:00.000Z')
/** What {@link caught} returns when the call did not fail. */
export const NO_ERROR = Symbol('no error')
/** A generated task id. */
export const TASK_ID = /^task_[A-Za-z0-9_-]{21}$/
/** A generated message id. */
export const MESSAGE_ID = /^tmsg_[A-Za-z0-9_-]{21}$/
/** A spec holding a push secret. */
export const SECRET_SPEC = {
  prompt: 'hi',
  push_configs: [{ url: 'https://hook.example/a', secret: 's3cr3t' }, { url: 'https://b' }],
}
/** {@link SECRET_SPEC} as events and streams must show it. */
export const REDACTED_SPEC = {
  prompt: 'hi',
  push_configs: [{ url: 'https://hook.example/a', has_secret: true }, { url: 'https://b' }],
}

/** A minimal create input for `sessionId`, with `extra` on top. */
export const base = (
  sessionId: string,
  extra: Partial<CreateSessionTask> = {},
): CreateSessionTask => ({
  sessionId,
  kind: 'background_tool',
  displayName: 'Job',
  ...extra,
})

/** Message content of one text part. */
export const text = (t: string): NewTaskMessage['content'] => [{ type: 'text', text: t }]
/** An inbound text message. */
export const inbound = (t: string, extra: Partial<NewTaskMessage> = {}): NewTaskMessage => ({
  direction: 'inbound',
  content: text(t),
  ...extra,
})
/** An outbound text message. */
export const outbound = (t: string, extra: Partial<NewTaskMessage> = {}): NewTaskMessage => ({
  direction: 'outbound',
  content: text(t),
  ...extra,
})
/** The text parts of a message, joined. */
export const textOf = (m: { content: NewTaskMessage['content'] }): string =>
  m.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
/** The task of a `task.created` or `task.updated` event. */
export const taskOf = (e: { payload: unknown }): SessionTask =>
  (e.payload as { task: SessionTask }).task
/** The wakes among recorded events. */
export const wakesOf = (seen: Seen[]): TaskWake[] =>
  seen.filter((e) => e.type === 'task.wake').map((e) => e.payload as TaskWake)
/** How wake texts name a task. */
export const label = (t: SessionTask) => `Task "${t.displayName}" (${t.id})`

/** The message of the error `run` rejects with, or '' when it resolves. */
export async function failure(run: () => unknown): Promise<string> {
  const error = await caught(run)
  return error instanceof Error ? error.message : ''
}

/** Settles a promise into its value or the error it rejected with (never throws). */
export async function caught(run: () => unknown): Promise<unknown> {
  try {
    const result = run()
    if (result instanceof Promise) await result
    else if (isAsyncIterable(result)) {
      const iterator = result[Symbol.asyncIterator]()
      try {
        await iterator.next()
      } finally {
        await iterator.return?.()
      }
    }
  } catch (error) {
    return error
  }
  return NO_ERROR
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

/** Pulls exactly `n` items. */
export async function take(it: AsyncIterator<StreamItem>, n: number): Promise<StreamItem[]> {
  const out: StreamItem[] = []
  for (let i = 0; i < n; i++) {
    const r = await it.next()
    if (r.done === true) throw new Error(`stream ended after ${out.length} items`)
    out.push(r.value)
  }
  return out
}

/** Pulls items until one matches, returning everything pulled (the match last). */
export async function takeUntil(
  it: AsyncIterator<StreamItem>,
  match: (item: StreamItem) => boolean,
  max = 100,
): Promise<StreamItem[]> {
  const out: StreamItem[] = []
  for (let i = 0; i < max; i++) {
    const r = await it.next()
    if (r.done === true) throw new Error(`stream ended after ${out.length} items`)
    out.push(r.value)
    if (match(r.value)) return out
  }
  throw new Error(`no matching item within ${max} items`)
}

/** Matches the `task.created` item of the task named `name`. */
export const createdNamed = (name: string) => (item: StreamItem) =>
  item.type === 'task.created' && item.payload.task.displayName === name
