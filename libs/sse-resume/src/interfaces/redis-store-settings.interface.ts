/** One seed node of a Redis Cluster: `'host:port'` or `{ host, port }`. */
export type RedisClusterNode = string | { host: string; port: number };

/**
 * Settings of the Redis store as `forRoot({ redis })` takes them. Declared without ioredis
 * types, so that the main entry point compiles for users who do not install ioredis (an
 * optional peer); `nest-sse-resume/redis` types `client` as ioredis's `Redis | Cluster`.
 *
 * One Redis node: `url` or a `client` (ioredis `Redis`). A Redis Cluster (>= 7, for sharded
 * pub/sub): `nodes` or a `client` (ioredis `Cluster`).
 */
export interface RedisStoreSettings {
  /** Connection URL, e.g. `redis://127.0.0.1:6379/0`. Used when neither `client` nor `nodes` is given. */
  url?: string;
  /**
   * Seed nodes of a Redis Cluster (any reachable subset; the rest is discovered). Selects
   * the Cluster mode of the store.
   */
  nodes?: RedisClusterNode[];
  /**
   * Options passed to ioredis's `Cluster` when the store creates it from `nodes` (e.g.
   * `redisOptions: { password }`, `natMap`). The store's own settings (no offline queue,
   * fail fast) apply on top.
   */
  clusterOptions?: object;
  /**
   * An ioredis client to use: a `Redis` (one node) or a `Cluster`. The store opens its
   * subscriber connections next to it (a duplicate, or one per Cluster primary) and never
   * closes it.
   */
  client?: object;
  /** Prefix of every key and channel. Default `sse:`. It may not contain `{` or `}` (hash tags). */
  keyPrefix?: string;
  /**
   * Cluster only: how many slots the per-prefix bookkeeping (the reaper's list of running
   * tasks, the task count and the history budget) is spread over. Each task belongs to one
   * bucket (by a hash of its id) and all its keys and its bucket's keys share one slot, so
   * every script stays inside one slot, and writes spread over `buckets` slots, chosen evenly
   * across the 16 384. Every instance of a deployment must use the same value. Default 16.
   */
  buckets?: number;
  /** How long a task's owner lease lasts without renewal. Default 10 000 ms (renewed every third of it). */
  leaseMs?: number;
  /** How long `init()` waits for Redis before the app starts anyway (requests get 503 meanwhile). Default 5 000. */
  connectTimeoutMs?: number;
  /**
   * How long a task's write (events, its end) is retried while Redis is unreachable (a
   * connection reset, a restart, a Cluster failover) before it fails with
   * `StoreUnavailableError` and the task fails. Retries are idempotent. Default 10 000.
   */
  writeRetryMs?: number;
  /**
   * Writes that survive a failover: after each write the store sends `WAIT <n> <waitTimeoutMs>`
   * on the same node, and an event is handed to subscribers only once `n` replicas have it.
   * If fewer acknowledge within the timeout the write still counts (Redis has applied it);
   * the shortfall is logged and counted. Default 0 (off): a failover may then lose the last
   * writes before it, which the store reports as a `gap` (never as silent loss or reused ids).
   */
  waitForReplicas?: number;
  /** Timeout of that `WAIT` in ms. Default 1 000. */
  waitTimeoutMs?: number;
}
