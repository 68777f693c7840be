import { performance } from 'node:perf_hooks';
import { SseResumeError, StoreUnavailableError } from '../errors';
import type {
  FrameSlice,
  HistorySlice,
  NewTaskRecord,
  SourceEvent,
  TaskEndedListener,
  TaskEventListener,
  TaskLookup,
  TaskStore,
  TaskTermination,
} from '../interfaces/task-store.interface';
import type { TaskEvent } from '../task-event';
import type { SseResumeMetrics, StoreOperation } from './sse-resume-metrics';

/**
 * A failure of the store itself: unreachable, or an error that is none of the library's
 * typed refusals (`TOO_MANY_TASKS`, `STORE_FULL`, `TASK_NOT_RUNNING`, ... are answers, not
 * failures).
 */
export function isStoreFailure(err: unknown): boolean {
  return !(err instanceof SseResumeError) || err instanceof StoreUnavailableError;
}

/**
 * The one seam where store calls are timed: the service hands this wrapper, not the store,
 * to its parts, so every store (memory, Redis, yours) is measured the same way and none
 * knows about metrics. Each data call records its duration and, if it failed for a reason
 * of the store, an error; `init`, `close`, `onTaskEnded` and the properties pass through
 * (optional methods stay absent when the store has none). A call that throws synchronously
 * (against the contract: every method is async) passes through unmeasured.
 */
export class MeasuredTaskStore implements TaskStore {
  readonly appendNow?: TaskStore['appendNow'];
  readonly readFrames?: TaskStore['readFrames'];
  readonly init?: TaskStore['init'];
  readonly onTaskEnded?: TaskStore['onTaskEnded'];
  readonly claim?: TaskStore['claim'];
  readonly checkpoint?: TaskStore['checkpoint'];
  readonly releaseClaim?: TaskStore['releaseClaim'];
  readonly appendOnce?: TaskStore['appendOnce'];

  constructor(
    readonly inner: TaskStore,
    private readonly metrics: SseResumeMetrics,
  ) {
    if (inner.appendNow) {
      this.appendNow = (taskId: string, type: string, data: string): TaskEvent =>
        this.measureNow('append', () => inner.appendNow!(taskId, type, data));
    }
    if (inner.readFrames) {
      this.readFrames = (
        taskId: string,
        afterId: number,
        limit: number,
        maxChars: number,
      ): Promise<FrameSlice> =>
        this.measure('readFrames', performance.now(), inner.readFrames!(taskId, afterId, limit, maxChars));
    }
    if (inner.init) this.init = () => inner.init!();
    // Durable tasks and queue streams: their writes count as appends; a claim is not timed.
    if (inner.claim) this.claim = (taskId: string, ownerId: string) => inner.claim!(taskId, ownerId);
    if (inner.checkpoint) {
      this.checkpoint = (taskId: string, type: string, data: string, state: string): Promise<TaskEvent> =>
        this.measure('append', performance.now(), inner.checkpoint!(taskId, type, data, state));
    }
    if (inner.releaseClaim) this.releaseClaim = (taskId: string) => inner.releaseClaim!(taskId);
    if (inner.appendOnce) {
      this.appendOnce = (
        taskId: string,
        source: string,
        position: string,
        events: SourceEvent[],
      ): Promise<TaskEvent[]> =>
        this.measure('append', performance.now(), inner.appendOnce!(taskId, source, position, events));
    }
    if (inner.onTaskEnded) this.onTaskEnded = (listener: TaskEndedListener) => inner.onTaskEnded!(listener);
  }

  get shared(): boolean {
    return this.inner.shared;
  }

  get kind(): string | undefined {
    return this.inner.kind;
  }

  get replayChunk(): number | undefined {
    return this.inner.replayChunk;
  }

  get maintenanceIntervalMs(): number | undefined {
    return this.inner.maintenanceIntervalMs;
  }

  create(task: NewTaskRecord): Promise<void> {
    return this.measure('create', performance.now(), this.inner.create(task));
  }

  lookup(taskId: string): Promise<TaskLookup> {
    return this.measure('lookup', performance.now(), this.inner.lookup(taskId));
  }

  findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    return this.measure('findTaskIdByKeyHash', performance.now(), this.inner.findTaskIdByKeyHash(keyHash));
  }

  append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    return this.measure('append', performance.now(), this.inner.append(taskId, type, data));
  }

  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    return this.measure('finish', performance.now(), this.inner.finish(taskId, termination));
  }

  read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    return this.measure('read', performance.now(), this.inner.read(taskId, afterId, limit));
  }

  watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    return this.measure('watch', performance.now(), this.inner.watch(taskId, listener, onInterrupted));
  }

  evictExpired(now: number): Promise<number> {
    return this.measure('evictExpired', performance.now(), this.inner.evictExpired(now));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** {@link measure} of a synchronous call. */
  private measureNow<T>(operation: StoreOperation, call: () => T): T {
    const start = performance.now();
    try {
      const value = call();
      this.metrics.storeOperation(operation, (performance.now() - start) / 1000, false);
      return value;
    } catch (err) {
      this.metrics.storeOperation(operation, (performance.now() - start) / 1000, isStoreFailure(err));
      throw err;
    }
  }

  private measure<T>(operation: StoreOperation, start: number, pending: Promise<T>): Promise<T> {
    return pending.then(
      (value) => {
        this.metrics.storeOperation(operation, (performance.now() - start) / 1000, false);
        return value;
      },
      (err: unknown) => {
        this.metrics.storeOperation(operation, (performance.now() - start) / 1000, isStoreFailure(err));
        throw err;
      },
    );
  }
}

/** The store as the service's parts should see it: measured when metrics are on, else itself. */
export function measureStore(store: TaskStore, metrics: SseResumeMetrics): TaskStore {
  return metrics.enabled ? new MeasuredTaskStore(store, metrics) : store;
}
