import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The task store (e.g. Redis) cannot be reached. HTTP 503. */
export class StoreUnavailableError extends SseResumeError {
  readonly code = 'STORE_UNAVAILABLE' as const;

  constructor(
    detail: string,
    cause?: unknown,
    /** Suggested wait before retrying, sent as `Retry-After` by `SseResumeExceptionFilter`. */
    readonly retryAfterSeconds = 5,
  ) {
    super(`task store unavailable: ${detail}`, HttpStatus.SERVICE_UNAVAILABLE, 'STORE_UNAVAILABLE', {
      cause,
    });
  }
}
