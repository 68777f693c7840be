import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisConnections } from './redis-connections';
import { RedisHistoryBudget } from './redis-history-budget';
import { RedisKeyspace } from './redis-keyspace';
import { RedisTaskStore } from './redis-task-store';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const TTL_MS = 100;
const LIMITS = testStoreLimits({ ttl: TTL_MS });

describe('RedisHistoryBudget', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const budget = new RedisHistoryBudget(connections, keyspace);
  const store = new RedisTaskStore(LIMITS, { url: TEST_REDIS_URL, keyPrefix: keys.prefix });
  const redis = connections.client;
  const counter = async () => Number((await redis.get(keys.key('bytes'))) ?? 0);

  beforeAll(() => Promise.all([connections.connect(5_000), store.init()]));
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await Promise.all([connections.close(), store.close()]);
  });

  it('forgets finished tasks once their TTL has passed and gives their bytes back, once', async () => {
    for (const taskId of ['a', 'b']) {
      await store.create({ taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' });
      await store.append(taskId, 'progress', '"0123456789"');
      await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
    }
    await store.create({ taskId: 'running', keyHash: 'h-running', createdAt: Date.now(), ownerId: 'me' });
    await store.append('running', 'progress', '"abc"');
    const runningBytes = Buffer.byteLength('"abc"') + 'progress'.length;
    expect(await counter()).toBeGreaterThan(runningBytes);
    expect(await budget.forgetExpired()).toBe(0); // within their TTL
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 20));
    expect(await budget.forgetExpired()).toBe(2);
    expect(await counter()).toBe(runningBytes);
    expect(await redis.hlen(keys.key('held'))).toBe(0);
    expect(await budget.forgetExpired()).toBe(0);
    expect(await counter()).toBe(runningBytes);
  });
});
