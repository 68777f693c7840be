/** Every default of {@link SseResumeOptions}, in one place. */
export const DEFAULT_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_HISTORY_LIMIT = 10_000;
export const DEFAULT_HISTORY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_EVENT_BYTES = 2 * 1024 * 1024;
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_RETRY_MS = 2_000;
export const DEFAULT_EVICTION_INTERVAL_MS = 60_000;
export const DEFAULT_MAX_TASKS = 10_000;
export const DEFAULT_MAX_SUBSCRIBERS_PER_TASK = 1_000;
/**
 * `maxStreams` by default: half the heap limit over what one stream costs (measured 17–21 KiB
 * per idle subscriber, RSS, with Express, 10–12 KiB with Fastify: bench workload (e); 24 KiB
 * leaves a margin), at least 1 000.
 */
export const DEFAULT_MAX_STREAMS_HEAP_SHARE = 0.5;
export const STREAM_COST_BYTES = 24 * 1024;
export const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;
/**
 * Share of V8's heap limit that all tasks' history may hold by default (`historyBudgetBytes`).
 * A quarter: event data also lives in frames, batches and socket buffers while it is sent.
 */
export const DEFAULT_HISTORY_BUDGET_HEAP_SHARE = 0.25;
/** Retry-After (s) of `StoreFullError`: history frees up as tasks end and expire, not at a known time. */
export const STORE_FULL_RETRY_SECONDS = 5;
/** A subscriber whose socket has not drained for this long while a write waits is disconnected. */
export const DEFAULT_SLOW_CONSUMER_TIMEOUT_MS = 30_000;
/** Bytes one task may emit in one turn of the event loop before `emit()` yields to other work. */
export const DEFAULT_EMIT_BYTES_PER_TURN = 1024 * 1024;
/** Bytes a task may have emitted that are not stored yet before `emit()` refuses more. */
export const DEFAULT_MAX_UNSTORED_BYTES = 16 * 1024 * 1024;
/** Events read from history per step of a replay; the loop yields between steps. */
export const DEFAULT_REPLAY_CHUNK = 512;

/** Event name of progress events when `emit()` is given none. */
export const PROGRESS_EVENT = 'progress';
/** Event name of the terminal event, the last one of every task. */
export const END_EVENT = 'end';
/** Event name of the in-band notice that history no longer reaches back far enough. */
export const GAP_EVENT = 'gap';
/** Event names `emit()` refuses, as the library writes them itself. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([END_EVENT, GAP_EVENT, 'error', 'message']);

/** Name of the eviction job in `SchedulerRegistry`. */
export const EVICTION_JOB_NAME = 'sse-resume:evict';
/** Query parameter and header the guard reads the resume key from, unless told otherwise. */
export const DEFAULT_KEY_QUERY = 'key';
export const RESUME_KEY_HEADER = 'x-resume-key';
/** Route parameters the guard reads the task id from, unless told otherwise (first match wins). */
export const DEFAULT_TASK_ID_PARAMS: readonly string[] = ['taskId', 'id'];
