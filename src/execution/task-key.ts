/** One string per task across sessions (task ids are unique only within a session). */
export const taskKey = (sessionId: string, taskId: string): string => `${sessionId}\u0000${taskId}`
