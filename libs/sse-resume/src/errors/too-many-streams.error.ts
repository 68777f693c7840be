import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * This instance has as many open streams as `maxStreams` allows (a reconnect storm past its
 * capacity). HTTP 503 with `Retry-After`: a load balancer may send the retry elsewhere.
 */
export class TooManyStreamsError extends SseResumeError {
  readonly code = 'TOO_MANY_STREAMS' as const;
  /** Suggested wait before retrying, sent as `Retry-After` by `SseResumeExceptionFilter`. */
  readonly retryAfterSeconds = 2;

  constructor(readonly limit: number) {
    super(
      `this instance already serves ${limit} streams (maxStreams); retry shortly`,
      HttpStatus.SERVICE_UNAVAILABLE,
      'TOO_MANY_STREAMS',
    );
  }
}
