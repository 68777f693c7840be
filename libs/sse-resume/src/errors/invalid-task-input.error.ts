import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** The input of `start(name, input)` is not JSON (it travels in a queue's job). HTTP 400. */
export class InvalidTaskInputError extends SseResumeError {
  readonly code = 'INVALID_TASK_INPUT' as const;

  constructor(detail: string) {
    super(`invalid task input: ${detail}`, HttpStatus.BAD_REQUEST, 'INVALID_TASK_INPUT');
  }
}
