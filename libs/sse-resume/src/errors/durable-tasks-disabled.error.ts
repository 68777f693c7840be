import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * `start(name, input, { durable: true })` without the module's `durable` option: there is
 * no queue to run the task on (a server configuration error). HTTP 500.
 */
export class DurableTasksDisabledError extends SseResumeError {
  readonly code = 'DURABLE_TASKS_DISABLED' as const;

  constructor(readonly handlerName: string) {
    super(
      `task "${handlerName}" was started with durable: true, but SseResumeModule has no durable option ` +
        `(add durable: {...} to forRoot, with store 'redis')`,
      HttpStatus.INTERNAL_SERVER_ERROR,
      'DURABLE_TASKS_DISABLED',
    );
  }
}
