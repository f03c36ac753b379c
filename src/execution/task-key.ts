/** One string per task across sessions (task ids are unique only within a session). */
export const taskKey = (sessionId: string, taskId: string): string => `${sessionId}\u0000${taskId}`

/** The task id inside a key made by {@link taskKey} for `sessionId`. */
export const taskIdOfKey = (sessionId: string, key: string): string =>
  key.slice(sessionId.length + 1)
