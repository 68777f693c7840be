import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuthorizedStream, StreamOptions } from '../interfaces/stream-options.interface';

/**
 * What the `@SseResume()` guard learned about the stream it checked, kept on the request
 * itself (the way `request.user` is), so that the stream does not ask the store again.
 */
const AUTHORIZED_STREAM = Symbol('sse-resume.authorizedStream');

interface AuthorizedStreamEntry {
  taskId: string;
  resumeKey: string | undefined;
  lastEventId: number | undefined;
  result: AuthorizedStream;
}

type RequestWithStream = { [AUTHORIZED_STREAM]?: AuthorizedStreamEntry };

/** Leaves a guard's result on the request (an object; other values are ignored). */
export function rememberAuthorizedStream(
  request: unknown,
  taskId: string,
  options: StreamOptions,
  result: AuthorizedStream,
): void {
  if (typeof request !== 'object' || request === null) return;
  (request as RequestWithStream)[AUTHORIZED_STREAM] = {
    taskId,
    resumeKey: options.resumeKey,
    lastEventId: options.lastEventId,
    result,
  };
}

/**
 * The guard's result for this very stream (same task, key and resume point), taken off the
 * request so that it serves one stream only; `undefined` when the handler streams anything
 * else than what the guard checked.
 */
export function takeAuthorizedStream(
  request: unknown,
  taskId: string,
  options: StreamOptions,
): AuthorizedStream | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const entry = (request as RequestWithStream)[AUTHORIZED_STREAM];
  if (
    entry === undefined ||
    entry.taskId !== taskId ||
    entry.resumeKey !== options.resumeKey ||
    entry.lastEventId !== options.lastEventId
  ) {
    return undefined;
  }
  delete (request as RequestWithStream)[AUTHORIZED_STREAM];
  return entry.result;
}

/**
 * The request a `@SseResume()` handler is serving, while it runs. `SseTaskService.stream()`
 * is called by the handler with a task id and options only, not the request; the interceptor
 * runs the handler inside this context so that `stream()` can read the guard's result from
 * the request. Nest binds the handler to the async context in which the interceptor called
 * `next.handle()` (`stream-request.spec.ts` pins that); without the interceptor there is no
 * request here and the stream checks access itself.
 */
const currentRequest = new AsyncLocalStorage<object>();

export function runWithStreamRequest<T>(request: object, work: () => T): T {
  return currentRequest.run(request, work);
}

export function currentStreamRequest(): object | undefined {
  return currentRequest.getStore();
}
