// An A2A server whose tasks live in session-tasks. Start two of them on one
// PostgreSQL database and either one serves the tasks of both:
//
//   DATABASE_URL=postgres://... PORT=4001 npx tsx examples/a2a-server/server.ts
//   DATABASE_URL=postgres://... PORT=4002 npx tsx examples/a2a-server/server.ts
//
// Without DATABASE_URL the tasks are kept in memory (one process). It
// prints one JSON line, {"url": ...}, once it listens on 127.0.0.1.
import type { Server } from 'node:http'
import { DefaultRequestHandler } from '@a2a-js/sdk/server'
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express'
import express from 'express'
import pg from 'pg'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
} from '../../src/backends/postgres/index.js'
import {
  SessionTasksA2AEventBusManager,
  SessionTasksA2ATaskStore,
} from '../../src/bridges/a2a/index.js'
import { InMemorySessionTaskRegistry } from '../../src/index.js'
import type { SessionTaskRegistry } from '../../src/registry/registry.js'
import { SampleAgent, sampleCard } from './agent.js'

const databaseUrl = process.env.DATABASE_URL ?? ''
const port = Number(process.env.PORT ?? 4001)

async function openRegistry(): Promise<{
  registry: SessionTaskRegistry
  close: () => Promise<void>
}> {
  if (databaseUrl === '') {
    return { registry: new InMemorySessionTaskRegistry(), close: async () => {} }
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 })
  const client = fromPgPool(pool)
  const prefix = process.env.TABLE_PREFIX ?? 'a2a_example_'
  await migrate(client, { prefix })
  const registry = new PostgresSessionTaskRegistry({ client, prefix })
  // Started, the registry hears the other servers' writes: live streams across processes.
  await registry.start()
  return {
    registry,
    close: async () => {
      await registry.close()
      await pool.end()
    },
  }
}

const { registry, close } = await openRegistry()
const agent = new SampleAgent({ stepMs: Number(process.env.STEP_MS ?? 200) })
const store = new SessionTasksA2ATaskStore({ registry })
const buses = new SessionTasksA2AEventBusManager({ registry })
let base = ''
const card = () => sampleCard(`${base}/a2a/jsonrpc`)
const handler = new DefaultRequestHandler(card(), store, buses.agentExecutor(agent), buses)

const app = express()
app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: async () => card() }))
app.use(
  '/a2a/jsonrpc',
  jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }),
)
const server: Server = app.listen(port, '127.0.0.1', () => {
  const address = server.address()
  base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`
  console.log(JSON.stringify({ url: base }))
})

async function stop() {
  server.close()
  server.closeAllConnections()
  await close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
