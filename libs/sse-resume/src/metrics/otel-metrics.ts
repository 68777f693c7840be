import type {
  SseResumeCounter,
  SseResumeHistogram,
  SseResumeMeter,
  SseResumeMetricAttributes,
} from '../interfaces/metrics.interface';
import type { TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskEvent } from '../task-event';
import type { DropReason, SseResumeMetrics, StoreOperation } from './sse-resume-metrics';

/** Name of the meter (the instrumentation scope: `otel_scope_name` in Prometheus). */
export const METER_NAME = 'nest-sse-resume';

/** Instrument names, OpenTelemetry style (Prometheus: dots become `_`, counters get `_total`). */
export const INSTRUMENTS = {
  tasksStarted: 'sse_resume.tasks.started',
  tasksEnded: 'sse_resume.tasks.ended',
  tasksRunning: 'sse_resume.tasks.running',
  streamsOpen: 'sse_resume.streams.open',
  streamsResumed: 'sse_resume.streams.resumed',
  eventsEmitted: 'sse_resume.events.emitted',
  eventsEmittedSize: 'sse_resume.events.emitted.size',
  eventsReplayed: 'sse_resume.events.replayed',
  gapsSent: 'sse_resume.gaps.sent',
  subscribersDropped: 'sse_resume.subscribers.dropped',
  storeErrors: 'sse_resume.store.errors',
  storeDuration: 'sse_resume.store.operation.duration',
  evictionRuns: 'sse_resume.eviction.runs',
  evictionEvicted: 'sse_resume.eviction.evicted',
} as const;

/** Attribute names. */
export const ATTRIBUTES = {
  taskStatus: 'sse_resume.task.status',
  dropReason: 'sse_resume.drop.reason',
  storeOperation: 'sse_resume.store.operation',
} as const;

/**
 * Buckets of the store latency histogram, in seconds: from 10 µs (memory) to 10 s (a Redis
 * write retried through an outage). OpenTelemetry's default buckets (0 to 10 000) suit
 * milliseconds, not seconds.
 */
export const STORE_DURATION_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];

const NO_ATTRIBUTES: SseResumeMetricAttributes = Object.freeze({});

function attributesBy<K extends string>(
  name: string,
  values: readonly K[],
): Record<K, SseResumeMetricAttributes> {
  return Object.fromEntries(
    values.map((value) => [value, Object.freeze({ [name]: value })]),
  ) as unknown as Record<K, SseResumeMetricAttributes>;
}

const STATUSES: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled'];
const DROP_REASONS: readonly DropReason[] = ['slow', 'stalled'];
const STORE_OPERATIONS: readonly StoreOperation[] = [
  'create',
  'lookup',
  'findTaskIdByKeyHash',
  'append',
  'finish',
  'read',
  'readFrames',
  'watch',
  'evictExpired',
];

/**
 * {@link SseResumeMetrics} on an OpenTelemetry meter: synchronous instruments created once,
 * every attribute set built once (a measurement allocates nothing of ours).
 */
export class OtelSseResumeMetrics implements SseResumeMetrics {
  readonly enabled = true;
  private readonly tasksStarted: SseResumeCounter;
  private readonly tasksEnded: SseResumeCounter;
  private readonly tasksRunning: SseResumeCounter;
  private readonly streamsOpen: SseResumeCounter;
  private readonly streamsResumed: SseResumeCounter;
  private readonly eventsEmitted: SseResumeCounter;
  private readonly eventsEmittedSize: SseResumeCounter;
  private readonly replayed: SseResumeCounter;
  private readonly gapsSent: SseResumeCounter;
  private readonly subscribersDropped: SseResumeCounter;
  private readonly storeErrors: SseResumeCounter;
  private readonly storeDuration: SseResumeHistogram;
  private readonly evictionRuns: SseResumeCounter;
  private readonly evictionEvicted: SseResumeCounter;
  private readonly byStatus = attributesBy(ATTRIBUTES.taskStatus, STATUSES);
  private readonly byReason = attributesBy(ATTRIBUTES.dropReason, DROP_REASONS);
  private readonly byOperation = attributesBy(ATTRIBUTES.storeOperation, STORE_OPERATIONS);

