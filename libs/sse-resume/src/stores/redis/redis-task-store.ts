import type { TaskEvent } from '../../task-event';
import type {
  FrameSlice,
  HistorySlice,
  NewTaskRecord,
  SourceEvent,
  TaskClaim,
  TaskEndedListener,
  TaskEventListener,
  TaskLookup,
  TaskStore,
  TaskStoreLimits,
  TaskTermination,
} from '../../interfaces/task-store.interface';
import type { StoreHealth, StoreHealthOptions } from '../../interfaces/store-health.interface';
import { RedisAdmission } from './redis-admission';
import { claimCall, parseClaim } from './redis-claim-script';
import { RedisConnections } from './redis-connections';
import { RedisHealth } from './redis-health';
import { RedisHistoryBudget } from './redis-history-budget';
import { RedisKeyspace } from './redis-keyspace';
import { RedisLeases } from './redis-leases';
import { RedisLiveEvents } from './redis-live-events';
import { RedisLocalWatches } from './redis-local-watches';
import { RedisRecentHistory } from './redis-recent-history';
import { RedisOrphanReaper } from './redis-reaper';
import type { ReplicaWait } from './redis-replica-wait';
import type { RedisTaskStoreOptions } from './redis-task-store.options';
import { RedisTaskReader } from './redis-task-reader';
import { RedisTaskWriter } from './redis-task-writer';
import { SCRIPTS } from './redis-scripts';

/**
 * The `TaskStore` on Redis, shared by every instance that uses the same Redis and prefix;
 * it admits tasks and hands every other job to one part:
 * - keys (redis-keys.ts): per task a hash (metadata; the resume key only as SHA-256), a
 *   stream of events and an expiry record, all under one hash tag: `{taskId}` on one node,
 *   its bucket's on a Cluster (redis-keyspace.ts), so every script stays in one slot;
 * - admission (redis-admission.ts): counts tasks against maxTasks, across buckets on a Cluster;
 * - writes (redis-task-writer.ts): append + trim + publish is one Lua script, so ids can
 *   never be reused or interleaved; retried across reconnects;
 * - reads (redis-task-reader.ts); live events (redis-live-events.ts): one channel per task
 *   with local watchers, on one pub/sub connection per instance (one per primary on a
 *   Cluster, with sharded pub/sub: redis-pubsub.ts);
 * - on the instance that runs a task: a copy of its recent history in memory that replays
 *   are served from (redis-recent-history.ts), and its events handed to local watchers as
 *   soon as Redis acknowledged them (redis-local-watches.ts), deduped with pub/sub by id;
 * - leases (redis-leases.ts): the instance running a task renews its lease every
 *   `leaseMs / 3` and holds a fencing token checked by every write;
 * - the eviction job: the reaper (redis-reaper.ts) fails tasks whose lease lapsed, the
 *   history budget (redis-history-budget.ts) forgets finished tasks that expired. Finished
 *   tasks expire by `PEXPIRE`; the expiry record outlives them so clients get 410.
 *
 * Runs on one Redis node or on a Redis Cluster (>= 7): give `nodes` or a `Cluster` client.
 * On a Cluster, the per-prefix bookkeeping is per bucket (`buckets`, default 16) and the
 * history budget is split evenly over the buckets (each sheds its own finished history).
 */
