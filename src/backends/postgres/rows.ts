import type { SessionTask } from '../../model/schemas.js'
import { parseTask } from '../records.js'
import type { SqlTx } from './sql-client.js'

/** Runs a query whose rows carry `record` and parses each as a task. */
export async function queryTasks(
  client: SqlTx,
  text: string,
  params: unknown[],
): Promise<SessionTask[]> {
  const { rows } = await client.query<{ record: string }>(text, params)
  return rows.map((row) => parseTask(row.record))
}
