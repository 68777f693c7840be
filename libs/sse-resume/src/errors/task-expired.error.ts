import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The task finished and its TTL has passed: its events are gone. HTTP 410. */
export class TaskExpiredError extends SseResumeError {
  readonly code = 'TASK_EXPIRED' as const;

  constructor(readonly taskId: string) {
    super(`task ${taskId} has expired`, HttpStatus.GONE, 'TASK_EXPIRED');
  }
}
