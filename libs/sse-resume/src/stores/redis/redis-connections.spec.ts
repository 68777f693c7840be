import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { StoreUnavailableError, TaskNotFoundError } from '../../errors';
import { RedisConnections } from './redis-connections';
import { TEST_REDIS_URL } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();

describe('RedisConnections', () => {
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);

  beforeAll(() => connections.connect(5_000));
  afterAll(() => connections.close());

  it('sends a script Redis does not have yet, then runs it by its SHA', async () => {
    const lua = `return ARGV[1] .. '-${Math.random()}'`; // never loaded before
    const script = { lua, sha: sha1(lua) };
    expect(await connections.client.script('EXISTS', script.sha)).toEqual([0]);
    expect(await connections.eval(script, [], ['x'])).toMatch(/^x-/);
    expect(await connections.client.script('EXISTS', script.sha)).toEqual([1]);
  });

  it("turns a script's SSE_ reply into the typed error", async () => {
    const lua = "return redis.error_reply('SSE_NOT_FOUND')";
    await expect(
      connections.call(() => connections.eval({ lua, sha: sha1(lua) }, [], []), 't1'),
    ).rejects.toEqual(new TaskNotFoundError('t1'));
  });

  it("reads Redis's clock", async () => {
    expect(Math.abs((await connections.serverTime()) - Date.now())).toBeLessThan(1_000);
  });

  it('starts without Redis after the connect timeout, answers 503 meanwhile, and refuses at once once closed', async () => {
    const away = new RedisConnections({ url: 'redis://127.0.0.1:1' }, LIMITS);
    const started = Date.now();
    await away.connect(100);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(away.call(() => away.client.get('x'))).rejects.toBeInstanceOf(StoreUnavailableError);
    await away.close();
    let called = false;
    await expect(
      away.call(async () => {
        called = true;
      }),
    ).rejects.toThrow('the store is closed');
    expect(called).toBe(false);
  });
});

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
