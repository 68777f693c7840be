import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The store already holds `maxTasks` tasks. HTTP 503; `retryAfterSeconds` says when to try again. */
export class TooManyTasksError extends SseResumeError {
  readonly code = 'TOO_MANY_TASKS' as const;

  constructor(
    readonly limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `the task limit (${limit}) is reached; retry in ${retryAfterSeconds} s`,
      HttpStatus.SERVICE_UNAVAILABLE,
      'TOO_MANY_TASKS',
    );
  }
}
