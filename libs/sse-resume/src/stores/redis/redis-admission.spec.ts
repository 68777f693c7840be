import { describe, expect, it, jest } from '@jest/globals';
import { TooManyTasksError } from '../../errors';
import { testStoreLimits } from '../../testing/limits';
import { RedisAdmission } from './redis-admission';
import type { RedisConnections } from './redis-connections';
import { RedisKeyspace } from './redis-keyspace';
import type { RedisLeases } from './redis-leases';
import { SCRIPTS, type Script } from './redis-scripts';

/**
 * The Cluster admission's decisions with the Redis calls faked (the real thing runs in
 * redis-task-store.cluster.spec.ts): counts read from every bucket after the create, the
 * create taken back when the sum is over, Retry-After from the soonest expiry.
 */
function setup(counts: [number, string, number][] | Error, buckets = 4) {
  const calls: string[] = [];
  const evalFn = jest.fn(async (script: Script, keys: string[]) => {
    if (script === SCRIPTS.create) return calls.push(`create ${keys[0]}`) && [1, 7];
    if (script === SCRIPTS.undoCreate) return calls.push(`undo ${keys[0]}`) && 1;
    if (counts instanceof Error) throw counts;
    calls.push('count');
    return counts[(evalFn.mock.calls.filter(([s]) => s === SCRIPTS.countHeld).length - 1) % counts.length];
  });
  const connections = { eval: evalFn } as unknown as RedisConnections;
  const own = jest.fn();
  const leases = { own } as unknown as RedisLeases;
  const keyspace = new RedisKeyspace('p:', buckets, true);
  const admission = new RedisAdmission(connections, keyspace, leases, 10_000, {
    ...testStoreLimits(),
    maxTasks: 5,
  });
  const task = { taskId: 't1', keyHash: 'h', createdAt: 1, ownerId: 'me' };
  return { admission, calls, own, task, keyspace };
}

describe('RedisAdmission (Cluster)', () => {
  it('admits when the sum over every bucket is within maxTasks, then owns the task with its fence', async () => {
    const { admission, calls, own, task, keyspace } = setup([[1, '', 1000]]);
    await admission.create(task);
    expect(calls).toEqual([`create ${keyspace.taskKey('t1', 'meta')}`, 'count', 'count', 'count', 'count']);
    expect(own).toHaveBeenCalledWith('t1', '7');
  });

  it('takes the create back and answers 429 with the soonest expiry as Retry-After when over', async () => {
    const { admission, calls, own, task, keyspace } = setup([
      [2, '', 1000],
      [2, '4500', 1000],
      [1, '9000', 1000],
      [1, '', 1000],
    ]);
    const error = await admission.create(task).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TooManyTasksError);
    expect(error).toMatchObject({ retryAfterSeconds: 4 });
    expect(calls.at(-1)).toBe(`undo ${keyspace.taskKey('t1', 'meta')}`);
    expect(own).not.toHaveBeenCalled();
  });

  it('takes the create back when the counts cannot be read (and reports why)', async () => {
    const { admission, calls, task } = setup(new Error('CLUSTERDOWN'));
    await expect(admission.create(task)).rejects.toThrow('CLUSTERDOWN');
    expect(calls.at(-1)).toMatch(/^undo /);
  });

  it('one bucket (one node): the CREATE script alone decides', async () => {
    const { admission, calls } = setup([[99, '', 0]], 1);
    await admission.create({ taskId: 't2', keyHash: 'h', createdAt: 1 });
    expect(calls).toEqual([expect.stringMatching(/^create /)]);
  });
});
