import * as ioredis from 'ioredis';
import { TEST_REDIS_URL } from '../testing/redis';
import { createQueueRedis } from './queue-connection';

describe('createQueueRedis', () => {
  it('connects to the url, with the given ioredis options', async () => {
    const redis = createQueueRedis(ioredis, { url: TEST_REDIS_URL, options: { db: 0 } }, { name: 'br-test' });
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.client('GETNAME')).toBe('br-test');
    } finally {
      redis.disconnect();
    }
  });

  it('a blocking connection has no per-command retry limit', () => {
    const redis = createQueueRedis(
      ioredis,
      { url: TEST_REDIS_URL, options: { lazyConnect: true } },
      { blocking: true },
    );
    expect((redis as ioredis.Redis).options.maxRetriesPerRequest).toBeNull();
    redis.disconnect();
  });

  it('defaults to 127.0.0.1:6379 and builds a cluster from nodes', () => {
    const local = createQueueRedis(ioredis, { options: { lazyConnect: true } }) as ioredis.Redis;
    expect([local.options.host, local.options.port]).toEqual(['127.0.0.1', 6379]);
    local.disconnect();
    const cluster = createQueueRedis(ioredis, { nodes: ['10.0.0.1:7000'], options: { lazyConnect: true } });
    expect(cluster).toBeInstanceOf(ioredis.Cluster);
    cluster.disconnect();
  });
});
