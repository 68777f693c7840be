import type {
  HistorySlice,
  NewTaskRecord,
  TaskEndedListener,
  TaskEventListener,
  TaskLookup,
  TaskStore,
  TaskTermination,
} from '../interfaces/task-store.interface';
import type { TaskEvent } from '../task-event';

type StoreMethod =
  | 'create'
  | 'lookup'
  | 'findTaskIdByKeyHash'
  | 'append'
  | 'finish'
  | 'read'
  | 'watch'
  | 'evictExpired'
  | 'close';

/**
 * Wraps a store, counting calls and optionally failing or delaying them
 * (test helper, not part of the public API).
 */
export class ObservedTaskStore implements TaskStore {
  readonly calls: Record<StoreMethod, number> = {
    create: 0,
    lookup: 0,
    findTaskIdByKeyHash: 0,
    append: 0,
    finish: 0,
    read: 0,
    watch: 0,
    evictExpired: 0,
    close: 0,
  };
  /** Watches currently registered (watch() resolved, its stop function not called yet). */
  activeWatches = 0;
  /** A method listed here rejects with the error instead of calling the inner store. */
  readonly failures: Partial<Record<StoreMethod, Error>> = {};
  /** When set, watch() registers with the inner store only once this resolves. */
  watchGate: Promise<void> | undefined;

  readonly claim?: TaskStore['claim'];
  readonly checkpoint?: TaskStore['checkpoint'];
  readonly releaseClaim?: TaskStore['releaseClaim'];
  readonly appendOnce?: TaskStore['appendOnce'];

  constructor(readonly inner: TaskStore) {
    // The optional methods of durable tasks and queue streams pass through (absent if the store lacks them).
    if (inner.claim) this.claim = (taskId, ownerId) => inner.claim!(taskId, ownerId);
    if (inner.checkpoint) {
      this.checkpoint = (taskId, type, data, state) => inner.checkpoint!(taskId, type, data, state);
    }
    if (inner.releaseClaim) this.releaseClaim = (taskId) => inner.releaseClaim!(taskId);
    if (inner.appendOnce) {
      this.appendOnce = (taskId, source, position, events) =>
        inner.appendOnce!(taskId, source, position, events);
    }
  }

  get shared(): boolean {
    return this.inner.shared;
  }

  get kind(): string | undefined {
    return this.inner.kind;
  }

  get maintenanceIntervalMs(): number | undefined {
    return this.inner.maintenanceIntervalMs;
  }

  async init(): Promise<void> {
    await this.inner.init?.();
  }

  onTaskEnded(listener: TaskEndedListener): () => void {
    return this.inner.onTaskEnded?.(listener) ?? (() => undefined);
  }

  async create(task: NewTaskRecord): Promise<void> {
    this.enter('create');
    return this.inner.create(task);
  }

  async lookup(taskId: string): Promise<TaskLookup> {
    this.enter('lookup');
    return this.inner.lookup(taskId);
  }

  async findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    this.enter('findTaskIdByKeyHash');
    return this.inner.findTaskIdByKeyHash(keyHash);
  }

  append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    try {
      this.enter('append');
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.inner.append(taskId, type, data);
  }

  async finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    this.enter('finish');
    return this.inner.finish(taskId, termination);
  }

  async read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    this.enter('read');
    return this.inner.read(taskId, afterId, limit);
  }

  /** The `onInterrupted` callbacks of the watches made, to simulate a broken live feed. */
  readonly interrupts: (() => void)[] = [];

  async watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    this.enter('watch');
    if (onInterrupted) this.interrupts.push(onInterrupted);
    if (this.watchGate) await this.watchGate;
    const stop = await this.inner.watch(taskId, listener, onInterrupted);
    this.activeWatches++;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.activeWatches--;
      stop();
    };
  }

  async evictExpired(now: number): Promise<number> {
    this.enter('evictExpired');
    return this.inner.evictExpired(now);
  }

  async close(): Promise<void> {
    this.enter('close');
    return this.inner.close();
  }

  private enter(method: StoreMethod): void {
    this.calls[method]++;
    const failure = this.failures[method];
    if (failure) throw failure;
  }
}
