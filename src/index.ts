export type {
  AllSessionsListener,
  ListenerErrorHandler,
  SessionTaskEmitter,
  SessionTaskEvent,
  SessionTaskEvents,
  SessionTaskEventType,
  SessionTaskListener,
} from './events/emitter.js'
export type { EventGap, SequencedEvent, StoredEvent } from './events/event.js'
export type { TaskAbortKind } from './execution/abort-reason.js'
export { TASK_ABORT_KINDS, TaskAbortReason } from './execution/abort-reason.js'
export type { ConcurrencyLimits } from './execution/admission.js'
export type {
  ResolvedTaskExecutor,
  TaskExecutionContext,
  TaskExecutor,
  TaskExecutorPlugin,
} from './execution/executor.js'
export {
  defaultTaskExecutors,
  findTaskExecutor,
  listTaskExecutorKinds,
  registerTaskExecutor,
  TaskExecutorRegistry,
} from './execution/executor-registry.js'
export { FORWARDED_MESSAGE_PREFIX } from './execution/forwarding.js'
export type { ReapOptions, ReapOutcome, ReapResult } from './execution/reaper.js'
export type { RegistryTaskSinkOptions, SinkMessage, TaskSink } from './execution/sink.js'
export { RegistryTaskSink } from './execution/sink.js'
export type { TaskSupervisor } from './execution/supervisor.js'
export { createTaskSupervisor } from './execution/supervisor.js'
export type {
  CancelOptions,
  HousekeepingOptions,
  MessageDelivery,
  MessageOptions,
  SpawnOptions,
  SupervisorMessage,
  TaskRef,
  TaskSupervisorOptions,
  WaitAllResult,
  WaitAnyResult,
  WaitOptions,
} from './execution/supervisor-options.js'
export type { TimerOptions, TimerSource } from './execution/timer.js'
export type { WakeQueue, WakeWaitOptions } from './execution/wake-queue.js'
export { createWakeQueue } from './execution/wake-queue.js'
export type { A2AStateMapping, A2ATaskState } from './interop/a2a.js'
export { A2A_TASK_STATES, fromA2ATaskState, toA2ATaskState } from './interop/a2a.js'
export type { WireSessionTask, WireTaskLinks, WireTaskMessage } from './interop/wire.js'
export {
  fromWireMessage,
  fromWireTask,
  toWireMessage,
  toWireTask,
  WireSessionTaskSchema,
  WireTaskLinksSchema,
  WireTaskMessageSchema,
} from './interop/wire.js'
export type { Subscription } from './model/dispose.js'
export { toSubscription } from './model/dispose.js'
export type { SessionTaskErrorCode, ValidationIssue } from './model/errors.js'
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
} from './model/errors.js'
export { generateTaskId, generateTaskMessageId } from './model/ids.js'
export type { JsonValue } from './model/json.js'
export { MAX_JSON_DEPTH, MAX_JSON_NODES } from './model/json.js'
export { taskMessageText } from './model/message-text.js'
export { taskResultPath, taskVfsDir } from './model/paths.js'
export type {
  ListMessagesOptions,
  ListOverdueOptions,
  ListQueuedOptions,
  ListStaleOptions,
  PruneOptions,
  QueryTasksOptions,
} from './model/scan-schemas.js'
export {
  ListMessagesOptionsSchema,
  ListOverdueOptionsSchema,
  ListQueuedOptionsSchema,
  ListStaleOptionsSchema,
  PruneOptionsSchema,
  QueryTasksOptionsSchema,
} from './model/scan-schemas.js'
export type {
  AnyFunction,
  CreateSessionTask,
  DeepReadonly,
  JsonObject,
  NewTaskMessage,
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
} from './model/schemas.js'
export {
  CallerTaskIdSchema,
  CreateSessionTaskSchema,
  InputRequestIdSchema,
  JsonObjectSchema,
  JsonValueSchema,
  NewTaskMessageSchema,
  SessionIdSchema,
  SessionTaskFilterSchema,
  SessionTaskSchema,
  SessionTaskStateSchema,
  SessionTaskUpdateSchema,
  TaskArtifactSchema,
  TaskErrorSchema,
  TaskIdSchema,
  TaskInputRequestSchema,
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
} from './model/schemas.js'
export type {
  SessionTaskState,
  TaskMessageDirection,
  TaskStepStatus,
  TaskWakePolicy,
  TerminalTaskState,
} from './model/state.js'
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
} from './model/state.js'
export type { ClaimOptions, DispatchMode } from './model/supervisor-schemas.js'
export { DISPATCH_MODES } from './model/supervisor-schemas.js'
export type { SessionTaskIn, TerminalSessionTask } from './model/task-guards.js'
export { isTaskInState, isTerminalTask } from './model/task-guards.js'
export type { SessionTaskRegistryCoreOptions } from './registry/core.js'
export { SessionTaskRegistryCore } from './registry/core.js'
export type { InMemorySessionTaskRegistryOptions } from './registry/in-memory-registry.js'
export { InMemorySessionTaskRegistry } from './registry/in-memory-registry.js'
export type { InMemoryTaskStoreOptions } from './registry/memory-store.js'
export { InMemoryTaskStore } from './registry/memory-store.js'
export type { QueryTasksResult } from './registry/queries.js'
export type { ClaimResult, SessionTaskRegistry, TaskUpdateResult } from './registry/registry.js'
export type {
  RunningCounts,
  SessionTaskStore,
  StoreEventSink,
  StoreInsert,
  StoreMessageQuery,
  StoreModified,
  StoreQueryRow,
  StoreSnapshot,
  StoreTaskQuery,
  TaskDecision,
  TaskWrite,
} from './registry/store.js'
export { GENERATED_MESSAGE_PREFIX } from './registry/store.js'
export type { ClaimRefusal } from './rules/claim.js'
export { newSessionTask } from './rules/create.js'
export { applyTaskUpdate } from './rules/lifecycle.js'
export { toPublicTask } from './rules/projection.js'
export type { ServerSentEventsOptions } from './stream/sse.js'
export { serverSentEventFrame, sinceFromLastEventId, toServerSentEvents } from './stream/sse.js'
export type { StreamItem, StreamOptions, StreamSnapshotItem } from './stream/stream.js'
