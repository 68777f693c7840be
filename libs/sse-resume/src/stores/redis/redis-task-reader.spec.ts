import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { RedisTaskReader } from './redis-task-reader';
import { RedisTaskStore } from './redis-task-store';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();

describe('RedisTaskReader', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const reader = new RedisTaskReader(connections, keyspace);
  const store = new RedisTaskStore(LIMITS, { url: TEST_REDIS_URL, keyPrefix: keys.prefix });
  const redis = connections.client;

  beforeAll(() => Promise.all([connections.connect(5_000), store.init()]));
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await Promise.all([connections.close(), store.close()]);
  });

  it('reads back every field of a task record as the writer left it', async () => {
    await store.create({
      taskId: 't1',
      keyHash: 'h1',
      createdAt: 1_000,
      ownerId: 'i1',
      metadata: { user: 'u1' },
    });
    await store.append('t1', 'progress', '1');
    await store.finish('t1', { status: 'failed', data: '{"status":"failed","error":"boom"}', error: 'boom' });
    const lookup = await reader.lookup('t1');
    expect(lookup).toEqual({
      state: 'found',
      task: {
        taskId: 't1',
        keyHash: 'h1',
        status: 'failed',
        createdAt: 1_000,
        updatedAt: expect.any(Number),
        expiresAt: expect.any(Number),
        lastEventId: 2,
        firstEventId: 1,
        endEventId: 2,
        error: 'boom',
        ownerId: 'i1',
        metadata: { user: 'u1' },
      },
    });
    expect(await reader.findTaskIdByKeyHash('h1')).toBe('t1');
    expect(await reader.findTaskIdByKeyHash('nobody')).toBeUndefined();
  });

  it('tells an expired task (its expiry record) from one that never was', async () => {
    await redis.set(keys.taskKey('old', 'gone'), 'h-old');
    expect(await reader.lookup('old')).toEqual({ state: 'expired', taskId: 'old', keyHash: 'h-old' });
    expect(await reader.lookup('never')).toEqual({ state: 'missing' });
  });
});
