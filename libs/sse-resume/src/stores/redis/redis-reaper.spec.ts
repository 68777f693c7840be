import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCall } from './redis-admission-scripts';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { RedisOrphanReaper } from './redis-reaper';
import { SCRIPTS } from './redis-scripts';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits({ expiredRetentionMs: 30_000 });

describe('RedisOrphanReaper', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const reaper = new RedisOrphanReaper(connections, keyspace, LIMITS, 'PUBLISH');
  const redis = connections.client;

  async function createTask(taskId: string, ownerId: string): Promise<void> {
    const call = createCall(
      { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId },
      10_000,
      keys,
      LIMITS,
    );
    await connections.eval(SCRIPTS.create, call.keys, call.args);
  }

  /** What an owner that stopped renewing leaves behind once its lease has passed. */
  async function lapse(taskId: string): Promise<void> {
    await redis.hset(keys.taskKey(taskId, 'meta'), 'leaseUntil', 1);
    await redis.zadd(keys.key('running'), 1, taskId);
  }

  beforeAll(() => connections.connect(5_000));
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await connections.close();
  });

  it('fails a task whose lease lapsed, naming its owner, and leaves a live one alone', async () => {
    await createTask('alive', 'instance-alive');
    await createTask('orphan', 'instance-crashed');
    await lapse('orphan');
    expect(await reaper.failOrphans()).toBe(1);
    expect(await redis.hmget(keys.taskKey('orphan', 'meta'), 'status', 'error')).toEqual([
      'failed',
      'owner instance instance-crashed lost: its lease lapsed',
    ]);
    expect(await redis.zrange(keys.key('running'), '0', '-1')).toEqual(['alive']);
    expect(await redis.hget(keys.taskKey('alive', 'meta'), 'status')).toBe('running');
    // Its end starts the same expiries as an owner's end: the key index does not stay for ever.
    const indexTtl = await redis.pttl(keys.keyIndex('h-orphan'));
    expect(indexTtl).toBeGreaterThan(LIMITS.ttl);
    expect(indexTtl).toBeLessThanOrEqual(LIMITS.ttl + LIMITS.expiredRetentionMs);
    expect(await reaper.failOrphans()).toBe(0);
  });

  it('drops list entries of tasks that are no longer running (nothing to fail)', async () => {
    await redis.zadd(keys.key('running'), 1, 'ghost');
    expect(await reaper.failOrphans()).toBe(0);
    expect(await redis.zscore(keys.key('running'), 'ghost')).toBeNull();
  });
});
