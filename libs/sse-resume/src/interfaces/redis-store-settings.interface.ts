/**
 * Settings of the Redis store as `forRoot({ redis })` takes them. Declared without ioredis
 * types, so that the main entry point compiles for users who do not install ioredis (an
 * optional peer); `nest-sse-resume/redis` types `client` as ioredis's `Redis`.
 */
export interface RedisStoreSettings {
  /** Connection URL, e.g. `redis://127.0.0.1:6379/0`. Used when no `client` is given. */
  url?: string;
  /**
   * An ioredis `Redis` client to use; the store duplicates it for its subscriber connection
   * and never closes it.
   */
  client?: object;
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
