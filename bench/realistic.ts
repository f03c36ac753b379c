/**
 * The comparison with the peers on a realistic task: a ~1 KB JSON spec and
 * 10 messages of history (session-tasks and the floor: recorded messages;
 * A2A: `history`; MCP: none), 100 such tasks in one session, one listener on
 * it where the subject has events. Update and get, each subject called
 * directly, interleaved in rounds.
 */
import { TaskState } from '@a2a-js/sdk'
import { InMemorySessionTaskRegistry, type JsonValue } from '../src/index.js'
import { SESSION_SIZE } from './core.js'
import { FloorRegistry } from './floor.js'
import { at, type Budget, noop, type Subject, tickingClock } from './harness.js'
import { A2APeer, a2aMessage, McpPeer } from './peers.js'
import { type Cases, runSection, type SectionResult } from './section.js'

/** The operations of the realistic section. */
export const REALISTIC_OPS = ['update', 'get'] as const
/** One of {@link REALISTIC_OPS}. */
export type RealisticOp = (typeof REALISTIC_OPS)[number]

/** A spec of ~1 KB of JSON, shaped like a background tool call. */
export function realisticSpec(i: number): { [key: string]: JsonValue } {
  const spec = {
    tool: 'run_command',
    request: { id: `req-${i}`, attempt: 1 },
    args: {
      cwd: '/workspace/repo',
      command: 'npm test -- --coverage --reporter=dot',
      env: { CI: 'true', NODE_ENV: 'test', FORCE_COLOR: '0' },
      timeoutMs: 600_000,
    },
    files: ['src/index.ts', 'src/registry.ts', 'src/supervisor.ts', 'test/registry.test.ts'],
    labels: { origin: 'agent', priority: 'normal', retries: 2 },
    prompt: '',
  }
  const pad = 1024 - JSON.stringify(spec).length
  spec.prompt = 'Run the test suite and report failures with file and line. '
    .repeat(20)
    .slice(0, Math.max(0, pad))
  return spec
}

/** The 10 history messages of a realistic task. */
export const HISTORY = Array.from(
  { length: 10 },
  (_, k) => `message ${k + 1}: checked step ${k + 1} of the plan and wrote the notes`,
)

/** Tasks with a ~1 KB spec and 10 messages of history; update and get. */
export async function runRealistic(budget: Budget): Promise<SectionResult<RealisticOp>> {
  const registry = new InMemorySessionTaskRegistry({ now: tickingClock() })
  const floor = new FloorRegistry(tickingClock())
  const a2a = new A2APeer()
  const mcp = new McpPeer()
  const sessionId = 'real-0'
  const ids: Record<Subject, string[]> = { floor: [], 'session-tasks': [], a2a: [], mcp: [] }
  for (let i = 0; i < SESSION_SIZE; i++) {
    const spec = realisticSpec(i)
    const input = { sessionId, kind: 'background_tool', displayName: 'run tests', spec }
    const r = await registry.create(input)
    const f = await floor.create(input)
    for (const text of HISTORY) {
      const message = { direction: 'outbound' as const, content: [{ type: 'text' as const, text }] }
      await registry.recordMessage(sessionId, r.id, message)
      await floor.recordMessage(sessionId, f.id, message)
    }
    await registry.update(sessionId, r.id, { state: 'running' })
    await floor.update(sessionId, f.id, { state: 'running' })
    const a = await a2a.create(sessionId, spec, (id) =>
      HISTORY.map((text) => a2aMessage(id, sessionId, text)),
    )
    await a2a.update(a.id, TaskState.TASK_STATE_WORKING)
    ids['session-tasks'].push(r.id)
    ids.floor.push(f.id)
    ids.a2a.push(a.id)
    ids.mcp.push(await mcp.create(sessionId, spec))
  }
  registry.subscribe(sessionId, noop)
  floor.subscribe(sessionId, noop)
  const cases: Cases<RealisticOp> = {
    update: {
      floor: (i) =>
        floor.update(sessionId, at(ids.floor, i), { progress: { current: i, total: i + 1 } }),
      'session-tasks': (i) =>
        registry.update(sessionId, at(ids['session-tasks'], i), {
          progress: { current: i, total: i + 1 },
        }),
      // A2A has no update: its ResultManager loads, replaces the status and saves.
      a2a: (i) => a2a.update(at(ids.a2a, i), TaskState.TASK_STATE_WORKING, `${i}/${i + 1}`),
      mcp: (i) => mcp.store.updateTaskStatus(at(ids.mcp, i), 'working', `${i}/${i + 1}`, sessionId),
    },
    get: {
      floor: (i) => floor.get(sessionId, at(ids.floor, i)),
      'session-tasks': (i) => registry.get(sessionId, at(ids['session-tasks'], i)),
      a2a: (i) => a2a.store.load(at(ids.a2a, i), a2a.context),
      mcp: (i) => mcp.store.getTask(at(ids.mcp, i), sessionId),
    },
  }
  try {
    return await runSection('realistic', REALISTIC_OPS, cases, budget)
  } finally {
    mcp.close()
  }
}
