import { nanoid } from 'nanoid'

// nanoid builds its id one character at a time, which V8 keeps as a rope of
// ~21 string pieces (~360 bytes). Reading a character flattens it in place to
// one ~57-byte string, and ids are kept for as long as their task lives.
function flat(id: string): string {
  id.charCodeAt(0)
  return id
}

/** A new unguessable task id: `task_` and 21 nanoid characters (~126 bits). */
export function generateTaskId(): string {
  return flat(`task_${nanoid()}`)
}

/** A new unguessable task message id: `tmsg_` and 21 nanoid characters. */
export function generateTaskMessageId(): string {
  return flat(`tmsg_${nanoid()}`)
}

/** A short random id for one process (a registry instance), e.g. to tell its own notifications apart. */
export function generateProcessId(): string {
  return flat(nanoid(12))
}
