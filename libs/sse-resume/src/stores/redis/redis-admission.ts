import { TooManyTasksError } from '../../errors';
import type { NewTaskRecord, TaskStoreLimits } from '../../interfaces/task-store.interface';
import { createCall } from './redis-admission-scripts';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import type { RedisLeases } from './redis-leases';
import { SCRIPTS } from './redis-scripts';

/**
 * Admits new tasks against `maxTasks` (tasks held: running + finished within their TTL).
 *
 * One node (one bucket): the CREATE script counts and admits in one atomic step.
 *
 * Cluster (many buckets, each in its own slot; no script may span them): CREATE admits in
 * the task's bucket (refusing at once if that bucket alone is full), then the held counts
 * of every bucket are read and summed, and if the sum is over `maxTasks` the create is
 * taken back (UNDO_CREATE) and refused. Why it never overshoots: take any set of tasks held
 * at once, and the one of them whose CREATE ran last. Its counts were read after its own
 * CREATE, so after every other one's (each key is read on the primary that wrote it), and
 * included them all: it was admitted only if they number at most `maxTasks`. Concurrent
 * creates near the limit may both see the other and both be refused (a 429 with
 * Retry-After): it errs on the side of refusing. The cost is one extra round trip per
 * create (the count scripts run in parallel, one per bucket), and nothing on the write path.
 */
export class RedisAdmission {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keyspace: RedisKeyspace,
    private readonly leases: RedisLeases,
    private readonly leaseMs: number,
    /** Limits as the scripts see them (on a Cluster the history budget is per bucket). */
    private readonly limits: TaskStoreLimits,
  ) {}

  async create(task: NewTaskRecord): Promise<void> {
    const keys = this.keyspace.of(task.taskId);
    const call = createCall(task, this.leaseMs, keys, this.limits);
    const [, fence] = (await this.connections.eval(SCRIPTS.create, call.keys, call.args)) as [number, number];
    if (this.keyspace.sharded) await this.admitAcrossBuckets(task);
    // A durable task has no owner until a worker claims it (RedisTaskStore.claim).
    if (task.ownerId !== undefined && task.durable !== true) this.leases.own(task.taskId, String(fence));
  }

  private async admitAcrossBuckets(task: NewTaskRecord): Promise<void> {
    let counts: [number, string, number][];
    try {
      counts = (await Promise.all(
        this.keyspace.buckets.map((keys) =>
          this.connections.eval(SCRIPTS.countHeld, [keys.key('running'), keys.key('finished')], []),
        ),
      )) as [number, string, number][];
    } catch (err) {
      await this.undo(task).catch(() => undefined);
      throw err;
    }
    const held = counts.reduce((sum, [count]) => sum + Number(count), 0);
    if (held <= this.limits.maxTasks) return;
    await this.undo(task);
    throw new TooManyTasksError(this.limits.maxTasks, retryAfterSeconds(counts));
  }

  private async undo(task: NewTaskRecord): Promise<void> {
    const keys = this.keyspace.of(task.taskId);
    await this.connections.eval(
      SCRIPTS.undoCreate,
      [...keys.taskKeys(task.taskId), keys.key('running'), keys.keyIndex(task.keyHash)],
      [task.taskId],
    );
  }
}

/** Seconds until the soonest finished task expires (a slot frees up), at least 1; 5 if none will. */
function retryAfterSeconds(counts: [number, string, number][]): number {
  let soonest = Infinity;
  for (const [, expiry, now] of counts) {
    if (expiry !== '') soonest = Math.min(soonest, Number(expiry) - Number(now));
  }
  return Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest / 1000)) : 5;
}
