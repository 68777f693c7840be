import { describe, expect, it } from '@jest/globals';
import {
  StoreFullError,
  StoreUnavailableError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { translateRedisError } from './redis-errors';

const LIMITS: TaskStoreLimits = {
  ttl: 1_000,
  expiredRetentionMs: 1_000,
  historyLimit: 10,
  historyBytes: 1_000,
  historyBudgetBytes: 5_000,
  maxTasks: 7,
};

/** What ioredis throws for a script's `redis.error_reply`. */
const replyError = (reply: string) => new Error(reply);

describe('translateRedisError', () => {
  it("maps each script reply to the library's typed error, with its detail", () => {
    const translate = (reply: string) => translateRedisError(replyError(reply), 't1', LIMITS);
    expect(translate('SSE_NOT_FOUND')).toBeInstanceOf(TaskNotFoundError);
    expect(translate('SSE_EXPIRED')).toBeInstanceOf(TaskExpiredError);
    const notRunning = translate('SSE_NOT_RUNNING completed');
    expect(notRunning).toBeInstanceOf(TaskNotRunningError);
    expect((notRunning as Error).message).toContain('completed');
    const fenced = translate('SSE_FENCED');
    expect(fenced).toBeInstanceOf(TaskNotRunningError);
    expect((fenced as Error).message).toContain('claimed by a newer attempt');
    const tooMany = translate('SSE_TOO_MANY 12');
    expect(tooMany).toBeInstanceOf(TooManyTasksError);
    expect(tooMany).toMatchObject({ retryAfterSeconds: 12 });
    expect(translate('SSE_STORE_FULL 5')).toBeInstanceOf(StoreFullError);
    expect((translate('SSE_EXISTS') as Error).message).toBe('task t1 exists already');
  });

  it('turns anything else into StoreUnavailableError (503) and keeps typed errors as they are', () => {
    const lost = translateRedisError(new Error('Connection is closed.'), 't1', LIMITS);
    expect(lost).toBeInstanceOf(StoreUnavailableError);
    expect((lost as Error).message).toContain('Connection is closed.');
    const typed = new TaskNotFoundError('t2');
    expect(translateRedisError(typed, 't1', LIMITS)).toBe(typed);
  });
});
