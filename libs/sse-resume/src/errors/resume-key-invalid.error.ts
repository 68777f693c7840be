import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The resume key is missing or does not belong to the task. HTTP 403. */
export class ResumeKeyInvalidError extends SseResumeError {
  readonly code = 'RESUME_KEY_INVALID' as const;

  constructor(readonly taskId: string) {
    super(`missing or wrong resume key for task ${taskId}`, HttpStatus.FORBIDDEN, 'RESUME_KEY_INVALID');
  }
}
