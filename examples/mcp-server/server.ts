// An MCP server (Streamable HTTP, stateless) whose long tool calls run as MCP
// tasks kept in session-tasks. Start two on one PostgreSQL database and
// either one answers tasks/get, tasks/result, tasks/list and tasks/cancel
// for a call the other took:
//
//   DATABASE_URL=postgres://... PORT=4101 npx tsx examples/mcp-server/server.ts
//
// Without DATABASE_URL the tasks are kept in memory (one process). It
// prints one JSON line, {"url": ...}, once it listens on 127.0.0.1.
import type { Server } from 'node:http'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import express from 'express'
import pg from 'pg'
import {
  fromPgPool,
  migrate,
  PostgresSessionTaskRegistry,
} from '../../src/backends/postgres/index.js'
import { InMemorySessionTaskRegistry } from '../../src/index.js'
import type { SessionTaskRegistry } from '../../src/registry/registry.js'
import { buildServer } from './tools.js'

const databaseUrl = process.env.DATABASE_URL ?? ''
const port = Number(process.env.PORT ?? 4101)

async function openRegistry(): Promise<{
  registry: SessionTaskRegistry
  close: () => Promise<void>
}> {
  if (databaseUrl === '') {
    return { registry: new InMemorySessionTaskRegistry(), close: async () => {} }
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 })
  const client = fromPgPool(pool)
  const prefix = process.env.TABLE_PREFIX ?? 'mcp_example_'
  await migrate(client, { prefix })
  const registry = new PostgresSessionTaskRegistry({ client, prefix })
  // Started, the registry hears the other servers' writes (an answer posted there).
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
const stepMs = Number(process.env.STEP_MS ?? 200)

const app = express()
app.use(express.json())
// Stateless: a fresh server and transport per request; the task state is all in the registry.
app.post('/mcp', async (req, res) => {
  const server = buildServer({ registry, stepMs })
  const transport = new StreamableHTTPServerTransport({})
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
})

// Stateful: one server and transport per MCP session, kept here, so a
// question asked by elicitation gets its answer back (`confirm`).
const sessions = new Map<string, StreamableHTTPServerTransport>()
app.all('/mcp/session', async (req, res) => {
  const id = req.header('mcp-session-id')
  let transport = id === undefined ? undefined : sessions.get(id)
  if (transport === undefined) {
    if (id !== undefined || req.method !== 'POST') {
      res
        .status(404)
        .json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null })
      return
    }
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (sid) => void sessions.set(sid, created),
    })
    created.onclose = () => {
      if (created.sessionId !== undefined) sessions.delete(created.sessionId)
    }
    await buildServer({ registry, stepMs }).connect(created)
    transport = created
  }
  await transport.handleRequest(req, res, req.body)
})

const http: Server = app.listen(port, '127.0.0.1', () => {
  const address = http.address()
  const actual = typeof address === 'object' && address !== null ? address.port : port
  console.log(JSON.stringify({ url: `http://127.0.0.1:${actual}/mcp` }))
})

async function stop() {
  http.close()
  http.closeAllConnections()
  await close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
