import { TaskNotRunningError } from './task-not-running.error';

/**
 * A write of a durable task's earlier attempt, refused because a newer attempt claimed the
 * task (the worker was paused or cut off past its job lock, and another took the job over).
 * A `TaskNotRunningError` (409) for this writer: the task itself runs on elsewhere.
 */
export class TaskFencedError extends TaskNotRunningError {
  constructor(taskId: string) {
    super(taskId, 'claimed by a newer attempt');
  }
}
