import type { DurableBackoff } from './durable-task.interface';

/**
 * Where BullMQ connects. Omitted: the Redis store's own settings (`redis.url`, `redis.nodes`,
 * `redis.options`); a Redis Cluster needs a `prefix` with a hash tag, e.g. `{sse-jobs}`.
 */
export interface QueueConnectionSettings {
  url?: string;
  /** Seed nodes `host:port` of a Redis Cluster. */
  nodes?: string[];
  /** Extra ioredis options. */
  options?: Record<string, unknown>;
}

/** The `durable` option: task handlers run as BullMQ jobs (needs the Redis store and `bullmq`). */
export interface DurableTasksOptions {
  connection?: QueueConnectionSettings;
  /** BullMQ queue of the durable tasks. Default `sse-resume-tasks`. */
  queueName?: string;
  /** BullMQ key prefix. Default `bull`. */
  prefix?: string;
  /** Run a worker in this instance. `false`: it only starts and streams tasks. Default true. */
  workers?: boolean;
  /** Jobs one worker runs at once. Default 10. */
  concurrency?: number;
  /** BullMQ's job lock: a worker silent this long loses its job to another. Default 30 000. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock lapsed. Default 30 000 (BullMQ's). */
  stalledIntervalMs?: number;
  /** Times a job may be taken over from a lost worker before it fails. Default 3. */
  maxStalledCount?: number;
  /** BullMQ's rate limiter: at most `max` jobs per `duration` ms. */
  limiter?: { max: number; duration: number };
  /** Attempts after throws when `start` gives none. Default 3. */
  attempts?: number;
  /** Backoff when `start` gives none. Default 1 000 ms, fixed. */
  backoff?: DurableBackoff;
}

/**
 * The `queueStreams` option: jobs of existing BullMQ queues streamed as tasks, without
 * changing their workers (progress, logs, completion, failure).
 */
export interface QueueStreamsOptions {
  /** Names of the queues whose jobs can be streamed. */
  queues: string[];
  connection?: QueueConnectionSettings;
  /** BullMQ key prefix of those queues. Default `bull`. */
  prefix?: string;
  /**
   * Secret (at least 32 characters) from which each job's resume key is derived (HMAC), so
   * that every instance can hand out and check it without storing it.
   */
  secret: string;
}
