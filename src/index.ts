export type { A2AStateMapping, A2ATaskState } from './a2a.js'
export { A2A_TASK_STATES, fromA2ATaskState, toA2ATaskState } from './a2a.js'
export type { SessionTaskErrorCode, ValidationIssue } from './errors.js'
export {
  DuplicateExecutorError,
  isDuplicateExecutorError,
  isNoExecutorError,
  isSessionTaskError,
  isStaleAttemptError,
  isStreamOverflowError,
  isTaskConflictError,
  isTaskNotFoundError,
  isUnsupportedOperationError,
  isValidationError,
  NoExecutorError,
  SESSION_TASK_ERROR_CODES,
  SessionTaskError,
  StaleAttemptError,
  StreamOverflowError,
  TaskConflictError,
  TaskNotFoundError,
  UnsupportedOperationError,
  ValidationError,
} from './errors.js'
export type {
  AllSessionsListener,
  ListenerErrorHandler,
  SessionTaskEmitter,
  SessionTaskEvent,
  SessionTaskEvents,
  SessionTaskEventType,
  SessionTaskListener,
} from './events.js'
export type {
  ResolvedTaskExecutor,
  TaskExecutionContext,
  TaskExecutor,
  TaskExecutorPlugin,
} from './executor.js'
export {
  defaultTaskExecutors,
  findTaskExecutor,
  listTaskExecutorKinds,
  registerTaskExecutor,
  TaskExecutorRegistry,
} from './executor-registry.js'
export { generateTaskId, generateTaskMessageId } from './ids.js'
export type { InMemorySessionTaskRegistryOptions } from './in-memory-registry.js'
export { InMemorySessionTaskRegistry } from './in-memory-registry.js'
export type { JsonValue } from './json.js'
export { MAX_JSON_DEPTH } from './json.js'
export { applyTaskUpdate } from './lifecycle.js'
export { taskMessageText } from './message.js'
export { taskResultPath, taskVfsDir } from './paths.js'
export { toPublicTask } from './public-task.js'
export type { ReapOptions, ReapOutcome, ReapResult } from './reaper.js'
export type { SessionTaskRegistry, TaskUpdateResult } from './registry.js'
export type {
  AnyFunction,
  CreateSessionTask,
  ListMessagesOptions,
  ListStaleOptions,
  NewTaskMessage,
  PruneOptions,
  SessionTask,
  SessionTaskFilter,
  SessionTaskUpdate,
  TaskArtifact,
  TaskError,
  TaskInputRequest,
  TaskLinks,
  TaskLinksInput,
  TaskMessage,
  TaskMessagePart,
  TaskOutput,
  TaskProgress,
  TaskStep,
  TaskWake,
  TaskWakeTransition,
} from './schemas.js'
export {
  AttemptSchema,
  CallerTaskIdSchema,
  ConcurrencyLimitsSchema,
  CreateSessionTaskSchema,
  DurationMsSchema,
  FunctionSchema,
  HousekeepingOptionsSchema,
  InputRequestIdSchema,
  JsonValueSchema,
  ListMessagesOptionsSchema,
  ListStaleOptionsSchema,
  NewSinkMessageSchema,
  NewTaskMessageSchema,
  PruneOptionsSchema,
  ReapOptionsSchema,
  RegistryOptionsSchema,
  SessionIdSchema,
  SessionTaskFilterSchema,
  SessionTaskSchema,
  SessionTaskStateSchema,
  SessionTaskUpdateSchema,
  SpawnOptionsSchema,
  StreamOptionsSchema,
  SupervisorMessageSchema,
  SupervisorOptionsSchema,
  TaskArtifactSchema,
  TaskErrorSchema,
  TaskExecutorPluginSchema,
  TaskIdSchema,
  TaskInputRequestSchema,
  TaskKindSchema,
  TaskLinksInputSchema,
  TaskLinksSchema,
  TaskMessageDirectionSchema,
  TaskMessagePartSchema,
  TaskMessageSchema,
  TaskOutputSchema,
  TaskProgressSchema,
  TaskStepSchema,
  TaskStepStatusSchema,
  TaskWakePolicySchema,
  TaskWakeSchema,
  TaskWakeTransitionSchema,
  WaitOptionsSchema,
} from './schemas.js'
export type { SinkMessage, TaskSink } from './sink.js'
export { RegistryTaskSink } from './sink.js'
export type { ServerSentEventsOptions } from './sse.js'
export { serverSentEventFrame, sinceFromLastEventId, toServerSentEvents } from './sse.js'
export type {
  SessionTaskState,
  TaskMessageDirection,
  TaskStepStatus,
  TaskWakePolicy,
  TerminalTaskState,
} from './state.js'
export {
  isTerminalState,
  parseTaskState,
  SESSION_TASK_STATES,
  TASK_KIND_AGENT_HANDOFF,
  TASK_KIND_BACKGROUND_TOOL,
  TASK_KIND_EXTERNAL_AGENT,
  TASK_KIND_MONITOR,
  TASK_KIND_SESSION,
  TASK_KIND_SUBAGENT,
  TASK_MESSAGE_DIRECTIONS,
  TASK_STEP_STATUSES,
  TASK_WAKE_POLICIES,
  TERMINAL_TASK_STATES,
} from './state.js'
export type { StreamItem, StreamOptions, StreamSnapshotItem } from './stream.js'
export type {
  ConcurrencyLimits,
  HousekeepingOptions,
  MessageDelivery,
  SpawnOptions,
  SupervisorMessage,
  TaskSupervisor,
  TaskSupervisorOptions,
  WaitOptions,
} from './supervisor.js'
export { createTaskSupervisor } from './supervisor.js'
export { newSessionTask } from './task.js'
export type { WakeQueue } from './wake-queue.js'
export { createWakeQueue } from './wake-queue.js'
export type { WireSessionTask, WireTaskLinks, WireTaskMessage } from './wire.js'
export {
  fromWireMessage,
  fromWireTask,
  toWireMessage,
  toWireTask,
  WireSessionTaskSchema,
  WireTaskLinksSchema,
  WireTaskMessageSchema,
} from './wire.js'
