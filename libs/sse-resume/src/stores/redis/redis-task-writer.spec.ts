import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { TaskNotRunningError } from '../../errors';
import type { TaskEvent } from '../../task-event';
import { createCall } from './redis-admission-scripts';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { RedisLeases } from './redis-leases';
import { SCRIPTS } from './redis-scripts';
import { RedisTaskWriter } from './redis-task-writer';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits();

describe('RedisTaskWriter', () => {
  const keyspace = new RedisKeyspace(uniquePrefix('test'));
  const keys = keyspace.buckets[0]!;
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const leases = new RedisLeases(connections, keyspace, 10_000);
  const writer = new RedisTaskWriter(connections, keyspace, LIMITS, leases, 1_000);
  const redis = connections.client;

  /** Creates a task owned by this instance (its fencing token in `ownLeases`). */
  async function createOwnedTask(
    taskId: string,
    on = { connections, leases, limits: LIMITS },
  ): Promise<void> {
    const call = createCall(
      { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' },
      10_000,
      keys,
      on.limits,
    );
    const [, fence] = (await on.connections.eval(SCRIPTS.create, call.keys, call.args)) as [number, number];
    on.leases.own(taskId, String(fence));
  }

  /** The token of the last write this writer applied to the task (`<write>:<result>`, see REPLAYED_WRITE). */
  async function lastWrite(taskId: string): Promise<string | undefined> {
    const meta = await redis.hgetall(keys.taskKey(taskId, 'meta'));
    return Object.entries(meta).find(([field]) => field.startsWith('w:'))?.[1];
  }

  beforeAll(() => connections.connect(5_000));
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await connections.close();
  });

  it("sends one turn's appends in one call, in call order, and the end after them", async () => {
    await createOwnedTask('probe');
    await writer.append('probe', 'progress', '"x"');
    const before = Number((await lastWrite('probe'))!.split(':')[0]); // write numbers count this writer's calls
    await createOwnedTask('batched');
    const appended = Array.from({ length: 10 }, (_, i) => writer.append('batched', 'progress', String(i)));
    const end = writer.finish('batched', { status: 'completed', data: '{"status":"completed"}' });
    expect((await Promise.all(appended)).map((e) => [e.seq, e.data])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i + 1, String(i)]),
    );
    expect(await end).toMatchObject({ seq: 11, type: 'end' });
    // Two calls: the ten appends in one, then the end (id 11).
    expect(await lastWrite('batched')).toBe(`${before + 2}:11`);
    expect(leases.fenceOf('batched')).toBe(''); // its end let go of the lease
  });

  it('resolves the end of a task that had already ended to undefined, and refuses appends to it', async () => {
    await createOwnedTask('twice');
    await writer.finish('twice', { status: 'completed', data: '{"status":"completed"}' });
    await expect(
      writer.finish('twice', { status: 'failed', data: '{"status":"failed"}' }),
    ).resolves.toBeUndefined();
    await expect(writer.append('twice', 'progress', '1')).rejects.toBeInstanceOf(TaskNotRunningError);
  });

  it('keeps several calls in flight and, when the connection drops under them, stores every write once and in order', async () => {
    // Its own connections: the test kills the command connection while calls are in flight.
    const limits = { ...LIMITS, historyLimit: 10_000 };
    const own = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
    const ownLeases = new RedisLeases(own, keyspace, 10_000);
    const ownWriter = new RedisTaskWriter(own, keyspace, limits, ownLeases, 10_000);
    // Another instance appending to the same task (no fencing token), so ids interleave.
    const other = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
    const otherWriter = new RedisTaskWriter(
      other,
      keyspace,
      limits,
      new RedisLeases(other, keyspace, 10_000),
      10_000,
    );
    const admin = new Redis(TEST_REDIS_URL);
    await Promise.all([own.connect(5_000), other.connect(5_000)]);
    try {
      for (const killAtTurn of [3, 8, 15]) {
        const taskId = `killed-${killAtTurn}`;
        const call = createCall(
          { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' },
          10_000,
          keys,
          limits,
        );
        const [, fence] = (await own.eval(SCRIPTS.create, call.keys, call.args)) as [number, number];
        ownLeases.own(taskId, String(fence));
        const clientId = String(await own.client.client('ID'));
        const mine: Promise<TaskEvent>[] = [];
        const theirs: Promise<TaskEvent>[] = [];
        for (let turn = 0; turn < 25; turn++) {
          for (let i = 0; i < 100; i++)
            mine.push(ownWriter.append(taskId, 'progress', `"m${turn * 100 + i}"`));
          if (turn % 4 === 1) theirs.push(otherWriter.append(taskId, 'progress', `"o${turn}"`));
          if (turn === killAtTurn) await admin.client('KILL', 'ID', clientId);
          await new Promise((resolve) => setImmediate(resolve));
        }
        const stored = await Promise.all(mine);
        const storedOther = await Promise.all(theirs);
        const entries = await admin.xrange(keys.taskKey(taskId, 'events'), '-', '+');
        const history = entries.map(([id, fields]): [number, string] => [
          Number(id.split('-')[0]),
          fields[3] ?? '',
        ]);
        // Every event once, ids 1..n without a hole, each writer's events in its call order.
        expect(history.map(([seq]) => seq)).toEqual(
          Array.from({ length: 2500 + storedOther.length }, (_, i) => i + 1),
        );
        const ours = history.filter(([, data]) => data.startsWith('"m')).map(([, data]) => data);
        expect(ours).toEqual(Array.from({ length: 2500 }, (_, i) => `"m${i}"`));
        // What each append resolved to is the id its event has.
        const byId = new Map(history);
        for (const event of [...stored, ...storedOther]) expect(byId.get(event.seq)).toBe(event.data);
      }
    } finally {
      admin.disconnect();
      await Promise.all([own.close(), other.close()]);
    }
  });

  it('when Redis lacks the script for one call in flight (NOSCRIPT), later calls do not overtake it: every write once and in order', async () => {
    const limits = { ...LIMITS, historyLimit: 10_000 };
    const own = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
    const ownLeases = new RedisLeases(own, keyspace, 10_000);
    const ownWriter = new RedisTaskWriter(own, keyspace, limits, ownLeases, 10_000);
    await own.connect(5_000);
    // The k-th EVALSHA of APPEND names a script Redis does not have: a real NOSCRIPT reply,
    // while the calls sent after it on the same connection find the script (as when another
    // client loaded it again right after a SCRIPT FLUSH).
    const client = own.client;
    const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
    const refusals: string[] = [];
    let appends = 0;
    const corruptAt = 2;
    (client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (sha, ...rest) => {
      const corrupt = sha === SCRIPTS.append.sha && ++appends === corruptAt;
      return evalsha(corrupt ? '0'.repeat(40) : sha, ...rest).catch((err: unknown) => {
        refusals.push(err instanceof Error ? err.message : String(err));
        throw err;
      });
    };
    try {
      const taskId = 'noscript';
      await createOwnedTask(taskId, { connections: own, leases: ownLeases, limits });
      // One acknowledged write first (until then one call at a time), then 4,000 appends in one
      // turn: sent at once as 8 calls of up to 512 in flight, the second of them corrupted.
      await ownWriter.append(taskId, 'progress', '"first"');
      appends = 0;
      const mine: Promise<TaskEvent>[] = [];
      for (let i = 0; i < 4000; i++) mine.push(ownWriter.append(taskId, 'progress', `"m${i}"`));
      const stored = await Promise.all(mine);
      expect(stored.map((event) => event.seq)).toEqual(Array.from({ length: 4000 }, (_, i) => i + 2));
      const entries = await redis.xrange(keys.taskKey(taskId, 'events'), '-', '+');
      expect(entries.map(([, fields]) => fields[3])).toEqual([
        '"first"',
        ...Array.from({ length: 4000 }, (_, i) => `"m${i}"`),
      ]);
      // The corrupted call got NOSCRIPT, and at least the call behind it was refused (not applied).
      expect(refusals[0]).toMatch(/^NOSCRIPT/);
      expect(refusals.length).toBeGreaterThan(1);
      for (const refusal of refusals.slice(1)) expect(refusal).toContain('SSE_OUT_OF_ORDER');
    } finally {
      await own.close();
    }
  });
});
