import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** No task with this id exists (never did, or its expiry record is gone too). HTTP 404. */
export class TaskNotFoundError extends SseResumeError {
  readonly code = 'TASK_NOT_FOUND' as const;

  constructor(readonly taskId: string) {
    super(`task ${taskId} not found`, HttpStatus.NOT_FOUND, 'TASK_NOT_FOUND');
  }
}
