import { Logger } from '@nestjs/common';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import type { RedisConnections } from './redis-connections';
import type { RedisKeys } from './redis-keys';
import type { RedisKeyspace } from './redis-keyspace';
import type { PublishCommand } from './redis-write-scripts';
import { SCRIPTS } from './redis-scripts';
import { finishArgs } from './redis-write-scripts';
import { LOGGER_NAME } from '../../sse-resume.messages';
import { logRecord } from '../../log-record';

/** Lapsed leases looked at per run at most; the rest wait for the next run. */
const MAX_ORPHANS_PER_RUN = 1000;

/**
 * Fails running tasks whose owner instance stopped renewing its lease (it crashed, or lost
 * Redis for longer than the lease), naming the lost owner, so that no task runs for ever
 * without anyone to end it. Any instance may do it; FINISH lets only one succeed.
 */
export class RedisOrphanReaper {
  private readonly logger = new Logger(LOGGER_NAME);

  constructor(
    private readonly connections: RedisConnections,
    private readonly keyspace: RedisKeyspace,
    private readonly limits: TaskStoreLimits,
    private readonly publish: PublishCommand,
  ) {}

  /** Ends every orphan found by Redis's clock (each bucket's list in turn); returns how many it failed. */
  async failOrphans(): Promise<number> {
    let reaped = 0;
    for (const keys of this.keyspace.buckets) reaped += await this.failOrphansIn(keys);
    return reaped;
  }

  private async failOrphansIn(keys: RedisKeys): Promise<number> {
    return this.connections.call(async () => {
      const { client } = this.connections;
      const running = keys.key('running');
      const now = await this.connections.serverTime();
      const lapsed = await client.zrangebyscore(running, '-inf', now, 'LIMIT', 0, MAX_ORPHANS_PER_RUN);
      let reaped = 0;
      for (const taskId of lapsed) {
        const [status, owner] = await client.hmget(keys.taskKey(taskId, 'meta'), 'status', 'owner');
        if (status === 'running') {
          if (await this.failOrphan(keys, taskId, owner)) reaped++;
          continue; // FINISH took it off the list, or its owner renewed meanwhile: it stays
        }
        await client.zrem(running, taskId); // ended or gone: nothing to reap
      }
      return reaped;
    });
  }

  /** False if its owner renewed the lease in the meantime (FINISH checks it atomically). */
  private async failOrphan(
    keys: RedisKeys,
    taskId: string,
    owner: string | null | undefined,
  ): Promise<boolean> {
    const error = `owner instance ${owner || '(unknown)'} lost: its lease lapsed`;
    const termination = {
      status: 'failed' as const,
      data: JSON.stringify({ status: 'failed', error }),
      error,
    };
    const result = await this.connections.eval(
      SCRIPTS.finish,
      keys.writeKeys(taskId),
      finishArgs(
        { taskId, termination, fence: '', onlyIfLeaseLapsed: true, publish: this.publish },
        keys,
        this.limits,
      ),
    );
    if (result === null) return false;
    this.logger.warn(
      logRecord('task failed: its owner instance was lost (lease lapsed)', {
        taskId,
        owner: owner || undefined,
      }),
    );
    return true;
  }
}
