import type { QueueConnectionSettings } from '../interfaces/durable-options.interface';
import type { DurableBackoff } from '../interfaces/durable-task.interface';

/** The `durable` option with every default filled in and checked. */
export interface ResolvedDurableTasksOptions {
  connection: QueueConnectionSettings | undefined;
  queueName: string;
  prefix: string;
  workers: boolean;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  limiter: { max: number; duration: number } | undefined;
  attempts: number;
  backoff: DurableBackoff;
}

/** Token of the resolved `durable` option (`undefined` when durable tasks are off). */
export const DURABLE_TASKS_OPTIONS = Symbol('DURABLE_TASKS_OPTIONS');
