import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { RedisConnections } from './redis-connections';
import { RedisHistoryBudget } from './redis-history-budget';
import { RedisKeys } from './redis-keys';
import { RedisTaskStore } from './redis-task-store';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL_MS = 100;
const LIMITS: TaskStoreLimits = {
  ttl: TTL_MS,
  expiredRetentionMs: 60_000,
  historyLimit: 100,
  historyBytes: 1_000_000,
  historyBudgetBytes: 1 << 30,
  maxTasks: 100,
};

describe('RedisHistoryBudget', () => {
  const keys = new RedisKeys(`test:${process.pid}:${Math.random().toString(36).slice(2)}:`);
  const connections = new RedisConnections({ url: REDIS_URL }, LIMITS);
  const budget = new RedisHistoryBudget(connections, keys);
  const store = new RedisTaskStore(LIMITS, { url: REDIS_URL, keyPrefix: keys.prefix });
  const redis = connections.client;
  const counter = async () => Number((await redis.get(keys.key('bytes'))) ?? 0);

  beforeAll(() => Promise.all([connections.connect(5_000), store.init()]));
  afterAll(async () => {
    await redis.eval(
      `for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end`,
      0,
      `${keys.prefix}*`,
    );
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