  constructor(meter: SseResumeMeter) {
    const counter = (name: string, unit: string, description: string) =>
      meter.createCounter(name, { unit, description });
    const upDown = (name: string, unit: string, description: string) =>
      meter.createUpDownCounter(name, { unit, description });
    this.tasksStarted = counter(INSTRUMENTS.tasksStarted, '{task}', 'Tasks started in this process');
    this.tasksEnded = counter(
      INSTRUMENTS.tasksEnded,
      '{task}',
      'Tasks run by this process that ended, by sse_resume.task.status',
    );
    this.tasksRunning = upDown(INSTRUMENTS.tasksRunning, '{task}', 'Tasks running in this process');
    this.streamsOpen = upDown(INSTRUMENTS.streamsOpen, '{stream}', 'Open event streams on this instance');
    this.streamsResumed = counter(
      INSTRUMENTS.streamsResumed,
      '{stream}',
      'Streams opened with a resume point (Last-Event-ID)',
    );
    this.eventsEmitted = counter(INSTRUMENTS.eventsEmitted, '{event}', 'Events emitted by tasks and stored');
    this.eventsEmittedSize = counter(
      INSTRUMENTS.eventsEmittedSize,
      'By',
      'UTF-8 bytes of the emitted events (name + JSON data)',
    );
    this.replayed = counter(
      INSTRUMENTS.eventsReplayed,
      '{event}',
      'Events sent to subscribers from history (replays), the end event included',
    );
    this.gapsSent = counter(
      INSTRUMENTS.gapsSent,
      '{gap}',
      'gap events sent (history no longer reached back)',
    );
    this.subscribersDropped = counter(
      INSTRUMENTS.subscribersDropped,
      '{subscriber}',
      'Subscribers disconnected as too slow, by sse_resume.drop.reason (slow: maxPendingBytes, stalled: slowConsumerTimeoutMs)',
    );
    this.storeErrors = counter(
      INSTRUMENTS.storeErrors,
      '{error}',
      'Task store calls that failed (not typed refusals such as TOO_MANY_TASKS), by sse_resume.store.operation',
    );
    this.storeDuration = meter.createHistogram(INSTRUMENTS.storeDuration, {
      unit: 's',
      description: 'Duration of task store calls, by sse_resume.store.operation',
      advice: { explicitBucketBoundaries: STORE_DURATION_BUCKETS },
    });
    this.evictionRuns = counter(INSTRUMENTS.evictionRuns, '{run}', 'Runs of the eviction job that completed');
    this.evictionEvicted = counter(
      INSTRUMENTS.evictionEvicted,
      '{task}',
      'Tasks the eviction job expired, forgot or failed (orphans)',
    );
  }

  taskStarted(): void {
    this.tasksStarted.add(1, NO_ATTRIBUTES);
    this.tasksRunning.add(1, NO_ATTRIBUTES);
  }

  taskEnded(status: TerminalStatus): void {
    this.tasksEnded.add(1, this.byStatus[status]);
    this.tasksRunning.add(-1, NO_ATTRIBUTES);
  }

  eventEmitted(event: TaskEvent): void {
    this.eventsEmitted.add(1, NO_ATTRIBUTES);
    this.eventsEmittedSize.add(event.size, NO_ATTRIBUTES);
  }

  streamOpened(): void {
    this.streamsOpen.add(1, NO_ATTRIBUTES);
  }

  streamClosed(count = 1): void {
    this.streamsOpen.add(-count, NO_ATTRIBUTES);
  }

  streamResumed(): void {
    this.streamsResumed.add(1, NO_ATTRIBUTES);
  }

  eventsReplayed(count: number): void {
    this.replayed.add(count, NO_ATTRIBUTES);
  }

  gapSent(): void {
    this.gapsSent.add(1, NO_ATTRIBUTES);
  }

  subscriberDropped(reason: DropReason): void {
    this.subscribersDropped.add(1, this.byReason[reason]);
  }

  storeOperation(operation: StoreOperation, seconds: number, failed: boolean): void {
    const attributes = this.byOperation[operation];
    this.storeDuration.record(seconds, attributes);
    if (failed) this.storeErrors.add(1, attributes);
  }

  evictionRun(evicted: number): void {
    this.evictionRuns.add(1, NO_ATTRIBUTES);
    if (evicted > 0) this.evictionEvicted.add(evicted, NO_ATTRIBUTES);
  }
}

/** The part of `@opentelemetry/api` the library uses. */
export interface OpenTelemetryApi {
  metrics: { getMeter(name: string): SseResumeMeter };
  createNoopMeter(): SseResumeMeter;
}

let loading: Promise<OpenTelemetryApi | undefined> | undefined;

/**
 * `@opentelemetry/api` (an optional peer), loaded once, on first use; `undefined` when it is
 * not installed. The only place the library loads it: nothing else imports it, so the main
 * entry point runs without it.
 */
export function loadOpenTelemetryApi(): Promise<OpenTelemetryApi | undefined> {
  return (loading ??= import('@opentelemetry/api').then(
    (api): OpenTelemetryApi => api,
    (err: unknown) => {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      const missing =
        (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') &&
        /@opentelemetry\/api/.test(String(err));
      if (missing) return undefined;
      loading = undefined;
      throw err;
    },
  ));
}
