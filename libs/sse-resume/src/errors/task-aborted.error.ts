/**
 * The reason a task's `signal` is aborted with; `code` says why (`fenced`: a durable task's
 * attempt lost its job to a newer attempt). Not an HTTP error: the
 * task function sees it, clients see the task's `end` event.
 */
export class TaskAbortedError extends Error {
  constructor(
    readonly code: 'cancelled' | 'timeout' | 'ended' | 'shutdown' | 'fenced',
    message: string,
  ) {
    super(message);
    this.name = 'TaskAbortedError';
  }
}
