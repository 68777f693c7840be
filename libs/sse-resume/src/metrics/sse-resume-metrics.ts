import type { TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskEvent } from '../task-event';

/** The store calls that are timed (the `sse_resume.store.operation` attribute). */
export type StoreOperation =
  | 'create'
  | 'lookup'
  | 'findTaskIdByKeyHash'
  | 'append'
  | 'finish'
  | 'read'
  | 'readFrames'
  | 'watch'
  | 'evictExpired';

/** Why a subscriber was disconnected: too many unsent bytes, or no drain for too long. */
export type DropReason = 'slow' | 'stalled';

/**
 * What the library measures, as calls at the places where things happen. The parts take
 * this seam, never OpenTelemetry itself: {@link NOOP_METRICS} when metrics are off or
 * `@opentelemetry/api` is absent, `OtelSseResumeMetrics` (otel-metrics.ts) otherwise.
 * Calls are per task, stream, replay chunk or stored event, never per subscriber per event.
 */
export interface SseResumeMetrics {
  /** False for the no-op: callers skip work done only for metrics (e.g. timing the store). */
  readonly enabled: boolean;
  /** A task started running in this process. */
  taskStarted(): void;
  /** A task this process ran ended (here, or through the store by another path). */
  taskEnded(status: TerminalStatus): void;
  /** A task's event was stored. */
  eventEmitted(event: TaskEvent): void;
  /** A stream joined this instance's hub (it gets live events from now on). */
  streamOpened(): void;
  /** A stream (or `count` streams at once, at shutdown) left the hub. */
  streamClosed(count?: number): void;
  /** A stream was opened with a resume point (`Last-Event-ID`). */
  streamResumed(): void;
  /** Events sent to one subscriber from history (one call per replay chunk). */
  eventsReplayed(count: number): void;
  /** A `gap` event was sent. */
  gapSent(): void;
  /** A subscriber was disconnected as too slow. */
  subscriberDropped(reason: DropReason): void;
  /** A store call took `seconds`; `failed`: it failed for a reason of the store (not a typed refusal). */
  storeOperation(operation: StoreOperation, seconds: number, failed: boolean): void;
  /** One run of the eviction job ended, having ended or dropped `evicted` tasks. */
  evictionRun(evicted: number): void;
}

function noop(): void {}

/** Records nothing. */
export const NOOP_METRICS: SseResumeMetrics = Object.freeze({
  enabled: false,
  taskStarted: noop,
  taskEnded: noop,
  eventEmitted: noop,
  streamOpened: noop,
  streamClosed: noop,
  streamResumed: noop,
  eventsReplayed: noop,
  gapSent: noop,
  subscriberDropped: noop,
  storeOperation: noop,
  evictionRun: noop,
});

/** Injection token of the module's {@link SseResumeMetrics}. */
export const SSE_RESUME_METRICS = Symbol('SSE_RESUME_METRICS');
