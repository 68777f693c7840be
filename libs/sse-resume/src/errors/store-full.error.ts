import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * The history of all tasks together fills `historyBudgetBytes`, even after the oldest
 * finished tasks gave theirs up. HTTP 503; `retryAfterSeconds` says when to try again.
 */
export class StoreFullError extends SseResumeError {
  readonly code = 'STORE_FULL' as const;

  constructor(
    readonly budgetBytes: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `the history budget (${budgetBytes} bytes) is full; retry in ${retryAfterSeconds} s`,
      HttpStatus.SERVICE_UNAVAILABLE,
      'STORE_FULL',
    );
  }
}
