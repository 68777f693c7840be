import { isTerminalStatus, type TerminalStatus } from '../../interfaces/task-status.interface';
import type { TaskEndedListener } from '../../interfaces/task-store.interface';
import type { RedisConnections } from './redis-connections';
import type { RedisKeys } from './redis-keys';
import type { RedisKeyspace } from './redis-keyspace';
import { renewCall } from './redis-admission-scripts';
import { isNoScript, SCRIPTS } from './redis-scripts';

/**
 * Keeps the leases of the running tasks this instance owns: renews them (so no reaper
 * fails them) and tells the ended-listeners when one of them, or any task, ended by
 * another path than this instance's own finish.
 */
export class RedisLeases {
  /**
   * The running tasks this instance owns: the fencing token every write of the owner
   * carries, and the last event id Redis gave it (a failover that lost it is repaired).
   */
  private readonly owned = new Map<string, { fence: string; known: number; durable: boolean }>();
  private readonly endedListeners = new Set<TaskEndedListener>();
  private renewTimer: NodeJS.Timeout | undefined;
  private failedRounds = 0;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
    private readonly leaseMs: number,
  ) {
    // "ended" notices published while a subscriber was away are lost: ask instead.
    connections.pubsub.onRestored(() => void this.reconcile([...this.owned.keys()]));
  }

  /** Renews every third of the lease, so that two renewals can fail before the lease lapses. */
  start(): void {
    this.renewTimer = setInterval(() => void this.renew(), Math.max(1, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
  }

  stop(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.endedListeners.clear();
  }

  /** `durable`: the task has no lease to extend (renewals only check that it is still ours). */
  own(taskId: string, fence: string, durable = false): void {
    this.owned.set(taskId, { fence, known: 0, durable });
  }

  /** The fencing token of an owned task, or '' (a write from a non-owner: cancel from anywhere). */
  fenceOf(taskId: string): string {
    return this.owned.get(taskId)?.fence ?? '';
  }

  /** The last event id Redis gave this owner for the task (0: none, or not owned). */
  knownOf(taskId: string): number {
    return this.owned.get(taskId)?.known ?? 0;
  }

  /** Redis acknowledged the task's events up to `lastId` to its owner. */
  acknowledged(taskId: string, lastId: number): void {
    const lease = this.owned.get(taskId);
    if (lease && lastId > lease.known) lease.known = lastId;
  }

  /**
   * Renewal rounds in a row that did not renew every owned lease (Redis away, an error),
   * since the last one that did; 0 when nothing is owned. For health checks.
   */
  get failedRenewals(): number {
    return this.failedRounds;
  }

  release(taskId: string): void {
    this.owned.delete(taskId);
  }

  onTaskEnded(listener: TaskEndedListener): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  /** A task ended elsewhere (the control channel said so, or Redis did when asked). */
  taskEnded(taskId: string, status: TerminalStatus): void {
    this.owned.delete(taskId);
    for (const listener of this.endedListeners) listener(taskId, status);
  }

  /**
   * Extends the lease of every owned task (and its deadline in the reaper's list), one
   * pipeline per bucket (a Cluster pipeline holds one slot's keys), repairing a rewind.
   */
  async renew(): Promise<void> {
    const { client } = this.connections;
    if (this.owned.size === 0) {
      this.failedRounds = 0;
      return;
    }
    if (client.status !== 'ready') {
      this.failedRounds++;
      return;
    }
    try {
      const rounds = await Promise.all(
        [...this.keys.byBucket(this.owned.keys())].map(([keys, taskIds]) => this.renewBucket(keys, taskIds)),
      );
      const lost = rounds.flatMap((round) => round.lost);
      this.failedRounds = rounds.some((round) => round.failed) ? this.failedRounds + 1 : 0;
      if (lost.length > 0) await this.reconcile(lost);
    } catch (err) {
      this.failedRounds++;
      this.connections.logError('command', err);
    }
  }

  private async renewBucket(
    keys: RedisKeys,
    taskIds: string[],
  ): Promise<{ lost: string[]; failed: boolean }> {
    const { client } = this.connections;
    const calls = taskIds.map((taskId) => {
      const lease = this.owned.get(taskId);
      return renewCall(
        { taskId, fence: lease?.fence ?? '', known: lease?.known ?? 0, durable: lease?.durable },
        this.leaseMs,
        keys,
      );
    });
    const renewals = () =>
      client
        .pipeline(
          calls.map((call) => ['evalsha', SCRIPTS.renew.sha, call.keys.length, ...call.keys, ...call.args]),
        )
        .exec();
    let results = await renewals();
    if (results?.some(([err]) => isNoScript(err))) {
      await this.connections.loadScript(SCRIPTS.renew);
      results = await renewals();
    }
    const lost: string[] = [];
    taskIds.forEach((taskId, i) => {
      const [err, value] = results?.[i] ?? [null, 0];
      if (!err && Number(value) === 0) lost.push(taskId); // no longer ours: ended elsewhere or taken
    });
    return { lost, failed: results?.some(([err]) => err) ?? false };
  }

  /**
   * Tells the ended-listeners about owned tasks that ended elsewhere without a notice
   * reaching this instance (the subscriber was reconnecting, or the lease was lost).
   */
  async reconcile(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    try {
      const statuses = new Map<string, [Error | null, unknown]>();
      await Promise.all(
        [...this.keys.byBucket(taskIds)].map(async ([keys, group]) => {
          const pipeline = this.connections.client.pipeline();
          for (const taskId of group) pipeline.hget(keys.taskKey(taskId, 'meta'), 'status');
          const results = (await pipeline.exec()) ?? [];
          group.forEach((taskId, i) => statuses.set(taskId, results[i] ?? [null, null]));
        }),
      );
      taskIds.forEach((taskId) => {
        const [err, value] = statuses.get(taskId) ?? [null, null];
        if (err || !this.owned.has(taskId)) return;
        // Gone altogether (expired): it ended, and not by its owner.
        const status = value === null ? 'failed' : value;
        if (status === 'running' || !isTerminalStatus(status)) return;
        this.taskEnded(taskId, status);
      });
    } catch (err) {
      this.connections.logError('command', err);
    }
  }
}
