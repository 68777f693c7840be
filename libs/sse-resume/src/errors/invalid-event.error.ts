import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/** An emitted event cannot be stored: bad name, not JSON-serializable, or too large. HTTP 400. */
export class InvalidEventError extends SseResumeError {
  readonly code = 'INVALID_EVENT' as const;

  constructor(detail: string) {
    super(`invalid event: ${detail}`, HttpStatus.BAD_REQUEST, 'INVALID_EVENT');
  }
}
