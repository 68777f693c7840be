import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The task has already ended, so it cannot emit, complete, fail or be cancelled. HTTP 409. */
export class TaskNotRunningError extends SseResumeError {
  readonly code = 'TASK_NOT_RUNNING' as const;

  constructor(
    readonly taskId: string,
    readonly taskStatus: string,
  ) {
    super(`task ${taskId} is not running (status: ${taskStatus})`, HttpStatus.CONFLICT, 'TASK_NOT_RUNNING');
  }
}
