export type {
  AiToolSpec,
  BackgroundToolOutput,
  BackgroundToolsOptions,
  ToolShape,
} from './background-tool.js'
export { AI_TOOL_KIND, aiToolExecutor, backgroundTools } from './background-tool.js'
export type { AnswerInput, AnswerOutput, QuestionToolsOptions } from './question-tools.js'
export { questionTools } from './question-tools.js'
export type { TaskDataChunk, TaskPartsOptions, TaskPartWriter } from './task-parts.js'
export { writeTaskParts } from './task-parts.js'
export type { TaskToolRefusal, TaskToolsOptions } from './task-tools.js'
export { taskTools } from './task-tools.js'
export type { TaskView } from './task-view.js'
export { taskView } from './task-view.js'
export type { RunWhileTasksOpenOptions, WakeStepsOptions } from './wakes.js'
export { nextWakes, runWhileTasksOpen, wakeMessage, wakeSteps } from './wakes.js'
