import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TaskNotRunningError } from '../../errors';
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

  async function createOwnedTask(taskId: string): Promise<void> {
    const call = createCall(
      { taskId, keyHash: `h-${taskId}`, createdAt: Date.now(), ownerId: 'me' },
      10_000,
      keys,
      LIMITS,
    );
    const [, fence] = (await connections.eval(SCRIPTS.create, call.keys, call.args)) as [number, number];
    leases.own(taskId, String(fence));
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
});
