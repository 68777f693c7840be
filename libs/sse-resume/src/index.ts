/**
 * The public API of nest-sse-resume. What is not exported here is internal and may change
 * in any release. The Redis store is `nest-sse-resume/redis`; the store contract suite for
 * authors of other stores is `nest-sse-resume/testing`; the `@nestjs/terminus` health
 * indicator is `nest-sse-resume/terminus`.
 *
 * @module nest-sse-resume
 */
export { SseResumeModule } from './sse-resume.module';
export {
  SSE_RESUME_RESOLVED_OPTIONS,
  type SseResumeModuleOptions,
  type SseResumeAsyncOptions,
} from './sse-resume.module-definition';
export {
  END_EVENT,
  EVICTION_JOB_NAME,
  GAP_EVENT,
  PROGRESS_EVENT,
  RESUME_KEY_HEADER,
} from './sse-resume.constants';
export { SseTaskService, type ExecuteRequest, type ExecuteResult } from './sse-task.service';
export { SseResume, TaskAccess, LastEventId, ResumeKey, ResumeCookie } from './sse-resume.decorators';
export { resumeCookieName, RESUME_COOKIE_PATH_HEADER } from './access/resume-cookie';
export type { ResumeCookieOptions } from './access/resume-cookie.interceptor';
export type { SseResumeRouteOptions, ResumeRequest } from './access/sse-resume.request';
export { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
export { SseResumeExceptionFilter } from './sse-resume-exception.filter';
export { SseResumeInterceptor } from './streams/sse-resume.interceptor';
export { TaskEvent } from './task-event';
export { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
export * from './errors';
export * from './interfaces/task-status.interface';
export type * from './interfaces/task-info.interface';
export type * from './interfaces/task-context.interface';
export type * from './interfaces/stream-options.interface';
export type * from './interfaces/sse-resume-options.interface';
export type * from './interfaces/redis-store-settings.interface';
export type * from './interfaces/store-health.interface';
export type * from './interfaces/metrics.interface';
export { TaskStore } from './interfaces/task-store.interface';
export type {
  TaskRecord,
  NewTaskRecord,
  TaskLookup,
  HistorySlice,
  TaskTermination,
  TaskStoreLimits,
  TaskEventListener,
  TaskEndedListener,
  FrameSlice,
  TaskClaim,
  SourceEvent,
} from './interfaces/task-store.interface';
export { TaskHandler } from './durable/task-handler.decorator';
export * from './queue-streams';
export { RETRY_EVENT } from './durable/durable.constants';
export type {
  DurableTaskHandler,
  DurableTaskContext,
  DurableBackoff,
  StartNamedTaskOptions,
} from './interfaces/durable-task.interface';
export type {
  DurableTasksOptions,
  QueueConnectionSettings,
  QueueStreamsOptions,
} from './interfaces/durable-options.interface';
