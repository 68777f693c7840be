import { HttpStatus } from '@nestjs/common';
import { SseResumeError } from './sse-resume.error';

/**
 * `start(name, ...)` named no `@TaskHandler(name)` provider of the application (a server
 * error: the code asks for a handler it does not have). HTTP 500.
 */
export class UnknownTaskHandlerError extends SseResumeError {
  readonly code = 'UNKNOWN_TASK_HANDLER' as const;

  constructor(
    readonly handlerName: string,
    /** The names that are registered. */
    readonly knownNames: readonly string[],
  ) {
    const known = knownNames.length > 0 ? knownNames.map((n) => `"${n}"`).join(', ') : 'none';
    super(
      `no task handler named "${handlerName}" (known: ${known}); decorate a provider with @TaskHandler('${handlerName}')`,
      HttpStatus.INTERNAL_SERVER_ERROR,
      'UNKNOWN_TASK_HANDLER',
    );
  }
}
