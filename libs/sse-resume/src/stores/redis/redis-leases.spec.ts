import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCall } from './redis-admission-scripts';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { RedisLeases } from './redis-leases';
import { SCRIPTS } from './redis-scripts';
import { finishArgs } from './redis-write-scripts';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();
const LEASE_MS = 5_000;

describe('RedisLeases', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const leases = new RedisLeases(connections, keyspace, LEASE_MS);
  const redis = connections.client;
  const ended: string[] = [];
  leases.onTaskEnded((taskId, status) => ended.push(`${taskId}:${status}`));

  /** Creates a running task as its owner would; resolves to its fencing token. */
  async function createTask(taskId: string): Promise<string> {
    const call = createCall(
      { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' },
      LEASE_MS,
      keys,
      LIMITS,
    );
    const [, fence] = (await connections.eval(SCRIPTS.create, call.keys, call.args)) as [number, number];
    return String(fence);
  }

  beforeAll(() => connections.connect(5_000));
  afterAll(async () => {
    leases.stop();
    await deleteKeys(keys.prefix);
    await connections.close();
  });

  it("extends an owned task's lease and moves its deadline in the reaper's list", async () => {
    const fence = await createTask('renewed');
    leases.own('renewed', fence);
    await redis.hset(keys.taskKey('renewed', 'meta'), 'leaseUntil', 1);
    await redis.zadd(keys.key('running'), 1, 'renewed');
    const before = Date.now();
    await leases.renew();
    const leaseUntil = Number(await redis.hget(keys.taskKey('renewed', 'meta'), 'leaseUntil'));
    expect(leaseUntil).toBeGreaterThanOrEqual(before + LEASE_MS - 1_000);
    expect(Number(await redis.zscore(keys.key('running'), 'renewed'))).toBe(leaseUntil);
    expect(leases.fenceOf('renewed')).toBe(fence);
    expect(ended).toEqual([]);
    expect(leases.failedRenewals).toBe(0);
  });

  it('counts the renewal rounds that failed in a row, for health checks, until one succeeds', async () => {
    const away = new RedisConnections({ url: 'redis://127.0.0.1:1' }, LIMITS);
    const awayLeases = new RedisLeases(away, keyspace, LEASE_MS);
    try {
      await awayLeases.renew();
      expect(awayLeases.failedRenewals).toBe(0); // nothing owned: nothing to fail
      awayLeases.own('t', '1');
      await awayLeases.renew();
      await awayLeases.renew();
      expect(awayLeases.failedRenewals).toBe(2);
      awayLeases.release('t');
      await awayLeases.renew();
      expect(awayLeases.failedRenewals).toBe(0);
    } finally {
      await away.close();
    }
  });

  it('lets go of a task that ended elsewhere, and tells the listeners how it ended', async () => {
    const fence = await createTask('cancelled-elsewhere');
    leases.own('cancelled-elsewhere', fence);
    const termination = { status: 'cancelled' as const, data: '{"status":"cancelled"}', error: 'stop' };
    await connections.eval(
      SCRIPTS.finish,
      keys.writeKeys('cancelled-elsewhere'),
      finishArgs(
        {
          taskId: 'cancelled-elsewhere',
          termination,
          fence: '',
          onlyIfLeaseLapsed: false,
          publish: 'PUBLISH',
        },
        keys,
        LIMITS,
      ),
    );
    await leases.renew(); // no notice reached it (no subscriber here): the renewal finds out
    expect(ended).toEqual(['cancelled-elsewhere:cancelled']);
    expect(leases.fenceOf('cancelled-elsewhere')).toBe('');
  });

  it('counts a task gone altogether as failed', async () => {
    leases.own('vanished', '1');
    ended.length = 0;
    await leases.reconcile(['vanished']);
    expect(ended).toEqual(['vanished:failed']);
  });
});
