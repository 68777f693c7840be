import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The `authorize` option refused the request (the resume key was right). HTTP 403. */
export class TaskAccessDeniedError extends SseResumeError {
  readonly code = 'ACCESS_DENIED' as const;

  constructor(readonly taskId: string) {
    super(`access to task ${taskId} denied`, HttpStatus.FORBIDDEN, 'ACCESS_DENIED');
  }
}
