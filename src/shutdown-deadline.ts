import type { LoggerService } from '@nestjs/common';

/** Longest a SIGTERM (or SIGINT) may take before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/** On SIGTERM/SIGINT, exits with 1 if the graceful shutdown has not ended the process by the deadline. */
export function exitIfShutdownHangs(logger: LoggerService, deadlineMs = SHUTDOWN_DEADLINE_MS): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        logger.error(`shutdown took longer than ${deadlineMs} ms; exiting`);
        process.exit(1);
      }, deadlineMs).unref();
    });
  }
}
