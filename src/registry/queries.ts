import { freezeTask } from '../model/freeze.js'
import {
  QUERY_CURSOR,
  type QueryTasksOptions,
  QueryTasksOptionsSchema,
} from '../model/scan-schemas.js'
import { type SessionTask, TaskIdSchema } from '../model/schemas.js'
import { parseInput } from '../model/validate.js'
import { cutoffIso, isExpired } from '../rules/expiry.js'
import type { SessionTaskStore } from './store.js'

// The registry's reads by id and across sessions, for trusted server code:
// validated here, run by the store, frozen on the way out.

const DEFAULT_QUERY_LIMIT = 100

/** What `registry.query` returns: a page, and where the next one starts when there is one. */
export type QueryTasksResult = {
  readonly tasks: SessionTask[]
  /** Pass it as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string
}

/** `registry.find`: a task by id in any session, unless it expired. */
export async function findTask(
  store: SessionTaskStore,
  taskId: string,
  now: () => Date,
): Promise<SessionTask | undefined> {
  const id = parseInput(TaskIdSchema, taskId, 'taskId')
  const task = await store.find(id)
  return task === undefined || isExpired(task, now) ? undefined : freezeTask(task)
}

/**
 * `registry.query`: tasks across sessions, oldest first (createdAt, then
 * insertion). The cursor names a position, not a task, so a page stays
 * right when the task it ended on was deleted meanwhile.
 */
export async function queryTasks(
  store: SessionTaskStore,
  options: QueryTasksOptions | undefined,
  now: () => Date,
): Promise<QueryTasksResult> {
  const o =
    options === undefined ? {} : parseInput(QueryTasksOptionsSchema, options, 'QueryTasksOptions')
  const limit = o.limit ?? DEFAULT_QUERY_LIMIT
  const match = o.cursor === undefined ? undefined : QUERY_CURSOR.exec(o.cursor)
  const after =
    match === undefined || match === null
      ? undefined
      : { order: match[1] as string, createdAt: match[2] as string }
  const updatedAfter = o.updatedAfter instanceof Date ? cutoffIso(o.updatedAfter) : o.updatedAfter
  // One more than asked, to know whether another page follows.
  const rows = await store.query(
    {
      sessionIds: o.sessionIds,
      kind: o.kind,
      state: o.state,
      updatedAfter,
      after,
      liveAt: cutoffIso(now()),
    },
    limit + 1,
  )
  const page = rows.slice(0, limit)
  const tasks = page.map((row) => freezeTask(row.task))
  const last = page.at(-1)
  if (rows.length <= limit || last === undefined) return { tasks }
  return { tasks, nextCursor: `${last.order}~${last.task.createdAt}` }
}
