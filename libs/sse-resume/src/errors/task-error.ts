/**
 * Throw this from a task to fail it with a message that clients may see. Any other
 * error fails the task with the generic message `Task failed` (and is logged with its
 * stack on the server), so internals never reach the browser.
 */
export class TaskError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TaskError';
  }
}
