import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TaskFencedError, TaskNotRunningError } from '../../errors';
import { hashResumeKey } from '../../access/resume-key';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';
import { claimCall, parseClaim } from './redis-claim-script';
import { RedisKeys } from './redis-keys';
import { RedisTaskStore } from './redis-task-store';
import type { RedisTaskStoreOptions } from './redis-task-store.options';

const LIMITS = testStoreLimits();
const END = { status: 'completed' as const, data: '{"status":"completed"}' };

/** Durable tasks on Redis: CLAIM and fencing across instances, no lease, checkpoints and appendOnce. */
describe('RedisTaskStore: durable tasks', () => {
  const prefix = uniquePrefix('store-durable');
  const keys = new RedisKeys(prefix);
  const opened: RedisTaskStore[] = [];
  let admin: Redis;
  let counter = 0;

  async function open(options: RedisTaskStoreOptions = {}): Promise<RedisTaskStore> {
    const store = new RedisTaskStore(LIMITS, { url: TEST_REDIS_URL, keyPrefix: prefix, ...options });
    opened.push(store);
    await store.init();
    return store;
  }

  async function createDurable(store: RedisTaskStore): Promise<string> {
    const taskId = `durable-${++counter}`;
    await store.create({
      taskId,
      keyHash: hashResumeKey(`k-${taskId}-${prefix}`),
      createdAt: Date.now(),
      durable: true,
    });
    return taskId;
  }

  beforeAll(() => {
    admin = new Redis(TEST_REDIS_URL);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    await deleteKeys(prefix);
    admin.disconnect();
  });

  it('claimCall keeps every key in the task bucket; parseClaim reads the reply', () => {
    expect(claimCall('t1', 'me', keys)).toEqual({
      keys: [...keys.taskKeys('t1'), keys.key('fence')],
      args: ['me'],
    });
    expect(parseClaim([7, 2, '5', '{"a":1}', '4', '1'])).toEqual({
      claim: { attempt: 2, lastEventId: 5, checkpoint: { state: '{"a":1}', eventId: 4 } },
      fence: '7',
      durable: true,
    });
    expect(parseClaim([8, 1, '0', '', '', ''])).toEqual({
      claim: { attempt: 1, lastEventId: 0 },
      fence: '8',
      durable: false,
    });
  });

  it('fences the earlier owner: its appends, checkpoints and finish fail once another instance claimed', async () => {
    const a = await open();
    const b = await open();
    const taskId = await createDurable(a);
    expect(await a.claim(taskId, 'worker-a')).toEqual({ attempt: 1, lastEventId: 0 });
    await a.append(taskId, 'progress', '1');
    expect(await b.claim(taskId, 'worker-b')).toEqual({ attempt: 2, lastEventId: 1 });
    await expect(a.append(taskId, 'progress', 'zombie')).rejects.toBeInstanceOf(TaskFencedError);
    await expect(a.checkpoint(taskId, 'progress', 'zombie', '{}')).rejects.toBeInstanceOf(TaskFencedError);
    await expect(a.finish(taskId, END)).rejects.toBeInstanceOf(TaskFencedError);
    expect((await b.append(taskId, 'progress', '2')).seq).toBe(2);
    const lookup = await a.lookup(taskId);
    expect(lookup.state === 'found' && lookup.task).toMatchObject({
      status: 'running',
      attempt: 2,
      ownerId: 'worker-b',
      durable: true,
      lastEventId: 2,
    });
    expect((await b.read(taskId, 0, 10)).events.map((event) => event.data)).toEqual(['1', '2']);
  });

  it('lets any instance finish a durable task (fence none), and one that released its claim', async () => {
    const a = await open();
    const b = await open();
    const taskId = await createDurable(a);
    await a.claim(taskId, 'worker-a');
    await a.append(taskId, 'retry', '{"attempt":2}');
    a.releaseClaim(taskId);
    await b.claim(taskId, 'worker-b');
    b.releaseClaim(taskId);
    const end = await a.finish(taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
    expect(end?.seq).toBe(2);
    await expect(b.claim(taskId, 'worker-b')).rejects.toBeInstanceOf(TaskNotRunningError);
  });

  it('never reaps a durable task: no lease, score +inf, renewals keep it so', async () => {
    const a = await open({ leaseMs: 150 });
    const taskId = await createDurable(a);
    const meta = keys.taskKey(taskId, 'meta');
    expect(await admin.zscore(keys.key('running'), taskId)).toBe('inf');
    expect(await admin.hget(meta, 'leaseUntil')).toBeNull();
    await a.claim(taskId, 'worker-a');
    await new Promise((resolve) => setTimeout(resolve, 400)); // renewals every 50 ms, lease 150 ms
    expect(await admin.zscore(keys.key('running'), taskId)).toBe('inf');
    expect(await admin.hget(meta, 'leaseUntil')).toBeNull();
    await a.close(); // the worker is gone: no one renews
    const b = await open({ leaseMs: 150 });
    expect(await b.evictExpired()).toBe(0);
    const lookup = await b.lookup(taskId);
    expect(lookup.state === 'found' && lookup.task.status).toBe('running');
    expect((await b.claim(taskId, 'worker-b')).attempt).toBe(2);
  });

  it('still reaps a plain task whose owner is gone (the lease path is unchanged)', async () => {
    const a = await open({ leaseMs: 150 });
    const taskId = `plain-${++counter}`;
    await a.create({
      taskId,
      keyHash: hashResumeKey(`k-${taskId}-${prefix}`),
      createdAt: Date.now(),
      ownerId: 'a',
    });
    await a.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const b = await open({ leaseMs: 150 });
    expect(await b.evictExpired()).toBe(1);
  });

  it('stores a checkpoint with the last id of its call, among appends sent in flight together', async () => {
    const a = await open();
    const taskId = await createDurable(a);
    await a.claim(taskId, 'worker-a');
    const writes = [];
    for (let i = 1; i <= 300; i++) {
      writes.push(
        i % 100 === 0
          ? a.checkpoint(taskId, 'progress', String(i), `{"step":${i}}`)
          : a.append(taskId, 'progress', String(i)),
      );
    }
    const events = await Promise.all(writes);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const meta = keys.taskKey(taskId, 'meta');
    expect(await admin.hmget(meta, 'checkpoint', 'checkpointId')).toEqual(['{"step":300}', '300']);
    await a.append(taskId, 'progress', '301');
    a.releaseClaim(taskId);
    expect(await a.claim(taskId, 'worker-b')).toEqual({
      attempt: 2,
      lastEventId: 301,
      checkpoint: { state: '{"step":300}', eventId: 300 },
    });
  });

  it('appendOnce from several instances at once appends each position once, ids contiguous', async () => {
    const stores = [await open(), await open(), await open()];
    const taskId = await createDurable(stores[0]!);
    const positions = Array.from({ length: 20 }, (_, i) => String(i + 1).padStart(6, '0'));
    const results = await Promise.all(
      stores.flatMap((store) =>
        positions.map((position) =>
          store.appendOnce(taskId, 'events', position, [{ type: 'progress', data: position }]),
        ),
      ),
    );
    const appended = results.flat();
    expect(appended.length).toBeLessThanOrEqual(20);
    expect(new Set(appended.map((event) => event.seq)).size).toBe(appended.length);
    const history = (await stores[0]!.read(taskId, 0, 100)).events;
    expect(history.map((event) => event.seq)).toEqual(history.map((_, i) => i + 1));
    // Never backwards: each event's position is later than the one before it.
    const data = history.map((event) => event.data);
    expect([...data].sort()).toEqual(data);
    expect(data).toContain('000020');
  });

  it("appendOnce keeps its order with the same instance's appends and the finish after it", async () => {
    const a = await open();
    const taskId = await createDurable(a);
    const [first, once, again, last, end] = await Promise.all([
      a.append(taskId, 'progress', '1'),
      a.appendOnce(taskId, 'logs', '0001', [{ type: 'log', data: '"a"' }]),
      a.appendOnce(taskId, 'logs', '0001', [{ type: 'log', data: '"a"' }]),
      a.append(taskId, 'progress', '3'),
      a.finish(taskId, END),
    ]);
    expect([first.seq, once.map((e) => e.seq), again, last.seq, end?.seq]).toEqual([1, [2], [], 3, 4]);
    await expect(a.appendOnce(taskId, 'logs', '0002', [{ type: 'log', data: '"b"' }])).rejects.toBeInstanceOf(
      TaskNotRunningError,
    );
  });
});
