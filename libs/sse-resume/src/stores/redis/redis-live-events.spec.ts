import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TaskNotFoundError } from '../../errors';
import type { TaskEvent } from '../../task-event';
import { waitForMs } from '../../testing/async';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { decodeLiveEvents, RedisLiveEvents } from './redis-live-events';
import { RedisTaskStore } from './redis-task-store';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();

describe('decodeLiveEvents', () => {
  it('splits a published message into its events (seq, type, data lines), empty data included', () => {
    const events = decodeLiveEvents('7\nprogress\n{"a":1}\n8\nprogress\n"x y"\n9\nend\n');
    expect(events.map((e) => [e.seq, e.type, e.data])).toEqual([
      [7, 'progress', '{"a":1}'],
      [8, 'progress', '"x y"'],
      [9, 'end', ''],
    ]);
  });
});

describe('RedisLiveEvents', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const ended: string[] = [];
  const live = new RedisLiveEvents(connections, keyspace, (taskId, status) =>
    ended.push(`${taskId}:${status}`),
  );
  const store = new RedisTaskStore(LIMITS, { url: TEST_REDIS_URL, keyPrefix: keys.prefix });
  const admin = new Redis(TEST_REDIS_URL);
  /** Subscriptions of a channel, once the subscriber connection has handled what was sent before. */
  const subscribers = async (channel: string) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };

  beforeAll(async () => {
    await Promise.all([connections.connect(5_000), store.init()]);
  });
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await Promise.all([connections.close(), store.close(), admin.quit()]);
  });

  it('shares one channel subscription among the watchers of a task, until the last one leaves', async () => {
    await store.create({ taskId: 'shared', keyHash: 'h1', createdAt: Date.now(), ownerId: 'me' });
    const seen: TaskEvent[][] = [[], []];
    const stops = await Promise.all(seen.map((list) => live.watch('shared', (event) => list.push(event))));
    expect(await subscribers(keys.liveChannel('shared'))).toBe(1);
    await store.append('shared', 'progress', '1');
    await store.append('shared', 'progress', '2');
    await waitForMs(() => seen.every((list) => list.length === 2), 'both watchers');
    expect(seen.map((list) => list.map((e) => e.seq))).toEqual([
      [1, 2],
      [1, 2],
    ]);
    stops[0]!();
    expect(await subscribers(keys.liveChannel('shared'))).toBe(1);
    stops[1]!();
    expect(await subscribers(keys.liveChannel('shared'))).toBe(0);
  });

  it('refuses to watch a task that does not exist, and leaves no subscription behind', async () => {
    await expect(live.watch('missing', () => undefined)).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await subscribers(keys.liveChannel('missing'))).toBe(0);
  });

  it('passes on the control channel\'s "ended" notices, and ignores malformed ones', async () => {
    expect(await subscribers(keys.controlChannel)).toBeGreaterThanOrEqual(1);
    await admin.publish(keys.controlChannel, 'ended\nt1\nbogus-status');
    await admin.publish(keys.controlChannel, 'ended\nt2\ncancelled');
    await waitForMs(() => ended.length > 0, 'the notice');
    expect(ended).toEqual(['t2:cancelled']);
  });
});
