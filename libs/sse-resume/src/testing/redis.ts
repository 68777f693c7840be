import { Redis } from 'ioredis';

/**
 * The shared Redis of the tests and scripts (test helpers, not part of the public API). A private redis-server that a test may crash:
 * `PrivateRedis` in `@app/sse-resume/testing/private-redis`.
 */

/** The Redis the tests use: `TEST_REDIS_URL`, else the machine's 127.0.0.1:6379. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test or run shares. */
export function uniquePrefix(name: string): string {
  return `${name}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** Deletes every key under `prefix` (what a test created), then disconnects. */
export async function deleteKeys(prefix: string, redisUrl: string = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
