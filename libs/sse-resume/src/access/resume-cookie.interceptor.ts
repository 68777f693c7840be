import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import {
  formatResumeCookie,
  isHttpsRequest,
  isSafeCookiePath,
  MAX_COOKIE_PATH_LENGTH,
  type ProtocolRequest,
  RESUME_COOKIE_PATH_HEADER,
  requestPath,
  safeHeaderPath,
} from './resume-cookie';
import type { ResumeRequest } from './sse-resume.request';

/** Options of `@ResumeCookie()`. */
export interface ResumeCookieOptions {
  /**
   * The cookie's `Path`, overriding the rules below. Default: the path the client posted
   * to (`x-resume-cookie-path` when valid, else `X-Forwarded-Prefix` + the request path,
   * else the request path) + `/` + the task id.
   */
  path?: (taskId: string, request: ResumeRequest) => string;
  /** Lifetime of the cookie in ms (`Max-Age`, rounded up to seconds). Default 24 h. */
  maxAgeMs?: number;
  /** Add `Secure`: always, never, or (`'auto'`, the default) when the request came over HTTPS. */
  secure?: boolean | 'auto';
  /** Leave `resumeKey` in the response body. Default `true`; `false` removes it. */
  keyInBody?: boolean;
}

/** The resolved options, as `@ResumeCookie()` leaves them on the route. */
export interface ResolvedResumeCookieOptions {
  path: ((taskId: string, request: ResumeRequest) => string) | undefined;
  maxAgeSeconds: number;
  secure: boolean | 'auto';
  keyInBody: boolean;
}

/**
 * 24 h: the key is needed while the task runs and then for its TTL (1 h by default); the
 * cookie is scoped to one task's path, so a long life costs little, and a browser drops it
 * by itself.
 */
export const DEFAULT_RESUME_COOKIE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export const RESUME_COOKIE_OPTIONS = Symbol('RESUME_COOKIE_OPTIONS');

const DECORATOR = '@ResumeCookie()';

/** Checks and completes the options; a bad one throws when the decorator is applied (at boot). */
export function resolveResumeCookieOptions(options: ResumeCookieOptions = {}): ResolvedResumeCookieOptions {
  const { path, maxAgeMs = DEFAULT_RESUME_COOKIE_MAX_AGE_MS, secure = 'auto', keyInBody = true } = options;
  if (path !== undefined && typeof path !== 'function') {
    throw new TypeError(`${DECORATOR}: path must be a function (taskId, request) => string`);
  }
  if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs <= 0) {
    throw new RangeError(`${DECORATOR}: maxAgeMs must be a positive number of ms, got ${String(maxAgeMs)}`);
  }
  if (secure !== true && secure !== false && secure !== 'auto') {
    throw new TypeError(`${DECORATOR}: secure must be true, false or 'auto', got ${String(secure)}`);
  }
  if (typeof keyInBody !== 'boolean') {
    throw new TypeError(`${DECORATOR}: keyInBody must be a boolean, got ${String(keyInBody)}`);
  }
  return { path, maxAgeSeconds: Math.ceil(maxAgeMs / 1000), secure, keyInBody };
}

/** The parts of a request the interceptor reads, on Express and Fastify alike. */
type CookieRequest = ResumeRequest & ProtocolRequest & { originalUrl?: unknown; url?: unknown };

interface StartedTaskBody {
  taskId: string;
  resumeKey: string;
  [field: string]: unknown;
}

function isStartedTask(value: unknown): value is StartedTaskBody {
  const body = value as Partial<StartedTaskBody> | null;
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof body.taskId === 'string' &&
    body.taskId !== '' &&
    typeof body.resumeKey === 'string' &&
    body.resumeKey !== ''
  );
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value;
  return `an object with keys [${Object.keys(value).join(', ')}]`;
}

/**
 * The interceptor of `@ResumeCookie()`: on the route that starts a task, it sets the task's
 * resume cookie from what the handler returned (`{ taskId, resumeKey, ... }`), appended to
 * any other `Set-Cookie` of the response, and can take the key out of the body.
 */
@Injectable()
export class ResumeCookieInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const options =
      this.reflector.getAllAndOverride<ResolvedResumeCookieOptions | undefined>(RESUME_COOKIE_OPTIONS, [
        context.getHandler(),
        context.getClass(),
      ]) ?? resolveResumeCookieOptions();
    const http = context.switchToHttp();
    const request = http.getRequest<CookieRequest>();
    const response = http.getResponse<unknown>();
    return next.handle().pipe(
      map((value) => {
        if (!isStartedTask(value)) {
          throw new Error(
            `${DECORATOR}: the handler must return an object with a string taskId and resumeKey ` +
              `(what SseTaskService.start() resolves to), got ${describe(value)}`,
          );
        }
        const cookie = formatResumeCookie({
          taskId: value.taskId,
          resumeKey: value.resumeKey,
          path: cookiePath(value.taskId, request, options),
          maxAgeSeconds: options.maxAgeSeconds,
          secure: options.secure === 'auto' ? isHttpsRequest(request) : options.secure,
        });
        this.adapterHost.httpAdapter.appendHeader(response, 'Set-Cookie', cookie);
        if (options.keyInBody) return value;
        const { resumeKey: _key, ...rest } = value;
        return rest;
      }),
    );
  }
}

/**
 * The cookie's `Path`: the `path` option; else the client's `x-resume-cookie-path` if it is
 * safe and ends with the request path; else a safe `X-Forwarded-Prefix` + the request path;
 * else the request path; each + `/` + the task id. A client- or proxy-given path that is
 * invalid or too long is ignored.
 */
export function cookiePath(
  taskId: string,
  request: CookieRequest,
  options: ResolvedResumeCookieOptions,
): string {
  if (options.path) {
    const path = options.path(taskId, request);
    if (typeof path !== 'string' || !isSafeCookiePath(path)) {
      throw new Error(
        `${DECORATOR}: the path option returned ${JSON.stringify(path)}, not a safe cookie path`,
      );
    }
    return path;
  }
  const url = request.originalUrl ?? request.url;
  const seen = requestPath(typeof url === 'string' ? url : '');
  const suffix = `/${taskId}`;
  const fits = (path: string) => path.length <= MAX_COOKIE_PATH_LENGTH;
  const fromClient = safeHeaderPath(request.headers[RESUME_COOKIE_PATH_HEADER]);
  if (fromClient !== undefined && fromClient.endsWith(seen) && fits(fromClient + suffix)) {
    return fromClient + suffix;
  }
  const prefix = safeHeaderPath(request.headers['x-forwarded-prefix']);
  if (prefix !== undefined && fits(prefix + seen + suffix)) return prefix + seen + suffix;
  return seen + suffix;
}
