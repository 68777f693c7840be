import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DEFAULT_KEY_QUERY } from './sse-resume.constants';
import { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
import { SseResumeInterceptor } from './streams/sse-resume.interceptor';
import { claimSseRoute } from './streams/nest-sse-route';
import {
  findTaskId,
  readLastEventId,
  readResumeKey,
  type ResumeRequest,
  routeOptions,
  SSE_RESUME_ROUTE_OPTIONS,
  type SseResumeRouteOptions,
} from './access/sse-resume.request';
import {
  RESUME_COOKIE_OPTIONS,
  ResumeCookieInterceptor,
  type ResumeCookieOptions,
  resolveResumeCookieOptions,
} from './access/resume-cookie.interceptor';
import { documentRoutes, type RouteDocs } from './openapi/openapi-metadata';
import { accessRouteDocs, resumeCookieDocs, streamRouteDocs } from './openapi/openapi-docs';

/**
 * Put it beside `@Sse()` on a handler that returns `SseTaskService.stream()`:
 * - checks task, key and resume point before the response starts (a guard), so errors
 *   keep their status (404, 403, 410, 400) and a finished stream answers 204, whatever
 *   the store's latency;
 * - writes the stream itself (an interceptor): every turn's events encoded once for all
 *   subscribers, replay in bounded chunks, slow clients disconnected past `maxPendingBytes`;
 *   on a method, the response too, head included, so that an idle stream keeps nothing of
 *   Nest's per-stream SSE machinery (see streams/nest-sse-route.ts);
 * - documents the route for `@nestjs/swagger`, if the application uses it (`text/event-stream`,
 *   the resume and key parameters, every error; `openApi: false` leaves it to you).
 */
export function SseResume(options: SseResumeRouteOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SSE_RESUME_ROUTE_OPTIONS, options),
    UseGuards(SseResumeGuard),
    UseInterceptors(SseResumeInterceptor),
    ...openApiDocs(options, () => streamRouteDocs(options)),
    claimRoute,
  );
}

/** On a method: lets `SseResumeInterceptor` own the `@Sse()` route's response (nest-sse-route.ts). */
function claimRoute(target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void {
  if (key !== undefined && descriptor) claimSseRoute(target, key, descriptor.value);
}

/**
 * Put it on other routes about one task (status, cancel): checks the resume key and the
 * `authorize` option before the handler runs, with the same route settings as `@SseResume()`
 * (the key parameters and the errors are documented for `@nestjs/swagger` alike).
 */
export function TaskAccess(options: SseResumeRouteOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SSE_RESUME_ROUTE_OPTIONS, options),
    UseGuards(TaskAccessGuard),
    ...openApiDocs(options, () => accessRouteDocs(options)),
  );
}

/**
 * The resume point of an SSE request: `Last-Event-ID` header, else `?lastEventId=`, as a
 * number, or `undefined`. A malformed value is an `InvalidResumePointError` (400).
 */
export const LastEventId = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<ResumeRequest>();
  return readLastEventId(request);
});

/** Reads route metadata only: needs no injection. */
const reflector = new Reflector();

/**
 * The resume key of a request, found as the guards find it: a non-empty `?key=` (or the
 * given query name, else the route's `keyQuery`), else the `x-resume-key` header, else the
 * cookie `sse-resume-<taskId>` of the route's task id (`taskIdParam`, else the `taskId` or
 * `id` parameter; no task id parameter, no cookie).
 */
export const ResumeKey = createParamDecorator((queryName: string | undefined, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<ResumeRequest>();
  const options = routeOptions(reflector, context);
  return readResumeKey(
    request,
    queryName ?? options.keyQuery ?? DEFAULT_KEY_QUERY,
    findTaskId(request, options),
  );
});

/**
 * Put it on the route that starts a task (its handler returns `{ taskId, resumeKey, ... }`,
 * or a promise of it): the response sets the cookie
 * `sse-resume-<taskId>=<resumeKey>; Path=<path>; Max-Age=<s>; HttpOnly; SameSite=Strict[; Secure]`,
 * which the guards and `@ResumeKey()` read on that task's routes, so that no key has to go
 * into a URL. See {@link ResumeCookieOptions} for the path, lifetime and `Secure` rules. The
 * route's success response documents the `Set-Cookie` header for `@nestjs/swagger`.
 */
export function ResumeCookie(options: ResumeCookieOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(RESUME_COOKIE_OPTIONS, resolveResumeCookieOptions(options)),
    UseInterceptors(ResumeCookieInterceptor),
    documentRoutes(resumeCookieDocs),
  );
}

/**
 * The OpenAPI documentation of a route (openapi/), unless `openApi: false`; on a class, of
 * each of its routes that has no `@SseResume()` / `@TaskAccess()` of its own.
 */
function openApiDocs(options: SseResumeRouteOptions, docs: () => RouteDocs) {
  if (options.openApi === false) return [];
  return [documentRoutes(docs, (handler) => Reflect.hasOwnMetadata(SSE_RESUME_ROUTE_OPTIONS, handler))];
}
