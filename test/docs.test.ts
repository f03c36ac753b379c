import { execFileSync } from 'node:child_process'
import { expect, test } from 'vitest'

test('the API reference builds without a single TypeDoc warning', () => {
  // typedoc.json sets treatWarningsAsErrors and checks that every export is documented.
  const output = execFileSync(
    process.execPath,
    ['node_modules/typedoc/bin/typedoc', '--emit', 'none'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  expect(output).not.toMatch(/warning|error/i)
}, 120_000)