export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis';
  readonly shared: boolean = true;
  readonly replayChunk = 4096;
  readonly maintenanceIntervalMs: number;
  private readonly leaseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly keys: RedisKeyspace;
  private readonly connections: RedisConnections;
  private readonly admission: RedisAdmission;
  /** Set with `waitForReplicas`: writes wait for replicas before they are handed out. */
  private readonly replicaWait: ReplicaWait | undefined;
  private readonly leases: RedisLeases;
  private readonly live: RedisLiveEvents;
  private readonly localWatches: RedisLocalWatches;
  private readonly recent: RedisRecentHistory;
  private readonly writer: RedisTaskWriter;
  private readonly reader: RedisTaskReader;
  private readonly reaper: RedisOrphanReaper;
  private readonly budget: RedisHistoryBudget;
  private readonly healthCheck: RedisHealth;

  constructor(limits: TaskStoreLimits, options: RedisTaskStoreOptions = {}) {
    this.leaseMs = options.leaseMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    // Twice per lease: an orphan is failed within 1.5 leases of its owner's last renewal.
    this.maintenanceIntervalMs = Math.max(1, Math.floor(this.leaseMs / 2));
    this.connections = new RedisConnections(options, limits);
    const { cluster } = this.connections;
    this.keys = new RedisKeyspace(
      options.keyPrefix ?? 'sse:',
      cluster ? (options.buckets ?? 16) : 1,
      cluster,
    );
    // What the scripts enforce: on a Cluster each bucket holds its share of the budget.
    const scriptLimits = {
      ...limits,
      historyBudgetBytes: Math.floor(limits.historyBudgetBytes / this.keys.buckets.length),
    };
    const replicas = options.waitForReplicas ?? 0;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new RangeError(`waitForReplicas must be a non-negative integer, got ${replicas}`);
    }
    this.replicaWait =
      replicas > 0 ? { replicas, timeoutMs: options.waitTimeoutMs ?? 1_000, shortfalls: 0 } : undefined;
    this.live = new RedisLiveEvents(this.connections, this.keys, (taskId, status) =>
      this.leases.taskEnded(taskId, status),
    );
    this.leases = new RedisLeases(this.connections, this.keys, this.leaseMs);
    this.admission = new RedisAdmission(this.connections, this.keys, this.leases, this.leaseMs, scriptLimits);
    this.localWatches = new RedisLocalWatches((taskId, listener, onInterrupted) =>
      this.live.watch(taskId, listener, onInterrupted),
    );
    this.recent = new RedisRecentHistory(limits);
    // Ended elsewhere (cancel, the reaper) or found no longer ours: the copy is not kept.
    this.leases.onTaskEnded((taskId) => this.recent.drop(taskId));
    this.writer = new RedisTaskWriter(
      this.connections,
      this.keys,
      scriptLimits,
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
      this.replicaWait,
    );
    this.reader = new RedisTaskReader(this.connections, this.keys, this.recent);
    this.reaper = new RedisOrphanReaper(
      this.connections,
      this.keys,
      scriptLimits,
      this.connections.cluster ? 'SPUBLISH' : 'PUBLISH',
    );
    this.budget = new RedisHistoryBudget(this.connections, this.keys);
    this.healthCheck = new RedisHealth(this.connections, this.leases);
  }

  async init(): Promise<void> {
    await this.connections.connect(this.connectTimeoutMs);
    this.leases.start();
  }

  async create(task: NewTaskRecord): Promise<void> {
    // Counts and admits (concurrent creates cannot overshoot maxTasks), takes the fencing
    // token, lists the task for the reaper and indexes its key.
    await this.connections.call(() => this.admission.create(task), task.taskId);
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

  /**
   * A new attempt: CLAIM takes a new fencing token (an earlier owner's writes now fail with
   * `TaskFencedError`) and this instance owns the task from now on: its writes carry the
   * token, and it renews (a durable task has no lease: renewals only check it is still ours).
   */
  async claim(taskId: string, ownerId: string): Promise<TaskClaim> {
    const call = claimCall(taskId, ownerId, this.keys.of(taskId));
    const reply = await this.connections.call(
      () => this.connections.eval(SCRIPTS.claim, call.keys, call.args),
      taskId,
    );
    const { claim, fence, durable } = parseClaim(reply);
    // The copy of history kept here (if any) may lack what other owners wrote meanwhile.
    this.recent.drop(taskId);
    this.leases.own(taskId, fence, durable);
    return claim;
  }

  /** An append that also stores `state` with the event's id, in the same APPEND call (its last event). */
  checkpoint(taskId: string, type: string, data: string, state: string): Promise<TaskEvent> {
    return this.writer.checkpoint(taskId, type, data, state);
  }

  /**
   * This instance stops owning the task (no renewals; later writes from here carry no
   * fencing token, like a cancel from any instance). The task stays running.
   */
  releaseClaim(taskId: string): void {
    this.leases.release(taskId);
    this.recent.drop(taskId);
  }

  /** In order with this instance's other writes of the task, one APPEND call of its own (see APPEND's 'o'). */
  appendOnce(taskId: string, source: string, position: string, events: SourceEvent[]): Promise<TaskEvent[]> {
    return this.writer.appendOnce(taskId, source, position, events);
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

  /** A Redis Cluster (sharded pub/sub, per-bucket bookkeeping) rather than one node. */
  get cluster(): boolean {
    return this.connections.cluster;
  }

  /** Writes that fewer replicas than `waitForReplicas` acknowledged in time, since start. */
  get replicaShortfalls(): number {
    return this.replicaWait?.shortfalls ?? 0;
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
