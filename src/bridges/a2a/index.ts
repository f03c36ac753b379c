export type { SessionTasksA2ATaskStoreOptions } from './task-store.js'
export { SessionTasksA2ATaskStore } from './task-store.js'
