import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** `Last-Event-ID` (or `?lastEventId=`) is not an event id of the task. HTTP 400. */
export class InvalidResumePointError extends SseResumeError {
  readonly code = 'INVALID_RESUME_POINT' as const;

  constructor(detail: string) {
    super(`invalid resume point: ${detail}`, HttpStatus.BAD_REQUEST, 'INVALID_RESUME_POINT');
  }
}
