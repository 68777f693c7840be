import type { DurableBackoff } from '../interfaces/durable-task.interface';

/** Name of the event between two attempts of a durable task: `{ attempt, reason }`. */
export const RETRY_EVENT = 'retry';

/** Defaults of the `durable` option (see durable-options.interface.ts). */
export const DEFAULT_DURABLE_QUEUE_NAME = 'sse-resume-tasks';
export const DEFAULT_DURABLE_PREFIX = 'bull';
export const DEFAULT_DURABLE_CONCURRENCY = 10;
export const DEFAULT_DURABLE_LOCK_DURATION_MS = 30_000;
export const DEFAULT_DURABLE_STALLED_INTERVAL_MS = 30_000;
export const DEFAULT_DURABLE_MAX_STALLED_COUNT = 3;
export const DEFAULT_DURABLE_ATTEMPTS = 3;
export const DEFAULT_DURABLE_BACKOFF: DurableBackoff = { type: 'fixed', delay: 1_000 };

/** `retry` reason of an attempt whose worker vanished (BullMQ's stalled-job recovery took its job). */
export const WORKER_LOST_REASON = 'worker lost: its job lock lapsed';
/** `retry` reason of an attempt handed over because its worker shut down. */
export const WORKER_SHUT_DOWN_REASON = 'worker shut down';
/** `end` error of a durable task whose job could not be added to the queue. */
export const NOT_QUEUED_ERROR = 'Task could not be queued';
