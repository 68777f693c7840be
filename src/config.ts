/** Injection token of the app's {@link AppConfig}. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/** The example app's configuration, read from the environment and checked at boot. */
export interface AppConfig {
  port: number;
  /** `express` (default) or `fastify`. */
  adapter: 'express' | 'fastify';
  taskTtlMs: number;
  historyLimit: number;
  heartbeatMs: number;
  /** Reconnect delay advertised to clients with `retry:`. */
  retryMs: number;
  redisUrl: string | undefined;
  /** `REDIS_CLUSTER_NODES=host:port,...`: a Redis Cluster's seed nodes (wins over `REDIS_URL`). */
  redisClusterNodes: string[] | undefined;
  /** `REDIS_WAIT_REPLICAS`: writes wait for this many replicas (`WAIT`; unset: 0, off). */
  redisWaitReplicas: number | undefined;
  /** Prefix of the Redis keys and channels (default `sse:`). */
  redisKeyPrefix: string;
  /** Lease of the instance running a task (unset: the library's default, 10 s): a dead owner's tasks fail after about this long. */
  redisLeaseMs: number | undefined;
  /** Tasks held at once (the library's `maxTasks`). */
  maxTasks: number;
  /** Open streams per task on this instance. */
  maxSubscribersPerTask: number;
  /** Open streams on this instance (unset: the library's default, sized from the heap limit). */
  maxStreams: number | undefined;
  /** A stream whose unsent output passes this many bytes is disconnected. */
  maxPendingBytes: number;
  /** Bytes of history all tasks may hold (unset: the library's default, a quarter of the heap limit). */
  historyBudgetBytes: number | undefined;
  /** A stream whose socket has not drained for this long while a write waits is disconnected. */
  slowConsumerTimeoutMs: number;
  /** On SIGTERM, how long running tasks may go on (unset: the library's default). */
  shutdownGraceMs: number | undefined;
  /** Log lines as JSON (Nest's `ConsoleLogger({ json: true })`) instead of text. */
  logJson: boolean;
  /** `METRICS=on` (default): OpenTelemetry metrics, served at `GET /metrics`; `off`: none. */
  metrics: boolean;
  /** Durable tasks (BullMQ): set when Redis is configured, `undefined` in memory mode. */
  durable: DurableConfig | undefined;
}

/** Durable tasks' settings; unset numbers leave the library's defaults. */
export interface DurableConfig {
  /** `TASK_WORKERS=0`: this instance starts and streams durable tasks but runs none (default 1: it runs a worker). */
  workers: boolean;
  /** `DURABLE_QUEUE`: the BullMQ queue (unset: the library's, `sse-resume-tasks`). */
  queueName: string | undefined;
  /** `DURABLE_LOCK_MS`: BullMQ's job lock; a worker silent this long loses its task to another. */
  lockDurationMs: number | undefined;
  /** `DURABLE_STALLED_INTERVAL_MS`: how often workers look for tasks whose lock lapsed. */
  stalledIntervalMs: number | undefined;
  /** `DURABLE_CONCURRENCY`: tasks one worker runs at once. */
  concurrency: number | undefined;
  /** `DURABLE_ATTEMPTS`: attempts of a durable task in all, after throws. */
  attempts: number | undefined;
}

export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const adapter = env.HTTP_ADAPTER ?? 'express';
  if (adapter !== 'express' && adapter !== 'fastify') {
    problems.push(`HTTP_ADAPTER must be express or fastify, got "${adapter}"`);
  }
  const logJson = env.LOG_JSON ?? '';
  if (!['', '0', '1', 'false', 'true'].includes(logJson)) {
    problems.push(`LOG_JSON must be 1, true, 0 or false, got "${logJson}"`);
  }
  const metrics = env.METRICS || 'on';
  if (metrics !== 'on' && metrics !== 'off') problems.push(`METRICS must be on or off, got "${metrics}"`);
  const redisUrl = env.REDIS_URL === '' ? undefined : env.REDIS_URL;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push(`REDIS_URL must start with redis:// or rediss://, got "${redisUrl}"`);
  }
  const clusterNodes = (env.REDIS_CLUSTER_NODES ?? '')
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node !== '');
  for (const node of clusterNodes) {
    if (!/^[^\s:]+:\d{1,5}$/.test(node) || Number(node.slice(node.lastIndexOf(':') + 1)) > 65_535) {
      problems.push(`REDIS_CLUSTER_NODES must be host:port[,host:port...], got "${env.REDIS_CLUSTER_NODES}"`);
      break;
    }
  }
  const queueName = env.DURABLE_QUEUE || undefined;
  if (queueName !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(queueName)) {
    problems.push(`DURABLE_QUEUE must be 1 to 100 letters, digits, "_", "." or "-", got "${queueName}"`);
  }
  const optionalInt = (name: string, min: number, max: number): number | undefined =>
    env[name] ? int(name, min, min, max) : undefined;
  const durable: DurableConfig = {
    workers: int('TASK_WORKERS', 1, 0, 1) === 1,
    queueName,
    lockDurationMs: optionalInt('DURABLE_LOCK_MS', 100, 3_600_000),
    stalledIntervalMs: optionalInt('DURABLE_STALLED_INTERVAL_MS', 100, 3_600_000),
    concurrency: optionalInt('DURABLE_CONCURRENCY', 1, 1_000),
    attempts: optionalInt('DURABLE_ATTEMPTS', 1, 100),
  };
  const config: AppConfig = {
    port: int('PORT', 3000, 0, 65535),
    adapter: adapter === 'fastify' ? 'fastify' : 'express',
    taskTtlMs: int('TASK_TTL_MS', 3_600_000, 1, 2_147_483_647),
    historyLimit: int('TASK_HISTORY_LIMIT', 10_000, 1, 10_000_000),
    heartbeatMs: int('HEARTBEAT_MS', 15_000, 1, 2_147_483_647),
    retryMs: int('RETRY_MS', 2_000, 1, 2_147_483_647),
    redisUrl,
    redisClusterNodes: clusterNodes.length > 0 ? clusterNodes : undefined,
    redisWaitReplicas: env.REDIS_WAIT_REPLICAS ? int('REDIS_WAIT_REPLICAS', 0, 0, 16) : undefined,
    redisKeyPrefix: env.REDIS_KEY_PREFIX || 'sse:',
    redisLeaseMs: env.REDIS_LEASE_MS ? int('REDIS_LEASE_MS', 10_000, 100, 3_600_000) : undefined,
    maxTasks: int('TASK_MAX', 10_000, 1, 10_000_000),
    maxSubscribersPerTask: int('MAX_SUBSCRIBERS_PER_TASK', 1_000, 1, 10_000_000),
    maxStreams: env.MAX_STREAMS ? int('MAX_STREAMS', 1_000, 1, 10_000_000) : undefined,
    maxPendingBytes: int('MAX_PENDING_BYTES', 1_048_576, 1, 2_147_483_647),
    historyBudgetBytes: env.HISTORY_BUDGET_BYTES
      ? int('HISTORY_BUDGET_BYTES', 1, 1, Number.MAX_SAFE_INTEGER)
      : undefined,
    slowConsumerTimeoutMs: int('SLOW_CONSUMER_TIMEOUT_MS', 30_000, 1, 2_147_483_647),
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS ? int('SHUTDOWN_GRACE_MS', 0, 0, 8_000) : undefined,
    logJson: logJson === '1' || logJson === 'true',
    metrics: metrics !== 'off',
    // Durable tasks run as BullMQ jobs, which live in Redis: none in memory mode.
    durable: clusterNodes.length > 0 || redisUrl !== undefined ? durable : undefined,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
