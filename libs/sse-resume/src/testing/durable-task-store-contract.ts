import assert from 'node:assert/strict';
import { TaskNotFoundError, TaskNotRunningError } from '../errors';
import type { TaskStore } from '../interfaces/task-store.interface';
import { hashResumeKey } from '../access/resume-key';

/** A store with the optional methods of durable tasks and queue streams. */
type DurableStore = TaskStore &
  Required<Pick<TaskStore, 'claim' | 'checkpoint' | 'releaseClaim' | 'appendOnce'>>;

function durableOf(store: TaskStore): DurableStore | undefined {
  const methods = ['claim', 'checkpoint', 'releaseClaim', 'appendOnce'] as const;
  return methods.every((method) => typeof store[method] === 'function') ? (store as DurableStore) : undefined;
}

const END = { status: 'completed' as const, data: '{"status":"completed"}' };

/**
 * The contract of `claim`, `checkpoint`, `releaseClaim` and `appendOnce` (durable tasks,
 * queue streams): cases that {@link describeTaskStoreContract} registers in its main suite,
 * on the store of each case (`storeOf`). A store without these methods passes every case
 * (it supports neither feature). Fencing between instances needs two instances of a shared
 * store: left to that store's own spec.
 */
export function durableStoreContractCases(
  storeOf: () => TaskStore,
  it: (name: string, body: () => Promise<void>) => unknown,
): void {
  let counter = 0;

  /** Runs `body` with the store if it supports durable tasks. */
  const durableIt = (title: string, body: (durable: DurableStore) => Promise<void>) =>
    it(`durable tasks: ${title}`, async () => {
      const durable = durableOf(storeOf());
      if (durable) await body(durable);
    });

  async function createDurable(durable: TaskStore): Promise<string> {
    counter++;
    const taskId = `durable-contract-${counter}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    await durable.create({
      taskId,
      keyHash: hashResumeKey(`key-${taskId}`),
      createdAt: Date.now(),
      durable: true,
    });
    return taskId;
  }

  const recordOf = async (taskId: string) => {
    const lookup = await storeOf().lookup(taskId);
    if (lookup.state !== 'found') throw new Error(`expected task ${taskId}, got ${lookup.state}`);
    return lookup.task;
  };

  durableIt('creates a durable task running, without owner, at attempt 0', async (durable) => {
    const taskId = await createDurable(durable);
    const task = await recordOf(taskId);
    assert.equal(task.status, 'running');
    assert.equal(task.durable, true);
    assert.equal(task.attempt, 0);
    assert.equal(task.ownerId, undefined);
    const plain = `plain-${taskId}`;
    await durable.create({
      taskId: plain,
      keyHash: hashResumeKey(plain),
      createdAt: Date.now(),
      ownerId: 'a',
    });
    const plainTask = await recordOf(plain);
    assert.equal(plainTask.durable, undefined);
    assert.equal(plainTask.attempt, undefined);
  });

  durableIt('claims: attempt 1, 2 ..., the claimer as owner, the last event id', async (durable) => {
    const taskId = await createDurable(durable);
    assert.deepEqual(await durable.claim(taskId, 'worker-a'), { attempt: 1, lastEventId: 0 });
    await durable.append(taskId, 'progress', '1');
    await durable.append(taskId, 'progress', '2');
    assert.deepEqual(await durable.claim(taskId, 'worker-b'), { attempt: 2, lastEventId: 2 });
    const task = await recordOf(taskId);
    assert.equal(task.attempt, 2);
    assert.equal(task.ownerId, 'worker-b');
    assert.equal(task.status, 'running');
  });

  durableIt('refuses a claim of an ended task (TaskNotRunningError) or a missing one', async (durable) => {
    const taskId = await createDurable(durable);
    await durable.finish(taskId, END);
    await assert.rejects(durable.claim(taskId, 'worker-a'), TaskNotRunningError);
    await assert.rejects(durable.claim('no-such-durable-task', 'worker-a'), TaskNotFoundError);
    assert.equal((await recordOf(taskId)).attempt, 0);
  });

  durableIt('stores a checkpoint with its event, in order with appends not awaited', async (durable) => {
    const taskId = await createDurable(durable);
    await durable.claim(taskId, 'worker-a');
    const events = await Promise.all([
      durable.append(taskId, 'progress', '1'),
      durable.checkpoint(taskId, 'progress', '2', '{"step":2}'),
      durable.append(taskId, 'progress', '3'),
      durable.checkpoint(taskId, 'progress', '4', '{"step":4}'),
      durable.append(taskId, 'progress', '5'),
    ]);
    assert.deepEqual(
      events.map((event) => [event.seq, event.data]),
      [1, 2, 3, 4, 5].map((i) => [i, String(i)]),
    );
    const read = await durable.read(taskId, 0, 10);
    assert.deepEqual(
      read.events.map((event) => event.data),
      ['1', '2', '3', '4', '5'],
    );
    durable.releaseClaim(taskId);
    assert.deepEqual(await durable.claim(taskId, 'worker-b'), {
      attempt: 2,
      lastEventId: 5,
      checkpoint: { state: '{"step":4}', eventId: 4 },
    });
  });

  durableIt('refuses a checkpoint of an ended task', async (durable) => {
    const taskId = await createDurable(durable);
    await durable.claim(taskId, 'worker-a');
    await durable.checkpoint(taskId, 'progress', '1', '"first"');
    await durable.finish(taskId, END);
    await assert.rejects(durable.checkpoint(taskId, 'progress', '2', '"second"'), TaskNotRunningError);
    await assert.rejects(durable.claim(taskId, 'worker-b'), TaskNotRunningError);
    const read = await durable.read(taskId, 0, 10);
    assert.deepEqual(
      read.events.map((event) => event.type),
      ['progress', 'end'],
    );
  });

  durableIt('keeps a released task running for the next claim; anyone may finish it', async (durable) => {
    const taskId = await createDurable(durable);
    await durable.claim(taskId, 'worker-a');
    await durable.append(taskId, 'retry', '{"attempt":2}');
    durable.releaseClaim(taskId);
    assert.equal((await recordOf(taskId)).status, 'running');
    assertMatches(await durable.claim(taskId, 'worker-b'), { attempt: 2, lastEventId: 1 });
    durable.releaseClaim(taskId);
    const end = await durable.finish(taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
    assertMatches(end, { seq: 2, type: 'end' });
    assert.equal((await recordOf(taskId)).status, 'cancelled');
  });

  durableIt('appendOnce appends a position once per source, in string order', async (durable) => {
    const taskId = await createDurable(durable);
    const first = await durable.appendOnce(taskId, 'events', '0000000002-0', [
      { type: 'progress', data: '20' },
      { type: 'log', data: '{"line":"x"}' },
    ]);
    assert.deepEqual(
      first.map((event) => [event.seq, event.type, event.data]),
      [
        [1, 'progress', '20'],
        [2, 'log', '{"line":"x"}'],
      ],
    );
    // The same position again, or an earlier one: nothing.
    assert.deepEqual(
      await durable.appendOnce(taskId, 'events', '0000000002-0', [{ type: 'progress', data: '20' }]),
      [],
    );
    assert.deepEqual(
      await durable.appendOnce(taskId, 'events', '0000000001-5', [{ type: 'progress', data: '10' }]),
      [],
    );
    // Another source keeps its own position.
    const log = await durable.appendOnce(taskId, 'logs', '0000000000', [
      { type: 'log', data: '{"line":"a"}' },
    ]);
    assert.deepEqual(
      log.map((event) => event.seq),
      [3],
    );
    const later = await durable.appendOnce(taskId, 'events', '0000000010-0', [
      { type: 'progress', data: '30' },
    ]);
    assert.deepEqual(
      later.map((event) => event.seq),
      [4],
    );
    const read = await durable.read(taskId, 0, 10);
    assert.deepEqual(
      read.events.map((event) => event.data),
      ['20', '{"line":"x"}', '{"line":"a"}', '30'],
    );
  });

  durableIt('appendOnce: concurrent calls with one position append once', async (durable) => {
    const taskId = await createDurable(durable);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        durable.appendOnce(taskId, 'events', '0001', [{ type: 'progress', data: '1' }]),
      ),
    );
    assert.equal(results.flat().length, 1);
    assert.equal((await recordOf(taskId)).lastEventId, 1);
  });

  durableIt('appendOnce refuses an ended task (TaskNotRunningError) and a missing one', async (durable) => {
    const taskId = await createDurable(durable);
    await durable.finish(taskId, END);
    await assert.rejects(
      durable.appendOnce(taskId, 'events', '0001', [{ type: 'progress', data: '1' }]),
      TaskNotRunningError,
    );
    await assert.rejects(
      durable.appendOnce('no-such-durable-task', 'events', '0001', [{ type: 'progress', data: '1' }]),
      TaskNotFoundError,
    );
  });

  durableIt('appendOnce with no events appends and records nothing', async (durable) => {
    const taskId = await createDurable(durable);
    assert.deepEqual(await durable.appendOnce(taskId, 'events', '0005', []), []);
    const appended = await durable.appendOnce(taskId, 'events', '0003', [{ type: 'progress', data: '3' }]);
    assert.deepEqual(
      appended.map((event) => event.seq),
      [1],
    );
  });
}

function assertMatches(actual: unknown, expected: Record<string, unknown>): void {
  assert.ok(typeof actual === 'object' && actual !== null, `expected an object, got ${String(actual)}`);
  const picked = Object.fromEntries(
    Object.keys(expected).map((key) => [key, (actual as Record<string, unknown>)[key]]),
  );
  assert.deepEqual(picked, expected);
}
