import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { DEFAULT_KEY_QUERY } from './sse-resume.constants';
import { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
import { SseResumeInterceptor } from './streams/sse-resume.interceptor';
import {
  readLastEventId,
  readResumeKey,
  type ResumeRequest,
  SSE_RESUME_ROUTE_OPTIONS,
  type SseResumeRouteOptions,
} from './access/sse-resume.request';

/**
 * Put it beside `@Sse()` on a handler that returns `SseTaskService.stream()`:
 * - checks task, key and resume point before the response starts (a guard), so errors
 *   keep their status (404, 403, 410, 400) and a finished stream answers 204, whatever
 *   the store's latency;
 * - writes the stream itself (an interceptor): every turn's events encoded once for all
 *   subscribers, replay in bounded chunks, slow clients disconnected past `maxPendingBytes`.
 */
export function SseResume(options: SseResumeRouteOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SSE_RESUME_ROUTE_OPTIONS, options),
    UseGuards(SseResumeGuard),
    UseInterceptors(SseResumeInterceptor),
  );
}

/**
 * Put it on other routes about one task (status, cancel): checks the resume key and the
 * `authorize` option before the handler runs, with the same route settings as `@SseResume()`.
 */
export function TaskAccess(options: SseResumeRouteOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(SSE_RESUME_ROUTE_OPTIONS, options), UseGuards(TaskAccessGuard));
}

/**
 * The resume point of an SSE request: `Last-Event-ID` header, else `?lastEventId=`, as a
 * number, or `undefined`. A malformed value is an `InvalidResumePointError` (400).
 */
export const LastEventId = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<ResumeRequest>();
  return readLastEventId(request);
});

/** The resume key of a request: a non-empty `?key=` (or the given query name), else the `x-resume-key` header. */
export const ResumeKey = createParamDecorator((queryName: string | undefined, context: ExecutionContext) =>
  readResumeKey(context.switchToHttp().getRequest<ResumeRequest>(), queryName ?? DEFAULT_KEY_QUERY),
);
