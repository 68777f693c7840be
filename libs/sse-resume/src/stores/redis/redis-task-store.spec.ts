import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  StoreUnavailableError,
  TooManyTasksError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
} from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { hashResumeKey } from '../../access/resume-key';
import type { TaskEvent } from '../../task-event';
import { freePort, startRedis, stopRedis } from '../../testing/private-redis';
import { describeTaskStoreContract } from '../../testing/task-store-contract';
import { RedisTaskStore } from './redis-task-store';
import type { RedisTaskStoreOptions } from './redis-task-store.options';
import { TEST_REDIS_URL, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();

/** Every test gets its own key prefix; all its keys are deleted afterwards. */
const prefixes: string[] = [];
const stores: RedisTaskStore[] = [];
let admin: Redis;

function newPrefix(): string {
  const prefix = uniquePrefix('test');
  prefixes.push(prefix);
  return prefix;
}

async function openStore(
  limits: Partial<TaskStoreLimits> = {},
  options: RedisTaskStoreOptions = {},
): Promise<RedisTaskStore> {
  const store = new RedisTaskStore(
    { ...LIMITS, ...limits },
    { url: TEST_REDIS_URL, keyPrefix: newPrefix(), ...options },
  );
  stores.push(store);
  await store.init();
  return store;
}

/** A second instance on the same keys as the store opened last (another app instance). */
async function openPeer(
  options: RedisTaskStoreOptions = {},
  limits: Partial<TaskStoreLimits> = {},
): Promise<RedisTaskStore> {
  const store = new RedisTaskStore(
    { ...LIMITS, ...limits },
    {
      url: TEST_REDIS_URL,
      keyPrefix: prefixes[prefixes.length - 1],
      ...options,
    },
  );
  stores.push(store);
  await store.init();
  return store;
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

beforeAll(() => {
  admin = new Redis(TEST_REDIS_URL);
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(admin, prefix);
  await admin.quit();
});

describeTaskStoreContract('RedisTaskStore', {
  makeStore: async (limits) => {
    const store = new RedisTaskStore(limits, { url: TEST_REDIS_URL, keyPrefix: newPrefix() });
    await store.init();
    return store;
  },
  describe,
  it,
  beforeEach,
  afterEach,
});

function newTask(n = Math.random()) {
  return { taskId: `task-${n}-${Date.now()}`, keyHash: hashResumeKey(`key-${n}`), createdAt: Date.now() };
}

describe('RedisTaskStore across instances', () => {
  it('shares tasks: events appended on one instance reach watchers on another, in order', async () => {
    const a = await openStore();
    const b = await openPeer();
    const task = newTask();
    await a.create({ ...task, ownerId: 'instance-a' });
    const seen: TaskEvent[] = [];
    await b.watch(task.taskId, (event) => seen.push(event));
    for (let i = 1; i <= 50; i++) void a.append(task.taskId, 'progress', JSON.stringify({ i }));
    await a.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    await until(() => seen.length === 51);
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(seen.slice(0, 50).map((e) => (JSON.parse(e.data) as { i: number }).i)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(seen[50]).toMatchObject({ type: 'end', seq: 51 });
    const lookup = await b.lookup(task.taskId);
    expect(lookup).toMatchObject({ state: 'found', task: { status: 'completed', endEventId: 51 } });
  });

  it("gives the owner's watchers its events as Redis acknowledges them, with other instances' events in between, each id once and in order", async () => {
    const owner = await openStore({ historyLimit: 1000 });
    const peer = await openPeer({}, { historyLimit: 1000 });
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-owner' });
    const seen: number[] = [];
    await owner.watch(task.taskId, (event) => seen.push(event.seq));
    const writes: Promise<TaskEvent>[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10; i++) writes.push((i === 3 ? peer : owner).append(task.taskId, 'progress', '1'));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    await owner.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    await until(() => seen.length === 201);
    await sleep(50); // pub/sub copies of the last events came too, and were dropped
    expect(seen).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
  });

  it('never reuses or interleaves ids when two instances write at once', async () => {
    const a = await openStore();
    const b = await openPeer();
    const task = newTask();
    await a.create({ ...task, ownerId: 'instance-a' });
    const appended = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).append(task.taskId, 'progress', String(i))),
    );
    const ids = appended.map((e) => e.seq).sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const slice = await a.read(task.taskId, 0, 500);
    expect(slice.events.map((e) => e.seq)).toEqual(ids.slice(-100));
    // Each instance's own writes keep their call order.
    const byWriter = (odd: boolean) =>
      slice.events.map((e) => Number(e.data)).filter((i) => (i % 2 === 1) === odd);
    for (const odd of [true, false]) {
      const order = byWriter(odd);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
  });

  it('fails a task whose owner stopped renewing its lease, naming the owner, and tells the others', async () => {
    const owner = await openStore({}, { leaseMs: 300 });
    const other = await openPeer({ leaseMs: 300 });
    const ended: string[] = [];
    other.onTaskEnded((taskId, status) => ended.push(`${taskId}:${status}`));
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-crashed' });
    await owner.append(task.taskId, 'progress', '1');
    const events: TaskEvent[] = [];
    await other.watch(task.taskId, (event) => events.push(event));
    await owner.close(); // the owner dies: no more renewals
    expect(await other.evictExpired()).toBe(0); // lease still valid
    await sleep(400);
    expect(await other.evictExpired()).toBe(1);
    const lookup = await other.lookup(task.taskId);
    expect(lookup).toMatchObject({
      state: 'found',
      task: { status: 'failed', error: expect.stringContaining('instance-crashed') },
    });
    await until(() => events.length === 1 && ended.length === 1);
    expect(events[0]).toMatchObject({ type: 'end', seq: 2 });
    expect(JSON.parse(events[0]!.data)).toEqual({
      status: 'failed',
      error: expect.stringContaining('lease'),
    });
    expect(ended).toEqual([`${task.taskId}:failed`]);
  });

  it("keeps a live owner's task: renewals extend the lease", async () => {
    const owner = await openStore({}, { leaseMs: 300 });
    const other = await openPeer({ leaseMs: 300 });
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-alive' });
    await sleep(700);
    expect(await other.evictExpired()).toBe(0);
    expect(await other.lookup(task.taskId)).toMatchObject({ state: 'found', task: { status: 'running' } });
  });

  it('fences a stale owner: once its task was failed elsewhere, its writes are refused', async () => {
    const owner = await openStore({}, { leaseMs: 200 });
    const other = await openPeer({ leaseMs: 200 });
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-paused' });
    // Simulate a long pause of the owner (no renewals) by making its lease lapse in Redis.
    await admin.hset(`${prefixes[prefixes.length - 1]}{${task.taskId}}:meta`, 'leaseUntil', 0);
    await admin.zadd(`${prefixes[prefixes.length - 1]}running`, 0, task.taskId);
    expect(await other.evictExpired()).toBe(1);
    await expect(owner.append(task.taskId, 'progress', '"late"')).rejects.toBeInstanceOf(TaskNotRunningError);
    const slice = await other.read(task.taskId, 0, 10);
    expect(slice.events.map((e) => e.type)).toEqual(['end']);
  });

  it('lets another instance end a task and tells the owner (cancel from anywhere)', async () => {
    const owner = await openStore();
    const other = await openPeer();
    const ended: string[] = [];
    owner.onTaskEnded((taskId, status) => ended.push(`${taskId}:${status}`));
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-owner' });
    const end = await other.finish(task.taskId, {
      status: 'cancelled',
      data: '{"status":"cancelled","error":"stop"}',
      error: 'stop',
    });
    expect(end).toMatchObject({ seq: 1, type: 'end' });
    await until(() => ended.length === 1);
    expect(ended).toEqual([`${task.taskId}:cancelled`]);
    await expect(owner.append(task.taskId, 'progress', '1')).rejects.toBeInstanceOf(TaskNotRunningError);
  });
});

describe('RedisTaskStore.readFrames', () => {
  it('returns exactly the frames read() would give, in chunks bounded by count and characters', async () => {
    const store = await openStore({ historyLimit: 50 });
    const task = newTask();
    await store.create({ ...task, ownerId: 'x' });
    for (let i = 1; i <= 80; i++)
      void store.append(task.taskId, 'progress', JSON.stringify({ i, s: 'é'.repeat(i % 7) }));
    await store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    const all = await store.read(task.taskId, 0, 1000);
    expect(all.firstEventId).toBe(32); // 81 events, 50 kept
    const expected = all.events.map((e) => e.frame).join('');

    let text = '';
    let after = 0;
    let calls = 0;
    for (;;) {
      const slice = await store.readFrames(task.taskId, after, 7, 400);
      calls++;
      expect(slice).toMatchObject({ firstEventId: 32, lastEventId: 81 });
      if (slice.count === 0) break;
      text += slice.text;
      after = slice.lastId;
      if (slice.ended) break;
    }
    expect(text).toBe(expected);
    expect(after).toBe(81);
    expect(calls).toBeGreaterThan(50 / 7);
    const none = await store.readFrames(task.taskId, 81, 10, 1000);
    expect(none).toMatchObject({ text: '', count: 0, lastId: 81, ended: false });
    await expect(store.readFrames('missing-task', 0, 10, 1000)).rejects.toBeInstanceOf(TaskNotFoundError);
  });
});

describe('RedisTaskStore keys and expiry', () => {
  it('puts every key of a task under its hash tag and never stores the resume key', async () => {
    const store = await openStore();
    const prefix = prefixes[prefixes.length - 1]!;
    const resumeKey = 'the-secret-resume-key-0123456789';
    const task = { taskId: `tagged-${Date.now()}`, keyHash: hashResumeKey(resumeKey), createdAt: Date.now() };
    await store.create({ ...task, ownerId: 'x' });
    await store.append(task.taskId, 'progress', '{"a":1}');
    await store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const taskKeys = keys.filter((k) => k.includes(task.taskId));
    expect(taskKeys.sort()).toEqual(
      ['events', 'gone', 'meta'].map((part) => `${prefix}{${task.taskId}}:${part}`).sort(),
    );
    const dump = JSON.stringify(await admin.hgetall(`${prefix}{${task.taskId}}:meta`));
    expect(dump).not.toContain(resumeKey);
    expect(dump).toContain(task.keyHash);
    for (const key of taskKeys) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });

  it('expires a finished task after its TTL (410), then forgets it (404)', async () => {
    const store = await openStore({ ttl: 200, expiredRetentionMs: 300 });
    const task = newTask();
    await store.create({ ...task, ownerId: 'x' });
    await store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    expect(await store.lookup(task.taskId)).toMatchObject({ state: 'found' });
    await sleep(250);
    expect(await store.lookup(task.taskId)).toEqual({
      state: 'expired',
      taskId: task.taskId,
      keyHash: task.keyHash,
    });
    await expect(store.read(task.taskId, 0, 10)).rejects.toBeInstanceOf(TaskExpiredError);
    await sleep(300);
    expect(await store.lookup(task.taskId)).toEqual({ state: 'missing' });
  });
});

describe('RedisTaskStore when Redis goes away', () => {
  let redis: ChildProcess | undefined;
  let dir: string;

  afterEach(async () => {
    if (redis && redis.exitCode === null) await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails fast (503), writes once down past writeRetryMs, interrupts live watches, and works again once Redis is back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-redis-'));
    const port = await freePort();
    redis = await startRedis(port, dir);
    const store = await openStore({}, { url: `redis://127.0.0.1:${port}`, writeRetryMs: 300 });
    const task = newTask();
    await store.create({ ...task, ownerId: 'x' });
    await store.append(task.taskId, 'progress', '1');
    let interrupted = 0;
    await store.watch(
      task.taskId,
      () => undefined,
      () => interrupted++,
    );

    await stopRedis(redis);
    await until(() => interrupted === 1);
    await expect(store.append(task.taskId, 'progress', '2')).rejects.toBeInstanceOf(StoreUnavailableError);
    const started = Date.now();
    await expect(store.lookup(task.taskId)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(1_000);

    redis = await startRedis(port, dir);
    await until(async () => {
      try {
        return (await store.lookup(task.taskId)).state === 'found';
      } catch {
        return false;
      }
    }, 5_000);
    const events = await store.read(task.taskId, 0, 10);
    expect(events.events.map((e) => e.data)).toEqual(['1']); // stored events survived (AOF)
    await expect(store.append(task.taskId, 'progress', '3')).resolves.toMatchObject({ seq: 2 });
    await store.close(); // while its Redis still runs, so that no reconnect timer is left behind
  });
});

describe('RedisTaskStore limits across instances', () => {
  it('admits exactly maxTasks of 200 concurrent creates from four instances', async () => {
    const peers = [await openStore({ maxTasks: 20 })];
    for (let i = 1; i < 4; i++) peers.push(await openPeer({}, { maxTasks: 20 }));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => peers[i % 4]!.create({ ...newTask(i), ownerId: `i${i % 4}` })),
    );
    const admitted = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (outcome) => outcome.status === 'rejected' && outcome.reason instanceof TooManyTasksError,
    ).length;
    expect({ admitted, refused }).toEqual({ admitted: 20, refused: 180 });
  });

  it('keeps the history counter exact through appends, trims, shedding, ends and expiry', async () => {
    const store = await openStore({ historyLimit: 4, historyBudgetBytes: 2_000, ttl: 300, maxTasks: 50 });
    const peer = await openPeer({}, { historyLimit: 4, historyBudgetBytes: 2_000, ttl: 300, maxTasks: 50 });
    const prefix = prefixes.at(-1)!;
    const counter = async () => Number((await admin.get(`${prefix}bytes`)) ?? 0);
    /** What the tasks' own records say they hold (finished ones by their `held` entry, as their keys may expire). */
    const heldByTasks = async () => {
      let sum = 0;
      for (const taskId of await admin.zrange(`${prefix}running`, '0', '-1')) {
        sum += Number(await admin.hget(`${prefix}{${taskId}}:meta`, 'bytes'));
      }
      for (const bytes of Object.values(await admin.hgetall(`${prefix}held`))) sum += Number(bytes);
      return sum;
    };
    const ids: string[] = [];
    for (let round = 0; round < 12; round++) {
      const task = newTask(round);
      await store.create({ ...task, ownerId: 'x' });
      ids.push(task.taskId);
      await Promise.all(
        Array.from({ length: 3 + (round % 5) }, (_, i) =>
          (i % 2 ? store : peer).append(
            task.taskId,
            'progress',
            JSON.stringify('z'.repeat(20 * (round + i))),
          ),
        ),
      );
      if (round % 3 !== 2)
        await store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
      expect(await counter()).toBe(await heldByTasks());
    }
    await sleep(350);
    await Promise.all([store.evictExpired(), peer.evictExpired()]); // both at once: subtracted once
    expect(await admin.zcard(`${prefix}finished`)).toBe(0);
    expect(await counter()).toBe(await heldByTasks());
    for (const taskId of ids) {
      if ((await store.lookup(taskId)).state === 'found') {
        await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      }
    }
    await sleep(350);
    await store.evictExpired();
    expect(await counter()).toBe(0);
  });
});

