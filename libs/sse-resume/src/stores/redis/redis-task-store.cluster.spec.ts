import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Cluster } from 'ioredis';
import { hashResumeKey } from '../../access/resume-key';
import { TooManyTasksError } from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { waitForMs } from '../../testing/async';
import { testStoreLimits } from '../../testing/limits';
import { uniquePrefix } from '../../testing/redis';
import { startRedisCluster, type RedisClusterHandle } from '../../testing/redis-cluster';
import { describeTaskStoreContract } from '../../testing/task-store-contract';
import type { TaskEvent } from '../../task-event';
import { keySlot, RedisKeyspace } from './redis-keyspace';
import { RedisTaskStore } from './redis-task-store';
import type { RedisTaskStoreOptions } from './redis-task-store.options';

/*
 * The Redis store on a real Redis Cluster (three primaries, a replica each) that this spec
 * starts on free loopback ports and stops afterwards.
 */

let cluster: RedisClusterHandle;
const stores: RedisTaskStore[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await cluster?.stop();
});

async function openStore(
  limits: Partial<TaskStoreLimits> = {},
  options: RedisTaskStoreOptions = {},
): Promise<RedisTaskStore> {
  const store = new RedisTaskStore(
    { ...testStoreLimits(), ...limits },
    { nodes: cluster.seeds.split(','), keyPrefix: uniquePrefix('test'), ...options },
  );
  stores.push(store);
  await store.init();
  return store;
}

function newTask(n = Math.random()) {
  return { taskId: `task-${n}-${Date.now()}`, keyHash: hashResumeKey(`key-${n}`), createdAt: Date.now() };
}

// The whole contract with the bookkeeping in one bucket (one slot: the budget is shared) ...
describeTaskStoreContract('RedisTaskStore on a Cluster, 1 bucket', {
  makeStore: (limits) => openStore(limits, { buckets: 1 }),
  describe,
  it,
  beforeEach,
  afterEach,
});

// ... and with the default 16 buckets (each sheds its share of the budget: see below).
describeTaskStoreContract('RedisTaskStore on a Cluster', {
  makeStore: (limits) => openStore(limits),
  historyBudget: 'partitioned',
  describe,
  it,
  beforeEach,
  afterEach,
});

/** Connections with sharded subscriptions, per primary. */
async function shardedSubscribers(): Promise<number[]> {
  const admin = new Cluster(cluster.seeds.split(','));
  try {
    await admin.ping();
    return await Promise.all(
      admin.nodes('master').map(async (node) => {
        const list = (await node.client('LIST')) as string;
        return list.split('\n').filter((line) => /\bssub=[1-9]/.test(line)).length;
      }),
    );
  } finally {
    admin.disconnect();
  }
}

