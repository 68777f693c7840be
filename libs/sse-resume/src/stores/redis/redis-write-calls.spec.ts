import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { hashResumeKey } from '../../access/resume-key';
import { testStoreLimits } from '../../testing/limits';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../testing/redis';
import { TaskEvent } from '../../task-event';
import { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import { RedisLeases } from './redis-leases';
import { RedisTaskStore } from './redis-task-store';
import { RedisWriteCalls } from './redis-write-calls';

describe('RedisWriteCalls', () => {
  const limits = testStoreLimits();
  const prefix = uniquePrefix('test');
  const keyspace = new RedisKeyspace(prefix);
  const connections = new RedisConnections({ url: TEST_REDIS_URL }, limits);
  const leases = new RedisLeases(connections, keyspace, 10_000);
  const store = new RedisTaskStore(limits, { url: TEST_REDIS_URL, keyPrefix: prefix });
  beforeAll(async () => {
    await Promise.all([connections.connect(5_000), store.init()]);
  });
  afterAll(async () => {
    await Promise.all([connections.close(), store.close()]);
    await deleteKeys(prefix);
  });

  it("passes the owner's last known id (not a non-owner's) and the publish command of the mode", () => {
    const calls = new RedisWriteCalls(connections, keyspace, limits, leases);
    leases.own('t1', '7');
    leases.acknowledged('t1', 41);
    const events = [{ type: 'progress', data: '1', size: 9 }];
    const token = { writer: 'w', write: 1 };
    // ARGV: fence, limit, bytes, channel, prefix, budget, writer, write, known, publish, after, n, ...
    expect(calls.appendArgs('t1', events, token, '7').slice(8, 12)).toEqual([41, 'PUBLISH', '', 1]);
    expect(calls.appendArgs('t1', events, token, '', 6).slice(8, 11)).toEqual(['', 'PUBLISH', 6]);
    const waiting = new RedisWriteCalls(connections, keyspace, limits, leases, {
      replicas: 1,
      timeoutMs: 10,
      shortfalls: 0,
    });
    expect(waiting.appendArgs('t1', events, token, '7')[9]).toBe('');
    leases.release('t1');
  });

  it('appends by the script SHA-1, reads history back as entries, and announces only when it waited', async () => {
    const calls = new RedisWriteCalls(connections, keyspace, limits, leases);
    const taskId = 'calls-1';
    await store.create({ taskId, keyHash: hashResumeKey(taskId), createdAt: Date.now() });
    const args = calls.appendArgs(
      taskId,
      [
        { type: 'progress', data: '"a"', size: 11 },
        { type: 'progress', data: '"b"', size: 11 },
      ],
      { writer: 'w', write: 1 },
      '',
    );
    expect(await calls.append(taskId, args, true)).toBe(1);
    expect(await calls.readHistory(taskId, 1, 2)).toEqual([
      { seq: 1, type: 'progress', data: '"a"' },
      { seq: 2, type: 'progress', data: '"b"' },
    ]);
    const publish = jest.spyOn(connections, 'publish');
    calls.announce(taskId, [new TaskEvent(1, 'progress', '"a"')]);
    expect(publish).not.toHaveBeenCalled();
    const waiting = new RedisWriteCalls(connections, keyspace, limits, leases, {
      replicas: 1,
      timeoutMs: 10,
      shortfalls: 0,
    });
    waiting.announce(taskId, [new TaskEvent(1, 'progress', '"a"'), new TaskEvent(2, 'progress', '"b"')]);
    waiting.announceEnd(taskId, new TaskEvent(3, 'end', '{}'), 'completed');
    expect(publish.mock.calls).toEqual([
      [keyspace.liveChannel(taskId), '1\nprogress\n"a"\n2\nprogress\n"b"'],
      [keyspace.liveChannel(taskId), '3\nend\n{}'],
      [keyspace.of(taskId).controlChannel, `ended\n${taskId}\ncompleted`],
    ]);
    publish.mockRestore();
  });

  it('refuses a call that names a write which is not the last one applied (IN_ORDER), and applies nothing of it', async () => {
    const calls = new RedisWriteCalls(connections, keyspace, limits, leases);
    const taskId = 'calls-order';
    await store.create({ taskId, keyHash: hashResumeKey(taskId), createdAt: Date.now() });
    const event = (data: string) => [{ type: 'progress', data, size: 9 + data.length }];
    const token = (write: number) => ({ writer: 'w', write });
    // The first write names none; the second follows it.
    expect(await calls.append(taskId, calls.appendArgs(taskId, event('1'), token(1), ''), true)).toBe(1);
    expect(await calls.append(taskId, calls.appendArgs(taskId, event('2'), token(2), '', 1), false)).toBe(2);
    // Write 4 follows write 3, which never arrived: refused.
    await expect(
      calls.append(taskId, calls.appendArgs(taskId, event('4'), token(4), '', 3), false),
    ).rejects.toThrow('SSE_OUT_OF_ORDER');
    // A write naming one that is not this writer's last (2) is refused too.
    await expect(
      calls.append(taskId, calls.appendArgs(taskId, event('3'), token(3), '', 1), false),
    ).rejects.toThrow('SSE_OUT_OF_ORDER');
    expect((await calls.readHistory(taskId, 1, 10)).map((e) => e.data)).toEqual(['1', '2']);
    // A retry of the last applied write still answers its id (REPLAYED_WRITE comes first).
    expect(await calls.append(taskId, calls.appendArgs(taskId, event('2'), token(2), '', 1), false)).toBe(2);
  });
});
