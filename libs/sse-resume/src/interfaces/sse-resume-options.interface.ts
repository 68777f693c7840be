import type { DurableTasksOptions, QueueStreamsOptions } from './durable-options.interface';
import type { RedisStoreSettings } from './redis-store-settings.interface';
import type { SseResumeMetricsOptions } from './metrics.interface';
import type { TaskInfo } from './task-info.interface';
import type { TaskStore, TaskStoreLimits } from './task-store.interface';

/** Builds a store from the limits the module resolved. */
export type TaskStoreFactory = (limits: TaskStoreLimits) => TaskStore;

/**
 * Options of `SseResumeModule.forRoot()` / `forRootAsync()`. Every one has a default
 * (see `sse-resume.constants.ts` and the README's options table).
 */
export interface SseResumeOptions {
  /** Ms a finished task stays resumable (replay + `end`). Default 1 h. */
  ttl?: number;
  /** Events kept per task. Default 10 000. */
  historyLimit?: number;
  /** UTF-8 bytes of event data kept per task. Default 8 MiB. */
  historyBytes?: number;
  /** Largest single event, UTF-8 bytes of its JSON. Default 2 MiB (at most `historyBytes`). */
  maxEventBytes?: number;
  /** Longest silence on an idle stream before a comment frame is sent. Default 15 000. */
  heartbeatMs?: number;
  /** Reconnect delay advertised with `retry:`. Default 2 000. */
  retryMs?: number;
  /** How often the eviction job runs. Default 60 000, or `ttl` if smaller. */
  evictionIntervalMs?: number;
  /** Ms an expired task answers 410 (not 404). Default `ttl`. */
  expiredRetentionMs?: number;
  /** Timeout of tasks started without one. Default none. */
  defaultTimeoutMs?: number;
  /**
   * Tasks held at once: running ones plus finished ones within their TTL (a finished task
   * frees its slot when it expires), per instance with the memory store, per key prefix
   * with Redis (counted and admitted atomically). Past it `start` answers 503
   * `TOO_MANY_TASKS`. Default 10 000.
   */
  maxTasks?: number;
  /** Open streams per task on one instance. Default 1 000. */
  maxSubscribersPerTask?: number;
  /**
   * Open streams on one instance, all tasks together. Past it a new stream gets 503
   * `TOO_MANY_STREAMS` with `Retry-After: 2` (before any byte of the stream), so that a
   * reconnect storm beyond capacity is refused instead of growing memory until the process
   * dies. Default: half the V8 heap limit over 24 KiB a stream (the measured idle cost with a
   * margin), at least 1 000.
   */
  maxStreams?: number;
  /**
   * A subscriber whose unsent output from earlier writes passes this many bytes is
   * disconnected (it resumes later from history). Default 1 MiB.
   */
  maxPendingBytes?: number;
  /**
   * UTF-8 bytes of history that all tasks together may hold: running and finished ones,
   * per instance with the memory store, per key prefix with Redis. Past it the oldest
   * finished tasks lose their history early (late subscribers get `gap`, then `end`), then
   * the emitting task keeps only its newest events, and new tasks are refused with 503
   * `STORE_FULL` until there is room. Default a quarter of V8's heap limit.
   */
  historyBudgetBytes?: number;
  /**
   * A subscriber whose socket has not drained for this long while the library waits to
   * write to it (during a replay or live) is disconnected; it can resume from history.
   * Default 30 000.
   */
  slowConsumerTimeoutMs?: number;
  /**
   * Bytes one task may emit in one turn of the event loop: past it, `emit()` resolves only
   * after other work has run, so an awaited emitting loop cannot hold the event loop.
   * Default 1 MiB.
   */
  emitBytesPerTurn?: number;
  /**
   * Bytes a task may have emitted that the store has not stored yet (emits not awaited, or
   * an Observable source faster than the store): past it `emit()` throws
   * `TaskOverloadedError` and the task fails. Default 16 MiB (at least `maxEventBytes`).
   */
  maxUnstoredBytes?: number;
  /**
   * Where tasks live: `'memory'` (default; one process), `'redis'` (shared by instances;
   * configure with `redis`, needs the `ioredis` package), a {@link TaskStore} instance, or
   * a factory given the resolved limits.
   */
  store?: 'memory' | 'redis' | TaskStore | TaskStoreFactory;
  /** Connection and tuning of the Redis store (with `store: 'redis'`). */
  redis?: RedisStoreSettings;
  /**
   * An access check after the resume key, run by the guards of `@SseResume()` and
   * `@TaskAccess()` with the framework's request (Express or Fastify) and the task: tie
   * tasks to your users (e.g. compare `request.user.id` with `task.metadata.userId`).
   * Return false (or throw) to refuse; false answers 403 `ACCESS_DENIED`.
   */
  authorize?: (request: unknown, task: TaskInfo) => boolean | Promise<boolean>;
  /**
   * On shutdown, how long running tasks may go on before they are failed (open streams end
   * at once, so clients resume elsewhere). Default 0 with the memory store (nothing
   * survives the process), 5 000 with shared stores, whose other instances keep serving
   * the task's events meanwhile.
   */
  shutdownGraceMs?: number;
  /**
   * OpenTelemetry metrics (see the README's Metrics section). Omitted: the global meter, when
   * `@opentelemetry/api` is installed and a `MeterProvider` registered before the app starts;
   * `{ meter }`: that meter; `false`: none.
   */
  metrics?: SseResumeMetricsOptions;
  /**
   * Durable tasks: handlers registered with `@TaskHandler(name)` and started with
   * `start(name, input, { durable: true })` run as BullMQ jobs, so a task survives the death
   * of the instance running it (see the README's Durable tasks section). Needs the Redis
   * store and the `bullmq` package.
   */
  durable?: DurableTasksOptions;
  /** Streams the jobs of existing BullMQ queues (needs a shared store and `bullmq`). */
  queueStreams?: QueueStreamsOptions;
}

/** Options with every default filled in and checked. */
export interface ResolvedSseResumeOptions
  extends Required<
    Omit<
      SseResumeOptions,
      | 'defaultTimeoutMs'
      | 'store'
      | 'redis'
      | 'authorize'
      | 'shutdownGraceMs'
      | 'metrics'
      | 'durable'
      | 'queueStreams'
    >
  > {
  defaultTimeoutMs: number | undefined;
  authorize: SseResumeOptions['authorize'];
  shutdownGraceMs: number | undefined;
  store: 'memory' | 'redis' | TaskStore | TaskStoreFactory;
  redis: RedisStoreSettings | undefined;
}
