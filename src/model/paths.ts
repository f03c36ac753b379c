/** The virtual file-system folder of a task's result and logs: `/.tasks/{id}`. */
export function taskVfsDir(taskId: string): string {
  return `/.tasks/${taskId}`
}

/** The virtual file-system path of a task's machine result: `/.tasks/{id}/result.json`. */
export function taskResultPath(taskId: string): string {
  return `${taskVfsDir(taskId)}/result.json`
}
