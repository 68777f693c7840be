import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCall } from './redis-admission-scripts';
import { RedisConnections } from './redis-connections';
import { RedisKeys } from './redis-keys';
import { SCRIPTS } from './redis-scripts';
import { appendArgs, finishArgs } from './redis-write-scripts';
import { TEST_REDIS_URL, deleteKeys, uniquePrefix } from '../../testing/redis';
import { testStoreLimits } from '../../testing/limits';

const LIMITS = testStoreLimits({ expiredRetentionMs: 30_000 });
const DONE = { status: 'completed' as const, data: '{"status":"completed"}' };

/** The APPEND and FINISH scripts called with the arguments their builders make. */
describe('appendArgs and finishArgs', () => {
  const keys = new RedisKeys(uniquePrefix('test'));
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, LIMITS);
  const redis = connections.client;
  const call = (taskId: string, script: typeof SCRIPTS.finish, args: (string | number)[]) =>
    connections.call(() => connections.eval(script, keys.writeKeys(taskId), args), taskId);

  async function createTask(taskId: string): Promise<string> {
    const create = createCall(
      { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' },
      10_000,
      keys,
      LIMITS,
    );
    const [, fence] = (await connections.eval(SCRIPTS.create, create.keys, create.args)) as [number, number];
    return String(fence);
  }

  beforeAll(() => connections.connect(5_000));
  afterAll(async () => {
    await deleteKeys(keys.prefix);
    await connections.close();
  });

  it("appends with the owner's token and refuses a stale one", async () => {
    const fence = await createTask('fenced');
    const events = [{ type: 'progress', data: '"a"', size: 11 }];
    const token = { writer: 'w1', write: 1 };
    expect(
      await call(
        'fenced',
        SCRIPTS.append,
        appendArgs({ taskId: 'fenced', fence, events, token, known: 0, publish: 'PUBLISH' }, keys, LIMITS),
      ),
    ).toBe(1);
    await expect(
      call(
        'fenced',
        SCRIPTS.append,
        appendArgs(
          {
            taskId: 'fenced',
            fence: `${fence}0`,
            events,
            token: { writer: 'w1', write: 2 },
            known: 0,
            publish: 'PUBLISH',
          },
          keys,
          LIMITS,
        ),
      ),
    ).rejects.toThrow('claimed by a newer attempt');
    // The same token again is a retry of an applied write: its result, not a second event.
    expect(
      await call(
        'fenced',
        SCRIPTS.append,
        appendArgs({ taskId: 'fenced', fence, events, token, known: 0, publish: 'PUBLISH' }, keys, LIMITS),
      ),
    ).toBe(1);
    expect(await redis.xlen(keys.taskKey('fenced', 'events'))).toBe(1);
  });

  it("ends a task only once its lease lapsed when asked to (the reaper's end)", async () => {
    await createTask('leased');
    const reaperEnd = finishArgs(
      { taskId: 'leased', termination: DONE, fence: '', onlyIfLeaseLapsed: true, publish: 'PUBLISH' },
      keys,
      LIMITS,
    );
    expect(await call('leased', SCRIPTS.finish, reaperEnd)).toBeNull();
    await redis.hset(keys.taskKey('leased', 'meta'), 'leaseUntil', 1);
    expect(await call('leased', SCRIPTS.finish, reaperEnd)).toBe(1);
  });

  it('starts the TTL of the task, and of its expiry record and key index for the retention after it', async () => {
    const fence = await createTask('ended');
    const end = finishArgs(
      { taskId: 'ended', termination: DONE, fence, onlyIfLeaseLapsed: false, publish: 'PUBLISH' },
      keys,
      LIMITS,
    );
    expect(await call('ended', SCRIPTS.finish, end)).toBe(1);
    const within = (ttl: number, expected: number) => ttl > expected - 1_000 && ttl <= expected;
    expect(within(await redis.pttl(keys.taskKey('ended', 'meta')), LIMITS.ttl)).toBe(true);
    const retained = LIMITS.ttl + LIMITS.expiredRetentionMs;
    expect(within(await redis.pttl(keys.taskKey('ended', 'gone')), retained)).toBe(true);
    expect(within(await redis.pttl(keys.keyIndex('h-ended')), retained)).toBe(true);
    expect(await call('ended', SCRIPTS.finish, end)).toBeNull(); // ended already
  });

  it('appendOnce (trailing o, source, position): applies a position once; a skipped call keeps the order', async () => {
    await createTask('once');
    const events = [{ type: 'log', data: '"a"', size: 6 }];
    const once = (write: number, position: string, after?: number) =>
      call(
        'once',
        SCRIPTS.append,
        appendArgs(
          {
            taskId: 'once',
            fence: '',
            events,
            token: { writer: 'w1', write },
            known: 0,
            publish: 'PUBLISH',
            after,
            once: { source: 'logs', position },
          },
          keys,
          LIMITS,
        ),
      );
    expect(await once(1, '0002')).toBe(1);
    expect(await once(1, '0002')).toBe(1); // a retry of the applied write: its result
    expect(await once(2, '0002')).toBe(0);
    expect(await once(2, '0002')).toBe(0); // a retry of the skipped one: still nothing
    expect(await once(3, '0001', 2)).toBe(0); // follows the skipped write: IN_ORDER lets it
    expect(await once(4, '0010', 3)).toBe(2);
    expect(await redis.xlen(keys.taskKey('once', 'events'))).toBe(2);
    expect(await redis.hget(keys.taskKey('once', 'meta'), 'once:logs')).toBe('0010');
  });

  it('a checkpoint (trailing c, state) is stored with the id of the last event of its call', async () => {
    const fence = await createTask('checkpoint');
    const events = [
      { type: 'progress', data: '1', size: 9 },
      { type: 'progress', data: '2', size: 9, checkpoint: '{"step":2}' },
    ];
    const args = appendArgs(
      { taskId: 'checkpoint', fence, events, token: { writer: 'w1', write: 9 }, known: 0, publish: '' },
      keys,
      LIMITS,
    );
    expect(args.slice(-2)).toEqual(['c', '{"step":2}']);
    expect(await call('checkpoint', SCRIPTS.append, args)).toBe(1);
    expect(await redis.hmget(keys.taskKey('checkpoint', 'meta'), 'checkpoint', 'checkpointId')).toEqual([
      '{"step":2}',
      '2',
    ]);
  });

  it("never ends a durable task on the reaper's behalf (it has no lease)", async () => {
    const create = createCall(
      { taskId: 'durable', keyHash: 'h-durable', createdAt: Date.now(), durable: true },
      10_000,
      keys,
      LIMITS,
    );
    expect(await connections.eval(SCRIPTS.create, create.keys, create.args)).toEqual([0, expect.any(Number)]);
    const reaperEnd = finishArgs(
      { taskId: 'durable', termination: DONE, fence: '', onlyIfLeaseLapsed: true, publish: 'PUBLISH' },
      keys,
      LIMITS,
    );
    expect(await call('durable', SCRIPTS.finish, reaperEnd)).toBeNull();
    const cancel = finishArgs(
      { taskId: 'durable', termination: DONE, fence: '', onlyIfLeaseLapsed: false, publish: 'PUBLISH' },
      keys,
      LIMITS,
    );
    expect(await call('durable', SCRIPTS.finish, cancel)).toBe(1);
  });
});
