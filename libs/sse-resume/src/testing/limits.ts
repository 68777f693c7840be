import type { TaskStoreLimits } from '../interfaces/task-store.interface';

/** Store limits for specs (test helper): roomy, so that only what a test sets itself bites. */
export function testStoreLimits(overrides: Partial<TaskStoreLimits> = {}): TaskStoreLimits {
  return {
    ttl: 60_000,
    expiredRetentionMs: 60_000,
    historyLimit: 100,
    historyBytes: 1_000_000,
    historyBudgetBytes: 1 << 30,
    maxTasks: 100,
    ...overrides,
  };
}
