import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
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

/**
 * The behaviour every {@link TaskStore} must have, as a reusable Jest suite (test helper,
 * not part of the public API). Most time-dependent behaviour (TTL, expiry) is left to each
 * store's own spec, since only some stores can run on fake timers; the few cases here that
 * need a TTL to pass use a short one and real time.
 *
 * ```ts
 * describeTaskStoreContract('InMemoryTaskStore', (limits) => new InMemoryTaskStore(limits));
 * ```
 */
export function describeTaskStoreContract(
  name: string,
  makeStore: (limits: TaskStoreLimits) => TaskStore | Promise<TaskStore>,
): void {
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
      expect(lookup).toEqual({
        state: 'found',
        task: expect.objectContaining({
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
        }),
      });
      const slice = await store.read(taskId, 0, 10);
      expect(slice).toEqual({ events: [], firstEventId: 1, lastEventId: 0 });
    });

    it('answers missing for an unknown task and refuses its operations with TaskNotFoundError', async () => {
      expect(await store.lookup('no-such-task')).toEqual({ state: 'missing' });
      await expect(store.append('no-such-task', 'progress', '1')).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(store.read('no-such-task', 0, 10)).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(store.watch('no-such-task', () => undefined)).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(
        store.finish('no-such-task', { status: 'completed', data: '{"status":"completed"}' }),
      ).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    it('finds a task by the hash of its resume key', async () => {
      const { taskId, keyHash } = await createTask();
      expect(await store.findTaskIdByKeyHash(keyHash)).toBe(taskId);
      expect(await store.findTaskIdByKeyHash(hashResumeKey('another key'))).toBeUndefined();
    });

    it('assigns ids 1, 2, 3 ... in call order, even for appends not awaited one by one', async () => {
      const { taskId } = await createTask();
      const appended = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.append(taskId, 'progress', JSON.stringify(i))),
      );
      expect(appended.map((event) => event.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(appended.map((event) => event.data)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
      expect(appended[0]).toMatchObject({ seq: 1, id: '1', type: 'progress', data: '0' });
      const lookup = await store.lookup(taskId);
      expect(lookup.state === 'found' && lookup.task.lastEventId).toBe(50);
    });

    it('reads up to `limit` events after an id, with the bounds of the history', async () => {
      const { taskId } = await createTask();
      for (let i = 1; i <= 4; i++) await store.append(taskId, 'progress', String(i));
      const ids = (events: TaskEvent[]) => events.map((event) => event.seq);
      expect(ids((await store.read(taskId, 0, 10)).events)).toEqual([1, 2, 3, 4]);
      expect(ids((await store.read(taskId, 1, 2)).events)).toEqual([2, 3]);
      expect(ids((await store.read(taskId, 3, 10)).events)).toEqual([4]);
      expect(ids((await store.read(taskId, 4, 10)).events)).toEqual([]);
      expect(ids((await store.read(taskId, 99, 10)).events)).toEqual([]);
      expect(ids((await store.read(taskId, 0, 0)).events)).toEqual([]);
      const slice = await store.read(taskId, 2, 1);
      expect(slice.firstEventId).toBe(1);
      expect(slice.lastEventId).toBe(4);
    });

    it('keeps at most historyLimit events, dropping the oldest, always keeping the newest', async () => {
      const { taskId } = await createTask();
      for (let i = 1; i <= 12; i++) await store.append(taskId, 'progress', String(i));
      const slice = await store.read(taskId, 0, 100);
      expect(slice.lastEventId).toBe(12);
      expect(slice.events.length).toBeLessThanOrEqual(limits.historyLimit);
      expect(slice.events[slice.events.length - 1]!.seq).toBe(12);
      expect(slice.events[0]!.seq).toBe(slice.firstEventId);
      expect(slice.events.map((event) => event.seq)).toEqual(
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
      expect(end).toMatchObject({ seq: 2, type: 'end', data: '{"status":"failed","error":"boom"}' });
      const lookup = await store.lookup(taskId);
      if (lookup.state !== 'found') throw new Error(`expected the task, got ${lookup.state}`);
      expect(lookup.task).toMatchObject({ status: 'failed', error: 'boom', lastEventId: 2, endEventId: 2 });
      expect(lookup.task.expiresAt).toBeGreaterThanOrEqual(before + limits.ttl);
      expect(lookup.task.expiresAt).toBeLessThanOrEqual(Date.now() + limits.ttl);

      expect(
        await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' }),
      ).toBeUndefined();
      const again = await store.lookup(taskId);
      expect(again.state === 'found' && again.task).toMatchObject({ status: 'failed', lastEventId: 2 });
      await expect(store.append(taskId, 'progress', '3')).rejects.toBeInstanceOf(TaskNotRunningError);
      expect((await store.read(taskId, 0, 10)).events.map((event) => event.type)).toEqual([
        'progress',
        'end',
      ]);
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
      expect(seen).toEqual([2, 3, 4]);
      stop();
      const other = await createTask();
      await store.append(other.taskId, 'progress', '1');
      expect(seen).toEqual([2, 3, 4]);
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
      expect(seenA).toEqual(['"a"']);
      expect(seenB).toEqual(['"b"']);
      stopA();
      stopB();
    });

    it('refuses a task beyond maxTasks with TooManyTasksError while all of them run', async () => {
      for (let i = 0; i < limits.maxTasks; i++) await createTask();
      const refused = createTask();
      await expect(refused).rejects.toBeInstanceOf(TooManyTasksError);
      await expect(refused).rejects.toMatchObject({ limit: limits.maxTasks });
    });

    it('uses only TaskNotFoundError or TaskExpiredError for tasks it does not hold', async () => {
      const error = await store.read('never-created', 0, 1).catch((err: unknown) => err);
      expect(error instanceof TaskNotFoundError || error instanceof TaskExpiredError).toBe(true);
    });
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
      await expect(create(store)).rejects.toBeInstanceOf(TooManyTasksError);
      await sleep(400);
      await store.evictExpired(Date.now());
      await expect(create(store)).resolves.toEqual(expect.any(String));
    });

    it('past historyBudgetBytes, sheds the oldest finished task first, keeping its end event', async () => {
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
      expect(await bounds(store, oldest)).toEqual({
        status: 'completed',
        firstEventId: 1,
        ids: [1, 2, 3, 4],
      });
      await store.append(running, 'progress', EVENT_100); // 1 050 bytes in all: over
      expect(await bounds(store, oldest)).toEqual({ status: 'completed', firstEventId: 4, ids: [4] });
      expect(await bounds(store, newer)).toEqual({ status: 'completed', firstEventId: 1, ids: [1, 2, 3, 4] });
      expect(await bounds(store, running)).toEqual({ status: 'running', firstEventId: 1, ids: [1, 2, 3, 4] });
      const end = (await store.read(oldest, 0, 10)).events[0]!;
      expect(end).toMatchObject({ seq: 4, type: 'end', data: END.data });
      // 750 bytes now; the next time over (1 050) sheds the other finished task.
      for (let i = 0; i < 2; i++) await store.append(running, 'progress', EVENT_100);
      expect(await bounds(store, newer)).toMatchObject({ firstEventId: 1 });
      await store.append(running, 'progress', EVENT_100);
      expect(await bounds(store, newer)).toEqual({ status: 'completed', firstEventId: 4, ids: [4] });
      expect(await bounds(store, running)).toEqual({
        status: 'running',
        firstEventId: 1,
        ids: [1, 2, 3, 4, 5, 6, 7],
      });
    });

    it('with only running tasks over the budget, trims the writing task toward its newest event', async () => {
      const store = await open({ historyBudgetBytes: 1_000 });
      const other = await create(store);
      for (let i = 0; i < 5; i++) await store.append(other, 'progress', EVENT_100);
      const writer = await create(store);
      for (let i = 0; i < 8; i++) await store.append(writer, 'progress', EVENT_100);
      expect(await bounds(store, other)).toEqual({
        status: 'running',
        firstEventId: 1,
        ids: [1, 2, 3, 4, 5],
      });
      expect(await bounds(store, writer)).toEqual({
        status: 'running',
        firstEventId: 4,
        ids: [4, 5, 6, 7, 8],
      });
      // One event larger than the whole budget: it stays (the newest always does), alone.
      const big = JSON.stringify('y'.repeat(1_500));
      await store.append(writer, 'progress', big);
      expect(await bounds(store, writer)).toEqual({ status: 'running', firstEventId: 9, ids: [9] });
    });

    it('refuses new tasks with StoreFullError while the budget is still full after shedding', async () => {
      const store = await open({ historyBudgetBytes: 1_000 });
      const full = await create(store);
      for (let i = 0; i < 10; i++) await store.append(full, 'progress', EVENT_100);
      const refused = create(store);
      await expect(refused).rejects.toBeInstanceOf(StoreFullError);
      await expect(refused).rejects.toMatchObject({
        budgetBytes: 1_000,
        retryAfterSeconds: expect.any(Number),
      });
      // Once it ends, its history is the oldest finished one to shed: room again.
      await store.finish(full, END);
      await expect(create(store)).resolves.toEqual(expect.any(String));
      expect(await bounds(store, full)).toMatchObject({ status: 'completed', ids: [11] });
    });

    it('gives the bytes of finished tasks back when they expire', async () => {
      // Each finished task keeps its 25-byte end event whatever the budget: three fill 60.
      const store = await open({ historyBudgetBytes: 60, ttl: 300, maxTasks: 10 });
      for (let i = 0; i < 3; i++) await store.finish(await create(store), END);
      await expect(create(store)).rejects.toBeInstanceOf(StoreFullError);
      await sleep(400);
      await store.evictExpired(Date.now());
      await expect(create(store)).resolves.toEqual(expect.any(String));
      await expect(create(store)).resolves.toEqual(expect.any(String));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(predicate: () => boolean, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns && !predicate(); i++) await new Promise((resolve) => setImmediate(resolve));
}