describe('RedisTaskStore review regressions', () => {
  it('gives the resume-key index an expiry when the orphan reaper ends a task (no key left for ever)', async () => {
    const owner = await openStore({ ttl: 60_000, expiredRetentionMs: 60_000 }, { leaseMs: 200 });
    const other = await openPeer({ leaseMs: 200 });
    const prefix = prefixes[prefixes.length - 1]!;
    const task = newTask();
    await owner.create({ ...task, ownerId: 'instance-crashed' });
    expect(await admin.get(`${prefix}key:${task.keyHash}`)).toBe(task.taskId);
    await owner.close(); // dies without ending its task
    await sleep(300);
    expect(await other.evictExpired()).toBe(1);
    const ttl = await admin.pttl(`${prefix}key:${task.keyHash}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('never resolves a watch that the subscriber connection lost while it was being set up', async () => {
    const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    let subscriber: Redis | undefined;
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override) => (subscriber = duplicate(override));
    try {
      await watchLostWhileSubscribing(client, () => subscriber!);
    } finally {
      client.disconnect();
    }
  });
});

describe('RedisTaskStore, notices lost while the subscriber reconnects', () => {
  it('asks for the status of its own tasks once the subscriber is back', async () => {
    const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    let subscriber: Redis | undefined;
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override) => (subscriber = duplicate(override));
    try {
      const owner = await openStore({}, { client });
      const other = await openPeer();
      const ended: string[] = [];
      owner.onTaskEnded((taskId, status) => ended.push(`${taskId}:${status}`));
      const task = newTask();
      await owner.create({ ...task, ownerId: 'instance-owner' });
      // The owner's subscriber drops; the cancel's notice is published while it is away.
      const closed = new Promise<void>((resolve) => subscriber!.once('close', () => resolve()));
      const back = new Promise<void>((resolve) => subscriber!.once('ready', () => resolve()));
      subscriber!.disconnect(true);
      await closed;
      await other.finish(task.taskId, { status: 'cancelled', data: '{"status":"cancelled"}', error: 'x' });
      await back;
      await until(() => ended.length === 1);
      expect(ended).toEqual([`${task.taskId}:cancelled`]);
    } finally {
      client.disconnect();
    }
  });
});

async function watchLostWhileSubscribing(client: Redis, subscriberOf: () => Redis): Promise<void> {
  const store = await openStore({}, { client });
  const task = newTask();
  await store.create({ ...task, ownerId: 'x' });
  // The connection drops right after the task channel's SUBSCRIBE was answered.
  const sub = subscriberOf();
  const subscribe = sub.subscribe.bind(sub) as (...channels: string[]) => Promise<unknown>;
  (sub as unknown as { subscribe: (...channels: string[]) => Promise<unknown> }).subscribe = async (
    ...channels: string[]
  ) => {
    const reply = await subscribe(...channels);
    if (channels.some((c) => c.includes(task.taskId))) {
      const closed = new Promise<void>((resolve) => sub.once('close', () => resolve()));
      sub.disconnect(true);
      await closed;
    }
    return reply;
  };
  const seen: TaskEvent[] = [];
  let interrupted = 0;
  const watching = store.watch(
    task.taskId,
    (event) => seen.push(event),
    () => interrupted++,
  );
  const outcome = await watching.then(
    () => 'resolved',
    (err: unknown) => err,
  );
  if (outcome === 'resolved') {
    // Had it resolved, it would have to deliver events or report the interruption.
    await store.append(task.taskId, 'progress', '1');
    await sleep(200);
    expect({ seen: seen.length, interrupted }).not.toEqual({ seen: 0, interrupted: 0 });
  } else {
    expect(outcome).toBeInstanceOf(StoreUnavailableError);
  }
}

describe('RedisTaskStore after a failover lost writes it had acknowledged', () => {
  /** What a replica promoted before it had the last writes looks like: the history rewound to `toId`. */
  async function rewind(taskId: string, toId: number): Promise<void> {
    const prefix = prefixes[prefixes.length - 1]!;
    const meta = `${prefix}{${taskId}}:meta`;
    const events = `${prefix}{${taskId}}:events`;
    const lost = (await admin.xrange(events, `${toId + 1}-0`, '+')).map(([id]) => id);
    if (lost.length > 0) await admin.xdel(events, ...lost);
    await admin.hset(meta, 'lastEventId', toId);
  }

  it('never hands out an id twice: the next append continues after the last id the owner was given', async () => {
    const owner = await openStore();
    const task = newTask();
    await owner.create({ ...task, ownerId: 'owner' });
    for (let i = 1; i <= 5; i++) await owner.append(task.taskId, 'progress', String(i));
    await rewind(task.taskId, 3);
    const next = await owner.append(task.taskId, 'progress', '6');
    expect(next.seq).toBe(6);
    // Whoever missed 4 and 5 gets a gap: the history before the lost ids is dropped.
    const slice = await owner.read(task.taskId, 0, 100);
    expect(slice.firstEventId).toBe(6);
    expect(slice.events.map((e) => e.seq)).toEqual([6]);
    const end = await owner.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    expect(end?.seq).toBe(7);
  });

  it('repairs it within one lease renewal when no event comes (a client resuming from 5 finds it)', async () => {
    const owner = await openStore({}, { leaseMs: 300 });
    const task = newTask();
    await owner.create({ ...task, ownerId: 'owner' });
    for (let i = 1; i <= 5; i++) await owner.append(task.taskId, 'progress', String(i));
    await rewind(task.taskId, 2);
    expect(await owner.lookup(task.taskId)).toMatchObject({ task: { lastEventId: 2 } });
    await sleep(250); // a renewal runs every 100 ms
    expect(await owner.lookup(task.taskId)).toMatchObject({ task: { lastEventId: 5, firstEventId: 6 } });
  });

  it('writes wait for a replica with waitForReplicas (none here: the shortfall is counted, the write kept)', async () => {
    const store = await openStore({}, { waitForReplicas: 1, waitTimeoutMs: 20 });
    const task = newTask();
    await store.create({ ...task, ownerId: 'owner' });
    const peer = await openPeer();
    const seen: number[] = [];
    await peer.watch(task.taskId, (event) => seen.push(event.seq));
    expect((await store.append(task.taskId, 'progress', '1')).seq).toBe(1);
    expect(store.replicaShortfalls).toBe(1);
    await store.finish(task.taskId, { status: 'completed', data: '{"status":"completed"}' });
    // Published by the writer after WAIT, not by the script.
    await until(() => seen.length === 2);
    expect(seen).toEqual([1, 2]);
  });
});
