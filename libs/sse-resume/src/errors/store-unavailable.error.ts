import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The task store (e.g. Redis) cannot be reached. HTTP 503. */
export class StoreUnavailableError extends SseResumeError {
  readonly code = 'STORE_UNAVAILABLE' as const;

  /** Suggested wait before retrying, sent as `Retry-After` by `SseResumeExceptionFilter`. */
  readonly retryAfterSeconds = 5;

  constructor(detail: string, cause?: unknown) {
    super(`task store unavailable: ${detail}`, HttpStatus.SERVICE_UNAVAILABLE, 'STORE_UNAVAILABLE', {
      cause,
    });
  }
}
