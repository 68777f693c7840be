import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { testStoreLimits } from '../../testing/limits';
import { TEST_REDIS_URL, uniquePrefix } from '../../testing/redis';
import { RedisConnections } from './redis-connections';
import { durableWrite, type ReplicaWait } from './redis-replica-wait';

describe('durableWrite', () => {
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, testStoreLimits());
  beforeAll(() => connections.connect(5_000));
  afterAll(() => connections.close());

  it('runs the script, then WAIT on the same connection; fewer replicas than asked is counted, not thrown', async () => {
    // A script text of its own, never loaded before: alone, it is sent by its text after NOSCRIPT.
    const lua = `-- ${uniquePrefix('wait')}\nredis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]`;
    const script = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    const wait: ReplicaWait = { replicas: 1, timeoutMs: 10, shortfalls: 0 };
    const key = `${uniquePrefix('wait')}k`;
    // The shared test Redis has no replica: WAIT answers 0 after 10 ms.
    expect(await durableWrite(connections, script, [key], ['v1'], wait, true)).toBe('v1');
    expect(wait.shortfalls).toBe(1);
    expect(await connections.client.get(key)).toBe('v1');
    await connections.client.del(key);
  });

  it('a script error is thrown as it is (the write did not happen)', async () => {
    const lua = `return redis.error_reply('SSE_NOT_FOUND')`;
    const script = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    const wait: ReplicaWait = { replicas: 1, timeoutMs: 10, shortfalls: 0 };
    await expect(durableWrite(connections, script, ['k'], [], wait, true)).rejects.toThrow('SSE_NOT_FOUND');
    expect(wait.shortfalls).toBe(0);
  });

  it('behind other calls in flight (not alone), NOSCRIPT is thrown and nothing is applied: the writer resends in order', async () => {
    const lua = `-- ${uniquePrefix('wait')}\nredis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]`;
    const script = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    const wait: ReplicaWait = { replicas: 1, timeoutMs: 10, shortfalls: 0 };
    const key = `${uniquePrefix('wait')}k`;
    await expect(durableWrite(connections, script, [key], ['v1'], wait, false)).rejects.toThrow('NOSCRIPT');
    expect(await connections.client.get(key)).toBeNull();
  });
});
