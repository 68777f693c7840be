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
  // Not `delete`: that turns the request into a dictionary-mode object (~1.5 KB kept per stream).
  (request as RequestWithStream)[AUTHORIZED_STREAM] = undefined;
  return entry.result;
}

/**
 * The request a `@SseResume()` handler is serving, while it runs. `SseTaskService.stream()`
 * is called by the handler with a task id and options only, not the request; the interceptor
 * runs the handler inside this context so that `stream()` can read the guard's result from
 * the request. Nest binds the handler to the async context in which the interceptor called
 * `next.handle()` (`stream-request.spec.ts` pins that); without the interceptor there is no
 * request here and the stream checks access itself.
 *
 * On Node 20 an enabled AsyncLocalStorage makes every promise pay for async hooks (about
 * a fifth of the server CPU of a fast single stream in the benchmark), so the storage is
 * enabled only while some stream is opening and disabled again once none is: a stream that
 * opens while it is off only loses the shortcut, never correctness.
 */
interface StreamRequestContext {
  /** Cleared on release: async resources made meanwhile keep this context, not the request. */
  request: object | undefined;
  /** Ends this request's need for the storage (idempotent). */
  release: () => void;
  /** The interceptor writes the head itself, once the stream has opened (a claimed route). */
  readonly holdsHead: boolean;
}

const currentRequest = new AsyncLocalStorage<StreamRequestContext>();
let opening = 0;

/**
 * Runs `work` (the interceptor's `next.handle()`) with `request` as the current request.
 * Returns `release`, to call once the stream has opened or failed (idempotent; reading the
 * request with {@link takeStreamRequest} releases it too).
 */
export function runWithStreamRequest<T>(
  request: object,
  work: () => T,
  holdsHead = false,
): { result: T; release: () => void } {
  opening++;
  const context: StreamRequestContext = { request, release: () => undefined, holdsHead };
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    context.request = undefined;
    if (--opening === 0) currentRequest.disable();
  };
  context.release = release;
  try {
    return { result: currentRequest.run(context, work), release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Whether the interceptor serving the current handler writes the response head only once the
 * stream has opened (read it before {@link takeStreamRequest}, which releases the context).
 */
export function streamRequestHoldsHead(): boolean {
  return currentRequest.getStore()?.holdsHead === true;
}

/** The request the current handler serves, if an interceptor set one; reading it releases it. */
export function takeStreamRequest(): object | undefined {
  const context = currentRequest.getStore();
  const request = context?.request;
  context?.release();
  return request;
}
