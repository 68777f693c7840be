import type { MessageEvent } from '@nestjs/common';

/**
 * Marks the first message of a library stream; the interceptor uses it to take over writing.
 * Why a message: it is a real one (the resume point and `retry:`), so without the interceptor
 * Nest writes it as the stream's first frame, and with it the interceptor keeps it back and
 * attaches a sink (Nest writes only what an interceptor passes on: pinned in
 * sse-resume.interceptor.spec.ts). One path for both, and nothing looked up per request.
 */
export const SUBSCRIPTION_HANDLE = Symbol('sse-resume.subscription');

/**
 * The first message of a stream, carrying the subscription (`S`: the `TaskSubscription` that
 * made it; a parameter, so that this file needs nothing of it) for `SseResumeInterceptor`.
 */
export interface OpenMessage<S = unknown> extends MessageEvent {
  [SUBSCRIPTION_HANDLE]: S;
}

/** Whether a value an `@Sse()` handler's Observable gave is a library stream's open message. */
export function isOpenMessage<S>(value: unknown): value is OpenMessage<S> {
  return typeof value === 'object' && value !== null && SUBSCRIPTION_HANDLE in value;
}
