export type { SessionTasksMcpMessageQueueOptions } from './message-queue.js'
export { MCP_QUEUE_SESSION, SessionTasksMcpMessageQueue } from './message-queue.js'
export type { SessionTasksMcpTaskStoreOptions } from './task-store.js'
export { mcpSession, SessionTasksMcpTaskStore } from './task-store.js'
