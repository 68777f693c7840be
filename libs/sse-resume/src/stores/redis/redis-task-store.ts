import type { TaskEvent } from '../../task-event';
import type {
  FrameSlice,
  HistorySlice,
  NewTaskRecord,
  TaskEndedListener,
  TaskEventListener,
  TaskLookup,
  TaskStore,
  TaskStoreLimits,
  TaskTermination,
} from '../../interfaces/task-store.interface';
import type { StoreHealth, StoreHealthOptions } from '../../interfaces/store-health.interface';
import { createCall } from './redis-admission-scripts';
import { RedisConnections } from './redis-connections';
import { RedisHealth } from './redis-health';
import { RedisHistoryBudget } from './redis-history-budget';
import { RedisKeys } from './redis-keys';
import { RedisLeases } from './redis-leases';
import { RedisLiveEvents } from './redis-live-events';
import { RedisLocalWatches } from './redis-local-watches';
import { RedisRecentHistory } from './redis-recent-history';
import { RedisOrphanReaper } from './redis-reaper';
import { SCRIPTS } from './redis-scripts';
import type { RedisTaskStoreOptions } from './redis-task-store.options';
import { RedisTaskReader } from './redis-task-reader';
import { RedisTaskWriter } from './redis-task-writer';

/**
 * The `TaskStore` on Redis, shared by every instance that uses the same Redis and prefix;
 * it admits tasks and hands every other job to one part:
 * - keys (redis-keys.ts): per task a hash (metadata; the resume key only as SHA-256), a
 *   stream of events and an expiry record, all under the hash tag `{taskId}`;
 * - writes (redis-task-writer.ts): append + trim + publish is one Lua script, so ids can
 *   never be reused or interleaved; retried across reconnects;
 * - reads (redis-task-reader.ts); live events (redis-live-events.ts): one pub/sub
 *   connection per instance, one channel per task with local watchers;
 * - on the instance that runs a task: a copy of its recent history in memory that replays
 *   are served from (redis-recent-history.ts), and its events handed to local watchers as
 *   soon as Redis acknowledged them (redis-local-watches.ts), deduped with pub/sub by id;
 * - leases (redis-leases.ts): the instance running a task renews its lease every
 *   `leaseMs / 3` and holds a fencing token checked by every write;
 * - the eviction job: the reaper (redis-reaper.ts) fails tasks whose lease lapsed, the
 *   history budget (redis-history-budget.ts) forgets finished tasks that expired. Finished
 *   tasks expire by `PEXPIRE`; the expiry record outlives them so clients get 410.
 *
 * Needs a single Redis node, not a Cluster: a task's keys share the hash tag `{taskId}`, but
 * the scripts that create, append and finish also update the per-prefix keys (`running`,
 * `fence`, the history budget's counters) in the same atomic step, and those live in other
 * slots (see redis-lua-parts.ts).
 */
