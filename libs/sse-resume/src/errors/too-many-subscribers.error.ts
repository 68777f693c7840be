import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The task has as many open streams as `maxSubscribersPerTask` allows. HTTP 429. */
export class TooManySubscribersError extends SseResumeError {
  readonly code = 'TOO_MANY_SUBSCRIBERS' as const;
  /** Suggested wait before retrying, sent as `Retry-After` by `SseResumeExceptionFilter`. */
  readonly retryAfterSeconds = 5;

  constructor(
    readonly taskId: string,
    readonly limit: number,
  ) {
    super(
      `task ${taskId} already has ${limit} subscribers`,
      HttpStatus.TOO_MANY_REQUESTS,
      'TOO_MANY_SUBSCRIBERS',
    );
  }
}
