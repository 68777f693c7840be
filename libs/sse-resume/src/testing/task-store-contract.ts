import assert from 'node:assert/strict';
import {
  StoreFullError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../errors';
import type { TaskStore, TaskStoreLimits } from '../interfaces/task-store.interface';
import { hashResumeKey } from '../access/resume-key';
import type { TaskEvent } from '../task-event';
import { durableStoreContractCases } from './durable-task-store-contract';

/**
 * The test runner's functions the suite registers its cases with. Jest, Vitest, Mocha and
 * `node:test` all provide them under these names; the suite calls nothing else of the
 * runner and asserts with `node:assert/strict`.
 */
export interface TestRunnerFunctions {
  describe: (name: string, body: () => void) => unknown;
  it: (name: string, body: () => Promise<void>) => unknown;
  beforeEach: (hook: () => Promise<void>) => unknown;
  afterEach: (hook: () => Promise<void>) => unknown;
}

export interface TaskStoreContractOptions extends TestRunnerFunctions {
  /** A fresh, ready store with these limits; the suite closes every store it makes. */
  makeStore: (limits: TaskStoreLimits) => TaskStore | Promise<TaskStore>;
  /**
   * `partitioned`: the store splits `historyBudgetBytes` over partitions that shed on their
   * own (the Redis store on a Cluster, one share per bucket), so the cases about which
   * task's history is shed first across tasks are left to the store's own spec. Default
   * `shared`: one budget over all tasks.
   */
  historyBudget?: 'shared' | 'partitioned';
}

/**
 * The behaviour every {@link TaskStore} must have, as a suite for any test runner. Most
 * time-dependent behaviour (TTL, expiry) is left to each store's own spec, since only some
 * stores can run on fake timers; the few cases here that need a TTL use a short one and
 * real time (allow a few seconds per case).
 *
 * ```ts
 * import { afterEach, beforeEach, describe, it } from 'node:test'; // or '@jest/globals', 'vitest'
 * describeTaskStoreContract('MyStore', {
 *   makeStore: (limits) => new MyStore(limits),
 *   describe, it, beforeEach, afterEach,
 * });
 * ```
 */
export function describeTaskStoreContract(name: string, options: TaskStoreContractOptions): void {
  const { describe, it, beforeEach, afterEach } = options;
  const { makeStore } = options;
  const limits: TaskStoreLimits = {
    ttl: 60_000,
    expiredRetentionMs: 60_000,
    historyLimit: 5,
    historyBytes: 1_000_000,
    historyBudgetBytes: 1 << 30,
    maxTasks: 3,
  };
  let counter = 0;

  describe(`${name}: TaskStore contract`, () => {
    let store: TaskStore;

    beforeEach(async () => {
      store = await makeStore(limits);
    });

    afterEach(async () => {
      await store.close();
    });

    async function createTask(): Promise<{ taskId: string; keyHash: string; createdAt: number }> {
      counter++;
      const task = {
        taskId: `contract-${counter}-${Date.now()}`,
        keyHash: hashResumeKey(`key-${counter}-${Math.random()}`),
        createdAt: Date.now(),
      };
      await store.create({ ...task, ownerId: 'owner-a' });
      return task;
    }

    it('creates a running task with empty history', async () => {
      const { taskId, keyHash, createdAt } = await createTask();
      const lookup = await store.lookup(taskId);
      assert.equal(lookup.state, 'found');
      assertMatches(lookup.task, {
        taskId,
        keyHash,
        status: 'running',
        createdAt,
        updatedAt: createdAt,
        expiresAt: null,
        lastEventId: 0,
        firstEventId: 1,
        endEventId: null,
        ownerId: 'owner-a',
      });
      const slice = await store.read(taskId, 0, 10);
      assertMatches(slice, { events: [], firstEventId: 1, lastEventId: 0 });
    });

    it('answers missing for an unknown task and refuses its operations with TaskNotFoundError', async () => {
      assertMatches(await store.lookup('no-such-task'), { state: 'missing' });
      await assert.rejects(store.append('no-such-task', 'progress', '1'), TaskNotFoundError);
      await assert.rejects(store.read('no-such-task', 0, 10), TaskNotFoundError);
      await assert.rejects(
        store.watch('no-such-task', () => undefined),
        TaskNotFoundError,
      );
      await assert.rejects(
        store.finish('no-such-task', { status: 'completed', data: '{"status":"completed"}' }),
        TaskNotFoundError,
      );
    });

    it('finds a task by the hash of its resume key', async () => {
      const { taskId, keyHash } = await createTask();
      assert.equal(await store.findTaskIdByKeyHash(keyHash), taskId);
      assert.equal(await store.findTaskIdByKeyHash(hashResumeKey('another key')), undefined);
    });

    it('assigns ids 1, 2, 3 ... in call order, even for appends not awaited one by one', async () => {
      const { taskId } = await createTask();
      const appended = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.append(taskId, 'progress', JSON.stringify(i))),
      );
      assert.deepEqual(
        appended.map((event) => event.seq),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        appended.map((event) => event.data),
        Array.from({ length: 50 }, (_, i) => String(i)),
      );
      assertMatches(appended[0], { seq: 1, id: '1', type: 'progress', data: '0' });
      const lookup = await store.lookup(taskId);
      assert.equal(lookup.state === 'found' && lookup.task.lastEventId, 50);
    });

    it('reads up to `limit` events after an id, with the bounds of the history', async () => {
      const { taskId } = await createTask();
      for (let i = 1; i <= 4; i++) await store.append(taskId, 'progress', String(i));
      const ids = (events: TaskEvent[]) => events.map((event) => event.seq);
      assert.deepEqual(ids((await store.read(taskId, 0, 10)).events), [1, 2, 3, 4]);
      assert.deepEqual(ids((await store.read(taskId, 1, 2)).events), [2, 3]);
      assert.deepEqual(ids((await store.read(taskId, 3, 10)).events), [4]);
      assert.deepEqual(ids((await store.read(taskId, 4, 10)).events), []);
      assert.deepEqual(ids((await store.read(taskId, 99, 10)).events), []);
      assert.deepEqual(ids((await store.read(taskId, 0, 0)).events), []);
      const slice = await store.read(taskId, 2, 1);
      assert.equal(slice.firstEventId, 1);
      assert.equal(slice.lastEventId, 4);
    });

    it('keeps at most historyLimit events, dropping the oldest, always keeping the newest', async () => {
      const { taskId } = await createTask();
      for (let i = 1; i <= 12; i++) await store.append(taskId, 'progress', String(i));
      const slice = await store.read(taskId, 0, 100);
      assert.equal(slice.lastEventId, 12);
      assert.ok(
        slice.events.length <= limits.historyLimit,
        `${slice.events.length} events kept, historyLimit ${limits.historyLimit}`,
      );
      assert.equal(slice.events[slice.events.length - 1]!.seq, 12);
      assert.equal(slice.events[0]!.seq, slice.firstEventId);
      assert.deepEqual(
        slice.events.map((event) => event.seq),
        Array.from({ length: slice.events.length }, (_, i) => slice.firstEventId + i),
      );
    });

    it('finishes a task once: status, error, TTL start and the end event', async () => {
      const { taskId } = await createTask();
      await store.append(taskId, 'progress', '1');
      const before = Date.now();
      const end = await store.finish(taskId, {
        status: 'failed',
        data: '{"status":"failed","error":"boom"}',
        error: 'boom',
      });
      assertMatches(end, { seq: 2, type: 'end', data: '{"status":"failed","error":"boom"}' });
      const lookup = await store.lookup(taskId);
      if (lookup.state !== 'found') throw new Error(`expected the task, got ${lookup.state}`);
      assertMatches(lookup.task, { status: 'failed', error: 'boom', lastEventId: 2, endEventId: 2 });
      const { expiresAt } = lookup.task;
      assert.ok(
        expiresAt !== null && expiresAt >= before + limits.ttl && expiresAt <= Date.now() + limits.ttl,
        `expiresAt ${expiresAt} is not finish time + ttl`,
      );

      assert.equal(
        await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' }),
        undefined,
      );
      const again = await store.lookup(taskId);
      assert.equal(again.state, 'found');
      assertMatches(again.state === 'found' && again.task, { status: 'failed', lastEventId: 2 });
      await assert.rejects(store.append(taskId, 'progress', '3'), TaskNotRunningError);
      assert.deepEqual(
        (await store.read(taskId, 0, 10)).events.map((event) => event.type),
        ['progress', 'end'],
      );
    });

    it('calls watchers with every later event in order, until they stop', async () => {
      const { taskId } = await createTask();
      await store.append(taskId, 'progress', '"before"');
      const seen: number[] = [];
      const stop = await store.watch(taskId, (event) => seen.push(event.seq));
      await store.append(taskId, 'progress', '2');
      await store.append(taskId, 'custom', '3');
      await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      await waitUntil(() => seen.length >= 3);
      assert.deepEqual(seen, [2, 3, 4]);
      stop();
      const other = await createTask();
      await store.append(other.taskId, 'progress', '1');
      assert.deepEqual(seen, [2, 3, 4]);
    });

    it('keeps watchers of different tasks apart', async () => {
      const a = await createTask();
      const b = await createTask();
      const seenA: string[] = [];
      const seenB: string[] = [];
      const stopA = await store.watch(a.taskId, (event) => seenA.push(event.data));
      const stopB = await store.watch(b.taskId, (event) => seenB.push(event.data));
      await store.append(a.taskId, 'progress', '"a"');
      await store.append(b.taskId, 'progress', '"b"');
      await waitUntil(() => seenA.length >= 1 && seenB.length >= 1);
      assert.deepEqual(seenA, ['"a"']);
      assert.deepEqual(seenB, ['"b"']);
      stopA();
      stopB();
    });

    it('refuses a task beyond maxTasks with TooManyTasksError while all of them run', async () => {
      for (let i = 0; i < limits.maxTasks; i++) await createTask();
      const refused = createTask();
      await assert.rejects(refused, TooManyTasksError);
      await assert.rejects(refused, { limit: limits.maxTasks });
    });

    it('uses only TaskNotFoundError or TaskExpiredError for tasks it does not hold', async () => {
      const error = await store.read('never-created', 0, 1).catch((err: unknown) => err);
      assert.ok(
        error instanceof TaskNotFoundError || error instanceof TaskExpiredError,
        `expected TaskNotFoundError or TaskExpiredError, got ${String(error)}`,
      );
    });

    durableStoreContractCases(() => store, it);
  });

  describe(`${name}: TaskStore contract, limits across tasks`, () => {
    const opened: TaskStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    async function open(overrides: Partial<TaskStoreLimits>): Promise<TaskStore> {
      const store = await makeStore({ ...limits, historyLimit: 100, ...overrides });
      opened.push(store);
      return store;
    }

    async function create(store: TaskStore): Promise<string> {
      counter++;
      const taskId = `contract-${counter}-${Date.now()}`;
      await store.create({
        taskId,
        keyHash: hashResumeKey(`key-${taskId}`),
        createdAt: Date.now(),
        ownerId: 'a',
      });
      return taskId;
    }

    /** `progress` + 92 bytes of JSON: 100 bytes of history. */
    const EVENT_100 = JSON.stringify('x'.repeat(90));
    /** `end` + this: 25 bytes. */
    const END = { status: 'completed' as const, data: '{"status":"completed"}' };
    const bounds = async (store: TaskStore, taskId: string) => {
      const lookup = await store.lookup(taskId);
      if (lookup.state !== 'found') throw new Error(`expected task ${taskId}, got ${lookup.state}`);
      const slice = await store.read(taskId, 0, 1_000);
      return {
        status: lookup.task.status,
        firstEventId: lookup.task.firstEventId,
        ids: slice.events.map((event) => event.seq),
      };
    };

    it('counts finished tasks toward maxTasks until their TTL has passed', async () => {
      const store = await open({ maxTasks: 2, ttl: 300 });
      const finished = await create(store);
      await store.finish(finished, END);
      await create(store);
      await assert.rejects(create(store), TooManyTasksError);
      await sleep(400);
      await store.evictExpired(Date.now());
      assert.equal(typeof (await create(store)), 'string');
    });

    const budgetIt =
      options.historyBudget === 'partitioned' ? (_name: string, _body: () => Promise<void>) => undefined : it;

    budgetIt(
      'past historyBudgetBytes, sheds the oldest finished task first, keeping its end event',
      async () => {
        const store = await open({ historyBudgetBytes: 1_000 });
        const oldest = await create(store);
        const newer = await create(store);
        for (const taskId of [oldest, newer]) {
          for (let i = 0; i < 3; i++) await store.append(taskId, 'progress', EVENT_100);
          await store.finish(taskId, END); // 325 bytes each
          await sleep(5); // distinct end times
        }
        const running = await create(store);
        for (let i = 0; i < 3; i++) await store.append(running, 'progress', EVENT_100);
        assert.deepEqual(await bounds(store, oldest), {
          status: 'completed',
          firstEventId: 1,
          ids: [1, 2, 3, 4],
        });
        await store.append(running, 'progress', EVENT_100); // 1 050 bytes in all: over
        assert.deepEqual(await bounds(store, oldest), { status: 'completed', firstEventId: 4, ids: [4] });
        assert.deepEqual(await bounds(store, newer), {
          status: 'completed',
          firstEventId: 1,
          ids: [1, 2, 3, 4],
        });
        assert.deepEqual(await bounds(store, running), {
          status: 'running',
          firstEventId: 1,
          ids: [1, 2, 3, 4],
        });
        const end = (await store.read(oldest, 0, 10)).events[0]!;
        assertMatches(end, { seq: 4, type: 'end', data: END.data });
        // 750 bytes now; the next time over (1 050) sheds the other finished task.
        for (let i = 0; i < 2; i++) await store.append(running, 'progress', EVENT_100);
        assertMatches(await bounds(store, newer), { firstEventId: 1 });
        await store.append(running, 'progress', EVENT_100);
        assert.deepEqual(await bounds(store, newer), { status: 'completed', firstEventId: 4, ids: [4] });
        assert.deepEqual(await bounds(store, running), {
          status: 'running',
          firstEventId: 1,
          ids: [1, 2, 3, 4, 5, 6, 7],
        });
      },
    );

    budgetIt(
      'with only running tasks over the budget, trims the writing task toward its newest event',
      async () => {
        const store = await open({ historyBudgetBytes: 1_000 });
        const other = await create(store);
        for (let i = 0; i < 5; i++) await store.append(other, 'progress', EVENT_100);
        const writer = await create(store);
        for (let i = 0; i < 8; i++) await store.append(writer, 'progress', EVENT_100);
        assert.deepEqual(await bounds(store, other), {
          status: 'running',
          firstEventId: 1,
          ids: [1, 2, 3, 4, 5],
        });
        assert.deepEqual(await bounds(store, writer), {
          status: 'running',
          firstEventId: 4,
          ids: [4, 5, 6, 7, 8],
        });
        // One event larger than the whole budget: it stays (the newest always does), alone.
        const big = JSON.stringify('y'.repeat(1_500));
        await store.append(writer, 'progress', big);
        assert.deepEqual(await bounds(store, writer), { status: 'running', firstEventId: 9, ids: [9] });
      },
    );

    budgetIt(
      'refuses new tasks with StoreFullError while the budget is still full after shedding',
      async () => {
        const store = await open({ historyBudgetBytes: 1_000 });
        const full = await create(store);
        for (let i = 0; i < 10; i++) await store.append(full, 'progress', EVENT_100);
        const refused = create(store);
        await assert.rejects(refused, StoreFullError);
        await assert.rejects(
          refused,
          (error) =>
            error instanceof StoreFullError &&
            error.budgetBytes === 1_000 &&
            typeof error.retryAfterSeconds === 'number',
        );
        // Once it ends, its history is the oldest finished one to shed: room again.
        await store.finish(full, END);
        assert.equal(typeof (await create(store)), 'string');
        assertMatches(await bounds(store, full), { status: 'completed', ids: [11] });
      },
    );

    budgetIt('gives the bytes of finished tasks back when they expire', async () => {
      // Each finished task keeps its 25-byte end event whatever the budget: three fill 60.
      const store = await open({ historyBudgetBytes: 60, ttl: 300, maxTasks: 10 });
      for (let i = 0; i < 3; i++) await store.finish(await create(store), END);
      await assert.rejects(create(store), StoreFullError);
      await sleep(400);
      await store.evictExpired(Date.now());
      assert.equal(typeof (await create(store)), 'string');
      assert.equal(typeof (await create(store)), 'string');
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(predicate: () => boolean, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns && !predicate(); i++) await new Promise((resolve) => setImmediate(resolve));
}

/** `actual` has (at least) the properties of `expected`, each deeply equal. */
function assertMatches(actual: unknown, expected: Record<string, unknown>): void {
  assert.ok(typeof actual === 'object' && actual !== null, `expected an object, got ${String(actual)}`);
  const picked = Object.fromEntries(
    Object.keys(expected).map((key) => [key, (actual as Record<string, unknown>)[key]]),
  );
  assert.deepEqual(picked, expected);
}
