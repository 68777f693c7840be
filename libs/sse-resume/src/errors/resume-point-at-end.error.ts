import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * The client has already seen the task's terminal `end` event: there is nothing left
 * to send. Maps to HTTP 204, which makes a browser's `EventSource` stop reconnecting.
 */
export class ResumePointAtEndError extends SseResumeError {
  readonly code = 'RESUME_POINT_AT_END' as const;

  constructor(
    readonly taskId: string,
    readonly endEventId: number,
  ) {
    super(
      `task ${taskId} has ended at event ${endEventId}: nothing left to stream`,
      HttpStatus.NO_CONTENT,
      'RESUME_POINT_AT_END',
    );
  }
}
