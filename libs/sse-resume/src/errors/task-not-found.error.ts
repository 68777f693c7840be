import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** Longest part of a task id repeated in the message: an id comes from the client, whatever its length. */
const MAX_ID_IN_MESSAGE = 64;

/** No task with this id exists (never did, or its expiry record is gone too). HTTP 404. */
export class TaskNotFoundError extends SseResumeError {
  readonly code = 'TASK_NOT_FOUND' as const;

  constructor(readonly taskId: string) {
    const shown =
      taskId.length > MAX_ID_IN_MESSAGE
        ? `${taskId.slice(0, MAX_ID_IN_MESSAGE)}... (${taskId.length} characters)`
        : taskId;
    super(`task ${shown} not found`, HttpStatus.NOT_FOUND, 'TASK_NOT_FOUND');
  }
}
