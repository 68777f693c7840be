import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TaskExpiredError, TaskNotRunningError } from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
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

describe('RedisTaskReader on the instance that owns a task (its copy of recent history)', () => {
  const keys = new RedisKeyspace(uniquePrefix('test')).buckets[0]!;
  const opened: RedisTaskStore[] = [];
  const admin = new Redis(TEST_REDIS_URL);
  async function open(limits: Partial<TaskStoreLimits> = {}, leaseMs = 10_000): Promise<RedisTaskStore> {
    const store = new RedisTaskStore(
      { ...LIMITS, ...limits },
      { url: TEST_REDIS_URL, keyPrefix: keys.prefix, leaseMs },
    );
    opened.push(store);
    await store.init();
    return store;
  }

  /** Every frame after `afterId`, read in small chunks, with the bounds of the first chunk. */
  async function replay(store: RedisTaskStore, taskId: string, afterId = 0) {
    let text = '';
    let after = afterId;
    let first: number | undefined;
    for (;;) {
      const slice = await store.readFrames(taskId, after, 7, 300);
      first ??= slice.firstEventId;
      text += slice.text;
      after = slice.lastId;
      if (slice.ended || after >= slice.lastEventId) return { text, firstEventId: first, lastId: after };
    }
  }

  /**
   * Rewrites the data of the task's events in Redis (same ids, types and sizes, data
   * `"rewritten"`), so that a read shows where it came from: memory still has the originals.
   */
  async function rewriteInRedis(taskId: string): Promise<void> {
    const stream = keys.taskKey(taskId, 'events');
    const entries = await admin.xrange(stream, '-', '+');
    const rewrite = admin.multi().del(stream);
    for (const [id, fields] of entries)
      rewrite.xadd(stream, id, 't', fields[1]!, 'd', '"rewritten"', 's', fields[5]!);
    await rewrite.exec();
  }

  async function servedFromMemory(store: RedisTaskStore, taskId: string): Promise<boolean> {
    const frames = await store.readFrames(taskId, 0, 1000, 1 << 20);
    const events = await store.read(taskId, 0, 1000);
    const fromRedis = frames.text.includes('"rewritten"');
    expect(events.events.some((e) => e.data === '"rewritten"')).toBe(fromRedis);
    return !fromRedis;
  }

  let n = 0;
  const newTaskId = () => `t${++n}`;

  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
    await deleteKeys(keys.prefix);
    admin.disconnect();
  });

  it('replays from memory exactly what Redis replays, across trims and from before the first kept event (gap)', async () => {
    const owner = await open({ historyLimit: 50 });
    const peer = await open({ historyLimit: 50 });
    const taskId = newTaskId();
    await owner.create({ taskId, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    let last: Promise<unknown> = Promise.resolve();
    for (let i = 1; i <= 80; i++)
      last = owner.append(taskId, 'progress', JSON.stringify({ i, s: 'é'.repeat(i % 5) }));
    await last;
    for (const after of [0, 30, 31, 45, 79, 80]) {
      const fromMemory = await replay(owner, taskId, after);
      const fromRedis = await replay(peer, taskId, after);
      expect(fromMemory).toEqual(fromRedis);
      expect(fromRedis.firstEventId).toBe(31); // 80 events, 50 kept: 1..30 are a gap
      const [own, other] = await Promise.all([owner.read(taskId, after, 100), peer.read(taskId, after, 100)]);
      expect(own.events.map((e) => e.frame)).toEqual(other.events.map((e) => e.frame));
      expect([own.firstEventId, own.lastEventId]).toEqual([other.firstEventId, other.lastEventId]);
    }
    await rewriteInRedis(taskId);
    expect(await servedFromMemory(owner, taskId)).toBe(true);
  });

  it('an instance that does not own the task reads Redis', async () => {
    const owner = await open();
    const peer = await open();
    const taskId = newTaskId();
    await owner.create({ taskId, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    await Promise.all([1, 2, 3].map((i) => owner.append(taskId, 'progress', String(i))));
    await rewriteInRedis(taskId);
    expect(await servedFromMemory(peer, taskId)).toBe(false);
    expect(await servedFromMemory(owner, taskId)).toBe(true);
  });

  it('never hands out what Redis dropped beyond its own limits (the global budget), nor what it lacks', async () => {
    const owner = await open();
    const peer = await open();
    const taskId = newTaskId();
    await owner.create({ taskId, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => owner.append(taskId, 'progress', String(i + 1))));
    // What the budget's shedding does to the appending task: its oldest events go.
    await admin.xtrim(keys.taskKey(taskId, 'events'), 'MINID', '16-0');
    await admin.hset(keys.taskKey(taskId, 'meta'), 'firstEventId', 16);
    const fromMemory = await replay(owner, taskId);
    expect(fromMemory).toEqual(await replay(peer, taskId));
    expect(fromMemory.firstEventId).toBe(16);
    // Another instance appends (no fencing token): the owner's copy lacks 21 and reads it from Redis.
    await peer.append(taskId, 'progress', '"elsewhere"');
    await owner.append(taskId, 'progress', '"22"');
    expect(await replay(owner, taskId, 18)).toEqual(await replay(peer, taskId, 18));
  });

  it("drops the owner's copy when the task ends, here or elsewhere, or its lease is lost", async () => {
    const owner = await open({}, 300);
    const peer = await open({}, 300);
    const owned = async (taskId: string) => {
      await Promise.all([1, 2].map((i) => owner.append(taskId, 'progress', String(i))));
      await rewriteInRedis(taskId);
      expect(await servedFromMemory(owner, taskId)).toBe(true);
    };

    const finishedHere = newTaskId();
    await owner.create({ taskId: finishedHere, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    await owned(finishedHere);
    await owner.finish(finishedHere, { status: 'completed', data: '{"status":"completed"}' });
    expect(await servedFromMemory(owner, finishedHere)).toBe(false);
    expect((await owner.readFrames(finishedHere, 0, 10, 1000)).ended).toBe(true);

    const cancelledElsewhere = newTaskId();
    await owner.create({ taskId: cancelledElsewhere, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    const told = new Promise<void>((resolve) =>
      owner.onTaskEnded((id) => id === cancelledElsewhere && resolve()),
    );
    await owned(cancelledElsewhere);
    await peer.finish(cancelledElsewhere, { status: 'cancelled', data: '{"status":"cancelled"}' });
    await told;
    expect(await servedFromMemory(owner, cancelledElsewhere)).toBe(false);
    expect(await replay(owner, cancelledElsewhere)).toEqual(await replay(peer, cancelledElsewhere));

    const leaseLost = newTaskId();
    await owner.create({ taskId: leaseLost, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    await owned(leaseLost);
    // The owner paused past its lease and the reaper failed the task: its next write is refused.
    await admin.hset(keys.taskKey(leaseLost, 'meta'), 'leaseUntil', 0);
    await admin.zadd(keys.key('running'), 0, leaseLost);
    expect(await peer.evictExpired()).toBeGreaterThanOrEqual(1);
    await expect(owner.append(leaseLost, 'progress', '"late"')).rejects.toBeInstanceOf(TaskNotRunningError);
    expect(await servedFromMemory(owner, leaseLost)).toBe(false);
    expect(await replay(owner, leaseLost)).toEqual(await replay(peer, leaseLost));
  });

  it('answers like Redis for a task that expired', async () => {
    const owner = await open();
    const taskId = newTaskId();
    await owner.create({ taskId, keyHash: 'h', createdAt: Date.now(), ownerId: 'owner' });
    await owner.append(taskId, 'progress', '1');
    await admin.del(keys.taskKey(taskId, 'meta'), keys.taskKey(taskId, 'events'));
    await admin.set(keys.taskKey(taskId, 'gone'), 'h');
    await expect(owner.readFrames(taskId, 0, 10, 1000)).rejects.toBeInstanceOf(TaskExpiredError);
    await expect(owner.read(taskId, 0, 10)).rejects.toBeInstanceOf(TaskExpiredError);
  });
});