export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis';
  readonly shared: boolean = true;
  readonly replayChunk = 4096;
  readonly maintenanceIntervalMs: number;
  private readonly leaseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly keys: RedisKeys;
  private readonly connections: RedisConnections;
  private readonly leases: RedisLeases;
  private readonly live: RedisLiveEvents;
  private readonly localWatches: RedisLocalWatches;
  private readonly recent: RedisRecentHistory;
  private readonly writer: RedisTaskWriter;
  private readonly reader: RedisTaskReader;
  private readonly reaper: RedisOrphanReaper;
  private readonly budget: RedisHistoryBudget;
  private readonly healthCheck: RedisHealth;

  constructor(
    private readonly limits: TaskStoreLimits,
    options: RedisTaskStoreOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    // Twice per lease: an orphan is failed within 1.5 leases of its owner's last renewal.
    this.maintenanceIntervalMs = Math.max(1, Math.floor(this.leaseMs / 2));
    this.keys = new RedisKeys(options.keyPrefix ?? 'sse:');
    this.connections = new RedisConnections(options, limits);
    this.live = new RedisLiveEvents(this.connections, this.keys, (taskId, status) =>
      this.leases.taskEnded(taskId, status),
    );
    this.leases = new RedisLeases(this.connections, this.keys, this.leaseMs);
    this.localWatches = new RedisLocalWatches((taskId, listener, onInterrupted) =>
      this.live.watch(taskId, listener, onInterrupted),
    );
    this.recent = new RedisRecentHistory(limits);
    // Ended elsewhere (cancel, the reaper) or found no longer ours: the copy is not kept.
    this.leases.onTaskEnded((taskId) => this.recent.drop(taskId));
    this.writer = new RedisTaskWriter(
      this.connections,
      this.keys,
      limits,
      this.leases,
      options.writeRetryMs ?? 10_000,
      {
        stored: (taskId, events, sizes, owned) => {
          // Still ours when the reply came (an end seen meanwhile dropped the copy for good).
          if (owned && this.leases.fenceOf(taskId) !== '') this.recent.add(taskId, events, sizes);
          this.localWatches.acknowledged(taskId, events);
        },
        invalidated: (taskId) => this.recent.drop(taskId),
      },
    );
    this.reader = new RedisTaskReader(this.connections, this.keys, this.recent);
    this.reaper = new RedisOrphanReaper(this.connections, this.keys, limits);
    this.budget = new RedisHistoryBudget(this.connections, this.keys);
    this.healthCheck = new RedisHealth(this.connections, this.leases);
  }

  async init(): Promise<void> {
    await this.connections.connect(this.connectTimeoutMs);
    this.leases.start();
  }

  async create(task: NewTaskRecord): Promise<void> {
    await this.connections.call(async () => {
      // One script counts and admits (concurrent creates cannot overshoot maxTasks), takes
      // the fencing token, lists the task for the reaper and indexes its key.
      const { keys, args } = createCall(task, this.leaseMs, this.keys, this.limits);
      const [, fence] = (await this.connections.eval(SCRIPTS.create, keys, args)) as [number, number];
      if (task.ownerId !== undefined) this.leases.own(task.taskId, String(fence));
    }, task.taskId);
  }

  lookup(taskId: string): Promise<TaskLookup> {
    return this.reader.lookup(taskId);
  }

  findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    return this.reader.findTaskIdByKeyHash(keyHash);
  }

  append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    return this.writer.append(taskId, type, data);
  }

  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    return this.writer.finish(taskId, termination);
  }

  readFrames(taskId: string, afterId: number, limit: number, maxChars: number): Promise<FrameSlice> {
    return this.reader.readFrames(taskId, afterId, limit, maxChars);
  }

  read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    return this.reader.read(taskId, afterId, limit);
  }

  watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    return this.localWatches.watch(taskId, listener, onInterrupted);
  }

  /**
   * The eviction job's work on Redis: forgets finished tasks whose TTL has passed (their
   * bytes leave the history budget) and fails running tasks whose owner stopped renewing
   * its lease. Resolves to the number of tasks failed. The `now` the interface passes is not
   * used: both steps read Redis's own clock (TIME), because every instance must agree on
   * when a lease lapsed or a TTL passed, and the instances' clocks may differ.
   */
  async evictExpired(): Promise<number> {
    await this.budget.forgetExpired();
    return this.reaper.failOrphans();
  }

  onTaskEnded(listener: TaskEndedListener): () => void {
    return this.leases.onTaskEnded(listener);
  }

  /** `PING` within `timeoutMs`, both connections ready, lease renewals not failing (redis-health.ts). */
  health(options: StoreHealthOptions): Promise<StoreHealth> {
    return this.healthCheck.check(options);
  }

  async close(): Promise<void> {
    if (this.connections.closed) return;
    this.leases.stop();
    this.live.clear();
    this.localWatches.clear();
    this.recent.clear();
    await this.connections.close();
  }
}
