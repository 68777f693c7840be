import { isTerminalStatus, type TerminalStatus } from '../../interfaces/task-status.interface';
import type { TaskEndedListener } from '../../interfaces/task-store.interface';
import type { RedisConnections } from './redis-connections';
import type { RedisKeys } from './redis-keys';
import { SCRIPTS } from './redis-scripts';

/**
 * Keeps the leases of the running tasks this instance owns: renews them (so no reaper
 * fails them) and tells the ended-listeners when one of them, or any task, ended by
 * another path than this instance's own finish.
 */
export class RedisLeases {
  /** Fencing tokens of the running tasks this instance owns; every write of the owner carries it. */
  private readonly owned = new Map<string, string>();
  private readonly endedListeners = new Set<TaskEndedListener>();
  private renewTimer: NodeJS.Timeout | undefined;
  private failedRounds = 0;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly leaseMs: number,
  ) {
    let subscriberReadyBefore = false;
    connections.subscriber.on('ready', () => {
      // "ended" notices published while the subscriber was away are lost: ask instead.
      if (subscriberReadyBefore) void this.reconcile([...this.owned.keys()]);
      subscriberReadyBefore = true;
    });
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

  own(taskId: string, fence: string): void {
    this.owned.set(taskId, fence);
  }

  /** The fencing token of an owned task, or '' (a write from a non-owner: cancel from anywhere). */
  fenceOf(taskId: string): string {
    return this.owned.get(taskId) ?? '';
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

  /** Extends the lease of every owned task, and moves its deadline in the reaper's list. */
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
    const owned = [...this.owned];
    const renewals = () =>
      client
        .pipeline(
          owned.map(([taskId, fence]) => [
            'evalsha',
            SCRIPTS.renew.sha,
            1,
            this.keys.taskKey(taskId, 'meta'),
            fence,
            this.leaseMs,
          ]),
        )
        .exec();
    try {
      let results = await renewals();
      if (results?.some(([err]) => err && /NOSCRIPT/.test(err.message))) {
        await client.script('LOAD', SCRIPTS.renew.lua);
        results = await renewals();
      }
      const scores = client.pipeline();
      const lost: string[] = [];
      owned.forEach(([taskId], i) => {
        const [err, value] = results?.[i] ?? [null, 0];
        const leaseUntil = Number(value);
        if (err || leaseUntil === 0) {
          if (!err) lost.push(taskId); // no longer ours: ended elsewhere or taken
          return;
        }
        scores.zadd(this.keys.key('running'), 'XX', leaseUntil, taskId);
      });
      await scores.exec();
      this.failedRounds = results?.some(([err]) => err) ? this.failedRounds + 1 : 0;
      if (lost.length > 0) await this.reconcile(lost);
    } catch (err) {
      this.failedRounds++;
      this.connections.logError('command', err);
    }
  }

  /**
   * Tells the ended-listeners about owned tasks that ended elsewhere without a notice
   * reaching this instance (the subscriber was reconnecting, or the lease was lost).
   */
  async reconcile(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    try {
      const pipeline = this.connections.client.pipeline();
      for (const taskId of taskIds) pipeline.hget(this.keys.taskKey(taskId, 'meta'), 'status');
      const results = (await pipeline.exec()) ?? [];
      taskIds.forEach((taskId, i) => {
        const [err, value] = results[i] ?? [null, null];
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
