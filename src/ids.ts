import { nanoid } from 'nanoid'

/** A new unguessable task id: `task_` and 21 nanoid characters (~126 bits). */
export function generateTaskId(): string {
  return `task_${nanoid()}`
}

/** A new unguessable task message id: `tmsg_` and 21 nanoid characters. */
export function generateTaskMessageId(): string {
  return `tmsg_${nanoid()}`
}