describe('RedisTaskStore on a Cluster', () => {
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it('spreads tasks over the primaries: every script stays in its task’s slot', async () => {
    const store = await openStore();
    expect(store.cluster).toBe(true);
    const tasks = Array.from({ length: 32 }, (_, i) => newTask(i));
    for (const task of tasks) await store.create({ ...task, ownerId: 'a' });
    await Promise.all(tasks.map((task) => store.append(task.taskId, 'progress', '1')));
    await Promise.all(
      tasks.map((task) => store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' })),
    );
    for (const task of tasks) {
      expect(await store.lookup(task.taskId)).toMatchObject({
        state: 'found',
        task: { status: 'completed' },
      });
      expect(await store.findTaskIdByKeyHash(task.keyHash)).toBe(task.taskId);
    }
  });

  it('shares live events between instances over sharded pub/sub, one subscriber connection per primary', async () => {
    const keyPrefix = uniquePrefix('test');
    const owner = await openStore({}, { keyPrefix });
    const peer = await openStore({}, { keyPrefix });
    // Each store keeps its 16 control channels: one connection per primary already.
    const before = await shardedSubscribers();
    expect(before).toEqual([2, 2, 2]);
    const tasks = Array.from({ length: 12 }, (_, i) => newTask(i));
    const seen = new Map<string, number[]>();
    for (const task of tasks) {
      await owner.create({ ...task, ownerId: 'owner' });
      seen.set(task.taskId, []);
      await peer.watch(task.taskId, (event: TaskEvent) => seen.get(task.taskId)!.push(event.seq));
    }
    for (let i = 0; i < 20; i++)
      for (const task of tasks) void owner.append(task.taskId, 'progress', String(i));
    await waitForMs(() => [...seen.values()].every((ids) => ids.length === 20), 'live events', 5_000);
    for (const ids of seen.values()) expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // 12 tasks' channels, on the same connections: not one per task.
    expect(await shardedSubscribers()).toEqual(before);
  });

  it('never admits more than maxTasks across buckets, even when creates race', async () => {
    const keyPrefix = uniquePrefix('test');
    const store = await openStore({ maxTasks: 5 }, { keyPrefix });
    const peer = await openStore({ maxTasks: 5 }, { keyPrefix });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? store : peer).create({ ...newTask(i), ownerId: 'a' })),
    );
    const admitted = results.filter((r) => r.status === 'fulfilled').length;
    expect(admitted).toBeLessThanOrEqual(5);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(TooManyTasksError);
    }
    // Without contention it admits up to the limit exactly.
    const calm = await openStore({ maxTasks: 5 });
    for (let i = 0; i < 5; i++) await calm.create({ ...newTask(100 + i), ownerId: 'a' });
    await expect(calm.create({ ...newTask(200), ownerId: 'a' })).rejects.toBeInstanceOf(TooManyTasksError);
  });

  it('splits the history budget over buckets: a bucket sheds its own finished history', async () => {
    const keyspace = new RedisKeyspace('x:', 16);
    // Two tasks of one bucket, the budget (16 × 250 B) gives each bucket 250 B.
    const ids: string[] = [];
    for (let i = 0; ids.length < 2; i++) if (keyspace.bucketOf(`budget-${i}`) === 3) ids.push(`budget-${i}`);
    const store = await openStore({ historyBudgetBytes: 16 * 250, historyLimit: 100 });
    const [first, second] = ids as [string, string];
    await store.create({ taskId: first, keyHash: hashResumeKey(first), createdAt: Date.now(), ownerId: 'a' });
    for (let i = 0; i < 2; i++) await store.append(first, 'progress', JSON.stringify('x'.repeat(90)));
    await store.finish(first, { status: 'completed', data: '{"status":"completed"}' });
    await store.create({
      taskId: second,
      keyHash: hashResumeKey(second),
      createdAt: Date.now(),
      ownerId: 'a',
    });
    await store.append(second, 'progress', JSON.stringify('x'.repeat(90)));
    await store.append(second, 'progress', JSON.stringify('x'.repeat(90)));
    // The finished one was shed down to its end event.
    const lookup = await store.lookup(first);
    expect(lookup).toMatchObject({ state: 'found', task: { firstEventId: 3, status: 'completed' } });
  });

  it('names keys so that Redis agrees on their slots', async () => {
    const admin = new Cluster(cluster.seeds.split(','));
    try {
      const keyspace = new RedisKeyspace('p:', 16);
      for (const keys of keyspace.buckets) {
        expect(await admin.cluster('KEYSLOT', keys.key('running'))).toBe(keySlot(keys.key('running')));
      }
    } finally {
      admin.disconnect();
    }
  });

  it('commands per event do not grow with watchers (S) or instances (N); one script call and one SPUBLISH per write', async () => {
    const keyPrefix = uniquePrefix('test');
    const owner = await openStore({ historyLimit: 10_000 }, { keyPrefix });
    const peers = [owner, await openStore({}, { keyPrefix }), await openStore({}, { keyPrefix })];
    const EVENTS = 100;
    const perEvent: { n: number; s: number; total: number; spublish: number; scripts: number }[] = [];
    for (const [n, s] of [
      [1, 1],
      [1, 100],
      [3, 1],
      [3, 100],
    ] as const) {
      const task = newTask(n * 1000 + s);
      await owner.create({ ...task, ownerId: 'owner' });
      let received = 0;
      const stops = await Promise.all(
        Array.from({ length: s }, (_, i) => peers[i % n]!.watch(task.taskId, () => received++)),
      );
      await cluster.resetStats();
      // One awaited append at a time: one script call per event (the worst case).
      for (let i = 0; i < EVENTS; i++) await owner.append(task.taskId, 'progress', String(i));
      await waitForMs(() => received === EVENTS * s, 'every watcher got every event', 5_000);
      const stats = await cluster.commandStats();
      for (const stop of stops) stop();
      const counted = Object.entries(stats).filter(([name]) => !/^(cluster|info|config)/.test(name));
      perEvent.push({
        n,
        s,
        total: counted.reduce((sum, [, calls]) => sum + calls, 0) / EVENTS,
        spublish: (stats.spublish ?? 0) / EVENTS,
        scripts: ((stats.evalsha ?? 0) + (stats.eval ?? 0)) / EVENTS,
      });
    }
    console.log(`Redis Cluster, commands per event:\n${JSON.stringify(perEvent)}`);
    const base = perEvent[0]!.total;
    for (const sample of perEvent) {
      // Lease renewals and other timers may add a little; nothing per watcher or instance.
      expect(Math.abs(sample.total - base)).toBeLessThan(0.5);
      expect(sample.spublish).toBeCloseTo(1, 1);
      expect(sample.scripts).toBeCloseTo(1, 1);
    }
  }, 30_000);
});
