export { SseResumeModule } from './sse-resume.module';
export {
  SSE_RESUME_MODULE_OPTIONS,
  SSE_RESUME_OPTIONS,
  SSE_RESUME_OPTIONS_TYPE,
  SSE_RESUME_ASYNC_OPTIONS_TYPE,
} from './sse-resume.module-definition';
export * from './sse-resume.constants';
export { SseTaskService, type ExecuteRequest, type ExecuteResult } from './sse-task.service';
export { TaskEvictionService } from './task-eviction.service';
export { MISSING_SCHEDULE_MODULE } from './sse-resume.messages';
export { SseResume, TaskAccess, LastEventId, ResumeKey } from './sse-resume.decorators';
export {
  parseResumePoint,
  readResumeKey,
  type SseResumeRouteOptions,
  type ResumeRequest,
} from './access/sse-resume.request';
export { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
export { SseResumeExceptionFilter } from './sse-resume-exception.filter';
export { SseResumeInterceptor } from './streams/sse-resume.interceptor';
export { HEARTBEAT_FRAME } from './streams/sse-frames';
export { TaskEvent } from './task-event';
export { resolveOptions } from './sse-resume.options';
export { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
export { generateResumeKey, hashResumeKey, resumeKeyMatches } from './access/resume-key';
export * from './errors';
export * from './interfaces/task-status.interface';
export type * from './interfaces/task-info.interface';
export type * from './interfaces/task-context.interface';
export type * from './interfaces/stream-options.interface';
export type * from './interfaces/sse-resume-options.interface';
export type * from './interfaces/frame-sink.interface';
export { TaskStore } from './interfaces/task-store.interface';
export type {
  TaskRecord,
  NewTaskRecord,
  TaskLookup,
  HistorySlice,
  TaskTermination,
  TaskStoreLimits,
  TaskEventListener,
} from './interfaces/task-store.interface';
