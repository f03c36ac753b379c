import type { TaskMessagePart } from './schemas.js'

/** Plain text of a message: text parts in order joined by `\n`; data parts skipped. */
export function taskMessageText(parts: readonly TaskMessagePart[]): string {
  const texts: string[] = []
  for (const part of parts) if (part.type === 'text') texts.push(part.text)
  return texts.join('\n')
}
