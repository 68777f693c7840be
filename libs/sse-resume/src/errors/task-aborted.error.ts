/**
 * The reason a task's `signal` is aborted with; `code` says why. Not an HTTP error: the
 * task function sees it, clients see the task's `end` event.
 */
export class TaskAbortedError extends Error {
  constructor(
    readonly code: 'cancelled' | 'timeout' | 'ended' | 'shutdown',
    message: string,
  ) {
    super(message);
    this.name = 'TaskAbortedError';
  }
}
