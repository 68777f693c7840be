import type { Redis } from 'ioredis';

/** Options of the Redis store (`SseResumeModule.forRoot({ store: 'redis', redis: { ... } })`). */
export interface RedisTaskStoreOptions {
  /** Connection URL, e.g. `redis://127.0.0.1:6379/0`. Used when no `client` is given. */
  url?: string;
  /** An ioredis client to use; the store duplicates it for its subscriber connection and never closes it. */
  client?: Redis;
  /** Prefix of every key and channel. Default `sse:`. */
  keyPrefix?: string;
  /** How long a task's owner lease lasts without renewal. Default 10 000 ms (renewed every third of it). */
  leaseMs?: number;
  /** How long `init()` waits for Redis before the app starts anyway (requests get 503 meanwhile). Default 5 000. */
  connectTimeoutMs?: number;
  /**
   * How long a task's write (events, its end) is retried while Redis is unreachable (a
   * connection reset, a restart) before it fails with `StoreUnavailableError` and the task
   * fails. Retries are idempotent. Default 10 000.
   */
  writeRetryMs?: number;
}
