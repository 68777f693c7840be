/**
 * The client of nest-sse-resume task streams, for browsers and Node: starts a task, follows
 * its events to the `end` event and resumes with `Last-Event-ID` across cuts, reloads and
 * restarts. The RxJS binding is `nest-sse-resume-client/rxjs`.
 *
 * @module nest-sse-resume-client
 */
export { SseResumeClient } from './client.js';
export type { SseResumeClientOptions, TaskHandlers, TaskRoutes, TaskSubscription } from './client.js';
export { IdleTimeoutError, TaskStream } from './task-stream.js';
export type { ReconnectInfo, StreamOptions } from './task-stream.js';
export type { ReconnectOptions } from './backoff.js';
export { defaultStorage, memoryStorage } from './storage.js';
export type { ResumeStorage } from './storage.js';
export {
  ProtocolError,
  RetriesExhaustedError,
  SseClientError,
  TaskBadRequestError,
  TaskExpiredError,
  TaskForbiddenError,
  TaskHttpError,
  TaskNotFoundError,
} from './errors.js';
export { SseParser } from './sse-parser.js';
export type { SseEvent, SseParserHandlers, SseParserOptions } from './sse-parser.js';
export type {
  AnyTaskEvents,
  ReservedEventName,
  StartedTask,
  TaskDataEvent,
  TaskEndEvent,
  TaskGapEvent,
  TaskInfo,
  TaskStreamEvent,
  TerminalStatus,
} from './types.js';
