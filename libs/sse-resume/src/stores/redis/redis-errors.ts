import {
  SseResumeError,
  StoreFullError,
  StoreUnavailableError,
  TaskExpiredError,
  TaskFencedError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { STORE_FULL_RETRY_SECONDS } from '../../sse-resume.constants';

/**
 * Turns what a Redis call threw into the library's typed error: the scripts' replies
 * `SSE_<CODE> [detail]` into their errors, anything else (connection lost, Redis loading)
 * into `StoreUnavailableError` (503), so that callers never see ioredis errors.
 */
export function translateRedisError(err: unknown, taskId: string, limits: TaskStoreLimits): unknown {
  if (err instanceof SseResumeError) return err;
  const message = errorMessage(err);
  const match = /SSE_([A-Z_]+)(?: (\w+))?/.exec(message);
  switch (match?.[1]) {
    case 'NOT_FOUND':
      return new TaskNotFoundError(taskId);
    case 'EXPIRED':
      return new TaskExpiredError(taskId);
    case 'NOT_RUNNING':
      return new TaskNotRunningError(taskId, match[2] ?? 'ended');
    case 'FENCED':
      return new TaskFencedError(taskId);
    case 'EXISTS':
      return new Error(`task ${taskId} exists already`);
    case 'TOO_MANY':
      return new TooManyTasksError(limits.maxTasks, Number(match[2] ?? 5));
    case 'STORE_FULL':
      return new StoreFullError(limits.historyBudgetBytes, Number(match[2] ?? STORE_FULL_RETRY_SECONDS));
  }
  return new StoreUnavailableError(message, err);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
