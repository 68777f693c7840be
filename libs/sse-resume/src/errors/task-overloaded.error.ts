import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * A task emitted faster than the store could take its events: more than
 * `maxUnstoredBytes` wait to be stored (emits not awaited, or an Observable source that
 * outruns the store). The task fails with this error; await `emit()` to be paced instead.
 */
export class TaskOverloadedError extends SseResumeError {
  readonly code = 'TASK_OVERLOADED' as const;

  constructor(
    readonly taskId: string,
    readonly limitBytes: number,
  ) {
    super(
      `task ${taskId} emitted more than ${limitBytes} bytes that are not stored yet; await emit() to be paced`,
      HttpStatus.SERVICE_UNAVAILABLE,
      'TASK_OVERLOADED',
    );
  }
}
