import { describe, expect, test } from 'vitest'

// The AI SDK example (examples/ai-agent): its whole conversation on the
// SDK's mock model. Skipped, with a notice, below Node.js 22 (ai 7 needs it).

const supported = Number(process.versions.node.split('.')[0]) >= 22
if (!supported) {
  console.warn(
    `SKIPPED test/ai-agent-example.test.ts: ai 7 needs Node.js 22 or later, this is ${process.version}`,
  )
}

describe.skipIf(!supported)('the AI SDK example', () => {
  test('the model starts, cancels and answers tasks, and each wake reaches it exactly once', async () => {
    const { runDemo } = await import('../examples/ai-agent/agent.js')
    const lines = await runDemo(() => {})
    const wakes = lines.filter((l) => l.startsWith('(wake)'))
    // The canceled worker, the planner's question and its end, the finished api deploy.
    expect(wakes).toHaveLength(4)
    expect(wakes.filter((l) => l.includes('is awaiting input: Which region'))).toHaveLength(1)
    expect(wakes.filter((l) => l.includes('finished: canceled'))).toHaveLength(1)
    expect(wakes.filter((l) => l.includes('finished: succeeded'))).toHaveLength(2)
    expect(lines.some((l) => l.startsWith('model calls task_cancel'))).toBe(true)
    expect(lines.some((l) => l.startsWith('model calls task_answer'))).toBe(true)
    expect(lines.some((l) => l.includes('"delivered":true'))).toBe(true)
    expect(lines.at(-1)).toBe('model: Yes: the api deploy finished, and the plan is ready.')
  })
})
