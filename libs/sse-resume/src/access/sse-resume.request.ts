import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { DEFAULT_KEY_QUERY, DEFAULT_TASK_ID_PARAMS, RESUME_KEY_HEADER } from '../sse-resume.constants';
import { InvalidResumePointError } from '../errors/invalid-resume-point.error';
import { readCookie, resumeCookieName } from './resume-cookie';

/**
 * What the decorators set on a route and what the guards and parameter decorators read
 * from a request, in one place both sides import (so that they never import each other).
 */

/** Per-route settings of `@SseResume()` and `@TaskAccess()`. */
export interface SseResumeRouteOptions {
  /** Route parameter holding the task id. Default: `taskId`, else `id`. */
  taskIdParam?: string;
  /**
   * Query parameter holding the resume key (the `x-resume-key` header and the task's
   * `sse-resume-<taskId>` cookie also work). Default `key`.
   */
  keyQuery?: string;
  /**
   * `false`: leave the route's OpenAPI documentation (parameters, responses) to the
   * application. Default `true`: documented for `@nestjs/swagger` when it is used.
   */
  openApi?: boolean;
}

export const SSE_RESUME_ROUTE_OPTIONS = Symbol('SSE_RESUME_ROUTE_OPTIONS');

/** The parts of a request the decorators read, on Express and Fastify alike. */
export interface ResumeRequest {
  params?: Record<string, string | undefined>;
  query?: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** The settings `@SseResume()` / `@TaskAccess()` left on the handler or its class. */
export function routeOptions(reflector: Reflector, context: ExecutionContext): SseResumeRouteOptions {
  return (
    reflector.getAllAndOverride<SseResumeRouteOptions | undefined>(SSE_RESUME_ROUTE_OPTIONS, [
      context.getHandler(),
      context.getClass(),
    ]) ?? {}
  );
}

/**
 * The resume key of a request, from the first source that has one: a non-empty `?key=` (or
 * `queryName`), the `x-resume-key` header, then, when `taskId` is given, the cookie
 * `sse-resume-<taskId>`. An empty `?key=` counts as absent, so that it cannot hide a key
 * sent otherwise; a repeated query parameter or header counts as absent too.
 */
export function readResumeKey(
  request: ResumeRequest,
  queryName: string = DEFAULT_KEY_QUERY,
  taskId?: string,
): string | undefined {
  const fromQuery = request.query?.[queryName];
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery;
  const fromHeader = request.headers[RESUME_KEY_HEADER];
  if (typeof fromHeader === 'string') return fromHeader;
  return taskId === undefined ? undefined : readCookie(request.headers.cookie, resumeCookieName(taskId));
}

/** `Last-Event-ID` header, else `?lastEventId=`; a malformed value is an `InvalidResumePointError` (400). */
export function readLastEventId(request: ResumeRequest): number | undefined {
  return parseResumePoint(request.headers['last-event-id'], request.query?.lastEventId);
}

/** The task id from the route parameter named in the settings (default `taskId`, else `id`), if any. */
export function findTaskId(request: ResumeRequest, options: SseResumeRouteOptions): string | undefined {
  return taskIdParams(options)
    .map((name) => request.params?.[name])
    .find((value) => typeof value === 'string');
}

/** {@link findTaskId}, for the guards: a route without the parameter is a programming error. */
export function readTaskId(
  request: ResumeRequest,
  options: SseResumeRouteOptions,
  decorator: string,
): string {
  const taskId = findTaskId(request, options);
  if (taskId === undefined) {
    throw new Error(
      `${decorator}: the route has no parameter ${taskIdParams(options).join(' or ')}; set taskIdParam to the one holding the task id`,
    );
  }
  return taskId;
}

function taskIdParams(options: SseResumeRouteOptions): readonly string[] {
  return options.taskIdParam ? [options.taskIdParam] : DEFAULT_TASK_ID_PARAMS;
}

/** Largest resume point accepted: ids are JavaScript integers. */
const MAX_DIGITS = 16;

/**
 * Reads the resume point of a stream request: the `Last-Event-ID` header (what a
 * reconnecting `EventSource` sends), else the `lastEventId` query parameter (what a page
 * uses to resume after a reload), else `undefined` (start of the retained history).
 * Accepts only a plain non-negative integer; anything else is an `InvalidResumePointError` (400).
 */
export function parseResumePoint(header: unknown, query?: unknown): number | undefined {
  if (header !== undefined && header !== '') return parseId(header, 'Last-Event-ID');
  if (query !== undefined && query !== '') return parseId(query, 'lastEventId');
  return undefined;
}

function parseId(value: unknown, source: string): number {
  if (typeof value !== 'string') throw new InvalidResumePointError(`${source} must be given once`);
  if (value.length > MAX_DIGITS || !/^[0-9]+$/.test(value)) {
    throw new InvalidResumePointError(`${source} must be a non-negative integer event id`);
  }
  const id = Number(value);
  if (!Number.isSafeInteger(id)) throw new InvalidResumePointError(`${source} is too large`);
  return id;
}
