import {
  DEFAULT_EMIT_BYTES_PER_TURN,
  DEFAULT_EVICTION_INTERVAL_MS,
  DEFAULT_HISTORY_BUDGET_HEAP_SHARE,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_MAX_SUBSCRIBERS_PER_TASK,
  DEFAULT_MAX_STREAMS_HEAP_SHARE,
  STREAM_COST_BYTES,
  DEFAULT_MAX_TASKS,
  DEFAULT_MAX_UNSTORED_BYTES,
  DEFAULT_RETRY_MS,
  DEFAULT_SLOW_CONSUMER_TIMEOUT_MS,
  DEFAULT_TTL_MS,
} from './sse-resume.constants';
import { getHeapStatistics } from 'node:v8';
import { durableOptionMessages, optionMessages } from './sse-resume.messages';
import {
  DEFAULT_DURABLE_ATTEMPTS,
  DEFAULT_DURABLE_BACKOFF,
  DEFAULT_DURABLE_CONCURRENCY,
  DEFAULT_DURABLE_LOCK_DURATION_MS,
  DEFAULT_DURABLE_MAX_STALLED_COUNT,
  DEFAULT_DURABLE_PREFIX,
  DEFAULT_DURABLE_QUEUE_NAME,
  DEFAULT_DURABLE_STALLED_INTERVAL_MS,
} from './durable/durable.constants';
import type { ResolvedDurableTasksOptions } from './durable/durable-runtime-options';
import type { DurableTasksOptions } from './interfaces/durable-options.interface';
import type { DurableBackoff } from './interfaces/durable-task.interface';
import type { ResolvedSseResumeOptions, SseResumeOptions } from './interfaces/sse-resume-options.interface';
import type { TaskStoreLimits } from './interfaces/task-store.interface';

/** Longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2_147_483_647;

/** Fills in defaults and rejects impossible values with a message naming the option. */
export function resolveOptions(options: SseResumeOptions = {}): ResolvedSseResumeOptions {
  const ttl = positive('ttl', options.ttl, DEFAULT_TTL_MS, MAX_TIMER_MS);
  const historyBytes = positive('historyBytes', options.historyBytes, DEFAULT_HISTORY_BYTES);
  const resolved: ResolvedSseResumeOptions = {
    ttl,
    historyLimit: positive('historyLimit', options.historyLimit, DEFAULT_HISTORY_LIMIT),
    historyBytes,
    maxEventBytes: positive(
      'maxEventBytes',
      options.maxEventBytes,
      Math.min(DEFAULT_MAX_EVENT_BYTES, historyBytes),
    ),
    heartbeatMs: positive('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS, MAX_TIMER_MS),
    retryMs: positive('retryMs', options.retryMs, DEFAULT_RETRY_MS, MAX_TIMER_MS),
    evictionIntervalMs: positive(
      'evictionIntervalMs',
      options.evictionIntervalMs,
      Math.min(DEFAULT_EVICTION_INTERVAL_MS, ttl),
      MAX_TIMER_MS,
    ),
    expiredRetentionMs: positive('expiredRetentionMs', options.expiredRetentionMs, ttl, MAX_TIMER_MS),
    defaultTimeoutMs:
      options.defaultTimeoutMs === undefined
        ? undefined
        : positive('defaultTimeoutMs', options.defaultTimeoutMs, 0, MAX_TIMER_MS),
    maxTasks: positive('maxTasks', options.maxTasks, DEFAULT_MAX_TASKS),
    maxSubscribersPerTask: positive(
      'maxSubscribersPerTask',
      options.maxSubscribersPerTask,
      DEFAULT_MAX_SUBSCRIBERS_PER_TASK,
    ),
    maxStreams: positive(
      'maxStreams',
      options.maxStreams,
      Math.max(
        1_000,
        Math.floor(
          (getHeapStatistics().heap_size_limit * DEFAULT_MAX_STREAMS_HEAP_SHARE) / STREAM_COST_BYTES,
        ),
      ),
    ),
    maxPendingBytes: positive('maxPendingBytes', options.maxPendingBytes, DEFAULT_MAX_PENDING_BYTES),
    historyBudgetBytes: positive(
      'historyBudgetBytes',
      options.historyBudgetBytes,
      Math.floor(getHeapStatistics().heap_size_limit * DEFAULT_HISTORY_BUDGET_HEAP_SHARE),
    ),
    slowConsumerTimeoutMs: positive(
      'slowConsumerTimeoutMs',
      options.slowConsumerTimeoutMs,
      DEFAULT_SLOW_CONSUMER_TIMEOUT_MS,
      MAX_TIMER_MS,
    ),
    emitBytesPerTurn: positive('emitBytesPerTurn', options.emitBytesPerTurn, DEFAULT_EMIT_BYTES_PER_TURN),
    maxUnstoredBytes: 0, // set below: it depends on maxEventBytes
    store: options.store ?? (options.redis ? 'redis' : 'memory'),
    authorize: options.authorize,
    shutdownGraceMs:
      options.shutdownGraceMs === undefined
        ? undefined
        : nonNegative('shutdownGraceMs', options.shutdownGraceMs, MAX_TIMER_MS),
    redis: options.redis,
  };
  if (resolved.authorize !== undefined && typeof resolved.authorize !== 'function') {
    throw new Error(optionMessages.authorizeNotAFunction);
  }
  if (typeof resolved.store === 'string' && resolved.store !== 'memory' && resolved.store !== 'redis') {
    throw new Error(optionMessages.unknownStore);
  }
  resolved.maxUnstoredBytes = positive(
    'maxUnstoredBytes',
    options.maxUnstoredBytes,
    Math.max(DEFAULT_MAX_UNSTORED_BYTES, resolved.maxEventBytes),
  );
  if (resolved.maxUnstoredBytes < resolved.maxEventBytes) {
    throw new Error(optionMessages.unstoredBelowEvent(resolved.maxUnstoredBytes, resolved.maxEventBytes));
  }
  if (resolved.maxEventBytes > resolved.historyBytes) {
    throw new Error(optionMessages.eventAboveHistory(resolved.maxEventBytes, resolved.historyBytes));
  }
  resolveDurableOptions(options.durable); // a bad value fails the boot here, naming the option
  return resolved;
}

/**
 * The `durable` option with its defaults (see durable-options.interface.ts), or `undefined`
 * when durable tasks are off. Throws naming the option for impossible values.
 */
export function resolveDurableOptions(
  durable: DurableTasksOptions | undefined,
): ResolvedDurableTasksOptions | undefined {
  if (durable === undefined) return undefined;
  if (typeof durable !== 'object' || durable === null || Array.isArray(durable)) {
    throw new Error(durableOptionMessages.notAnObject);
  }
  const int = (name: keyof DurableTasksOptions, fallback: number, min = 1, max = MAX_TIMER_MS): number => {
    const value = durable[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(durableOptionMessages.notAnInteger(name, min, max, value));
    }
    return value;
  };
  const text = (name: 'queueName' | 'prefix', fallback: string): string => {
    const value = durable[name];
    if (value === undefined) return fallback;
    // BullMQ refuses ':' in queue names (it separates the parts of its keys).
    if (typeof value !== 'string' || value.length === 0 || (name === 'queueName' && value.includes(':'))) {
      throw new Error(durableOptionMessages.notAString(name, value));
    }
    return value;
  };
  if (durable.workers !== undefined && typeof durable.workers !== 'boolean') {
    throw new Error(durableOptionMessages.notABoolean('workers', durable.workers));
  }
  const { connection, limiter } = durable;
  if (connection !== undefined && (typeof connection !== 'object' || connection === null)) {
    throw new Error(durableOptionMessages.badConnection);
  }
  if (
    limiter !== undefined &&
    (typeof limiter !== 'object' ||
      limiter === null ||
      ![limiter.max, limiter.duration].every((n) => Number.isInteger(n) && n > 0))
  ) {
    throw new Error(durableOptionMessages.badLimiter(limiter));
  }
  return {
    connection,
    queueName: text('queueName', DEFAULT_DURABLE_QUEUE_NAME),
    prefix: text('prefix', DEFAULT_DURABLE_PREFIX),
    workers: durable.workers ?? true,
    concurrency: int('concurrency', DEFAULT_DURABLE_CONCURRENCY, 1, 10_000),
    lockDurationMs: int('lockDurationMs', DEFAULT_DURABLE_LOCK_DURATION_MS, 100),
    stalledIntervalMs: int('stalledIntervalMs', DEFAULT_DURABLE_STALLED_INTERVAL_MS, 100),
    maxStalledCount: int('maxStalledCount', DEFAULT_DURABLE_MAX_STALLED_COUNT, 0, 1_000),
    limiter: limiter && { max: limiter.max, duration: limiter.duration },
    attempts: int('attempts', DEFAULT_DURABLE_ATTEMPTS, 1, 1_000),
    backoff: checkBackoff('durable.backoff', durable.backoff) ?? DEFAULT_DURABLE_BACKOFF,
  };
}

/** A backoff (`ms` or `{ type, delay }`) if valid; `undefined` when not given; throws otherwise. */
export function checkBackoff(name: string, backoff: unknown): DurableBackoff | undefined {
  if (backoff === undefined) return undefined;
  const validDelay = (n: unknown): n is number =>
    typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_TIMER_MS;
  if (validDelay(backoff)) return backoff;
  if (typeof backoff === 'object' && backoff !== null) {
    const { type, delay } = backoff as { type?: unknown; delay?: unknown };
    if ((type === 'fixed' || type === 'exponential') && validDelay(delay)) return { type, delay };
  }
  throw new Error(durableOptionMessages.badBackoff(name, backoff));
}

export function storeLimits(options: ResolvedSseResumeOptions): TaskStoreLimits {
  return {
    ttl: options.ttl,
    expiredRetentionMs: options.expiredRetentionMs,
    historyLimit: options.historyLimit,
    historyBytes: options.historyBytes,
    historyBudgetBytes: options.historyBudgetBytes,
    maxTasks: options.maxTasks,
  };
}

function nonNegative(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(optionMessages.notAnInteger(name, 0, max, value));
  }
  return value;
}

function positive(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(optionMessages.notAnInteger(name, 1, max, value));
  }
  return value;
}
