import { Logger } from '@nestjs/common';
import {
  StoreFullError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { hashResumeKey } from '../../access/resume-key';
import { lastValueFrom, toArray } from 'rxjs';
import { Random, seedFromEnv } from '../../testing/prng';
import { createService, shutDown } from '../../testing/service';
import { describeMessages } from '../../testing/sse';
import { describeTaskStoreContract } from '../../testing/task-store-contract';
import { InMemoryTaskStore } from './in-memory-task-store';

describeTaskStoreContract('InMemoryTaskStore', {
  makeStore: (limits) => new InMemoryTaskStore(limits),
  describe,
  it,
  beforeEach,
  afterEach,
});

const LIMITS: TaskStoreLimits = {
  ttl: 10_000,
  expiredRetentionMs: 5_000,
  historyLimit: 100,
  historyBytes: 1_000_000,
  historyBudgetBytes: 1 << 30,
  maxTasks: 100,
};

function makeStore(overrides: Partial<TaskStoreLimits> = {}): InMemoryTaskStore {
  return new InMemoryTaskStore({ ...LIMITS, ...overrides });
}

let created = 0;
async function createTask(store: InMemoryTaskStore, taskId = `t${++created}`): Promise<string> {
  await store.create({ taskId, keyHash: hashResumeKey(`key of ${taskId}`), createdAt: Date.now() });
  return taskId;
}

const END = { status: 'completed' as const, data: '{"status":"completed"}' };
const seqs = (events: { seq: number }[]) => events.map((event) => event.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('InMemoryTaskStore', () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('appendNow stores at once and returns the event; it throws what append rejects with', async () => {
    const store = makeStore();
    const taskId = await createTask(store);
    const seen: number[] = [];
    await store.watch(taskId, (event) => seen.push(event.seq));
    const event = store.appendNow(taskId, 'log', '"now"');
    expect([event.seq, event.type, event.data, seen]).toEqual([1, 'log', '"now"', [1]]);
    expect((await store.read(taskId, 0, 10)).events.map((e) => e.data)).toEqual(['"now"']);
    expect(() => store.appendNow('missing', 'progress', '1')).toThrow(TaskNotFoundError);
    await store.finish(taskId, { status: 'completed', data: '{}' });
    expect(() => store.appendNow(taskId, 'progress', '1')).toThrow(TaskNotRunningError);
  });

  describe('history trimming', () => {
    it('keeps a long history through many trims (ring reuse), in order', async () => {
      const store = makeStore({ historyLimit: 50 });
      const taskId = await createTask(store);
      for (let i = 1; i <= 5_000; i++) store.appendNow(taskId, i % 7 === 0 ? 'log' : 'progress', String(i));
      const slice = await store.read(taskId, 4_960, 100);
      expect(seqs(slice.events)).toEqual(Array.from({ length: 40 }, (_, i) => 4_961 + i));
      expect(slice.events.map((e) => [e.type, Number(e.data)])).toEqual(
        Array.from({ length: 40 }, (_, i) => [(4_961 + i) % 7 === 0 ? 'log' : 'progress', 4_961 + i]),
      );
      expect(slice).toMatchObject({ firstEventId: 4_951, lastEventId: 5_000 });
    });

    it('keeps exactly the newest historyLimit events', async () => {
      const store = makeStore({ historyLimit: 3 });
      const taskId = await createTask(store);
      for (let i = 1; i <= 10; i++) await store.append(taskId, 'progress', String(i));
      const slice = await store.read(taskId, 0, 100);
      expect(seqs(slice.events)).toEqual([8, 9, 10]);
      expect(slice).toMatchObject({ firstEventId: 8, lastEventId: 10 });
      expect(store.stats()).toMatchObject({ events: 3, bytes: 3 * ('progress'.length + 1) + 1 });
    });

    it('keeps at most historyBytes of event name + UTF-8 data', async () => {
      // '"xxxxxxxxxx"' is 12 bytes, + 'progress' = 20 per event: 50 bytes hold two.
      const store = makeStore({ historyBytes: 50 });
      const taskId = await createTask(store);
      for (let i = 1; i <= 5; i++) await store.append(taskId, 'progress', JSON.stringify('x'.repeat(10)));
      const slice = await store.read(taskId, 0, 100);
      expect(seqs(slice.events)).toEqual([4, 5]);
      expect(store.stats()).toMatchObject({ events: 2, bytes: 40 });
    });

    it('counts multi-byte characters by their UTF-8 size', async () => {
      const store = makeStore({ historyBytes: 40 });
      const taskId = await createTask(store);
      // '"€€€€"' is 6 characters but 14 bytes; + 'progress' = 22 bytes: only one fits in 40.
      await store.append(taskId, 'progress', JSON.stringify('€€€€'));
      await store.append(taskId, 'progress', JSON.stringify('€€€€'));
      expect(store.stats()).toMatchObject({ events: 1, bytes: 22 });
      expect((await store.read(taskId, 0, 10)).firstEventId).toBe(2);
    });

    it('always keeps the newest event, even when it alone is larger than historyBytes', async () => {
      const store = makeStore({ historyBytes: 10 });
      const taskId = await createTask(store);
      await store.append(taskId, 'progress', '1');
      await store.append(taskId, 'progress', JSON.stringify('y'.repeat(100)));
      const slice = await store.read(taskId, 0, 10);
      expect(seqs(slice.events)).toEqual([2]);
      expect(slice).toMatchObject({ firstEventId: 2, lastEventId: 2 });
    });

    it('trims the end event too, like any other, when history is full', async () => {
      const store = makeStore({ historyLimit: 2 });
      const taskId = await createTask(store);
      for (let i = 1; i <= 3; i++) await store.append(taskId, 'progress', String(i));
      await store.finish(taskId, END);
      const slice = await store.read(taskId, 0, 10);
      expect(slice.events.map((event) => `${event.type}:${event.seq}`)).toEqual(['progress:3', 'end:4']);
    });

    it('reads correctly across internal compactions of a long history', async () => {
      const store = makeStore({ historyLimit: 10 });
      const taskId = await createTask(store);
      for (let i = 1; i <= 5_000; i++) {
        await store.append(taskId, 'progress', String(i));
        if (i % 97 === 0 || i === 1_025 || i === 2_049) {
          const all = await store.read(taskId, 0, 100);
          expect(seqs(all.events)).toEqual(range(Math.max(1, i - 9), i));
          expect(all.events.map((event) => event.data)).toEqual(range(Math.max(1, i - 9), i).map(String));
          expect(seqs((await store.read(taskId, i - 4, 2)).events)).toEqual([i - 3, i - 2]);
        }
      }
      expect(store.stats()).toMatchObject({ events: 10 });
    });

    it('answers an empty slice for a negative limit', async () => {
      const store = makeStore();
      const taskId = await createTask(store);
      await store.append(taskId, 'progress', '1');
      expect((await store.read(taskId, 0, -5)).events).toEqual([]);
    });
  });

  describe('records', () => {
    it('hands out copies: changing a looked-up record changes nothing', async () => {
      const store = makeStore();
      const taskId = await createTask(store);
      const first = await store.lookup(taskId);
      if (first.state !== 'found') throw new Error('expected found');
      first.task.status = 'cancelled';
      first.task.lastEventId = 99;
      const second = await store.lookup(taskId);
      expect(second.state === 'found' && second.task).toMatchObject({ status: 'running', lastEventId: 0 });
    });

    it('refuses a duplicate task id', async () => {
      const store = makeStore();
      await createTask(store, 'same');
      await expect(createTask(store, 'same')).rejects.toThrow('task same exists already');
    });

    it('updates updatedAt on every event and sets expiresAt = end + ttl', async () => {
      jest.useFakeTimers({ now: 1_000_000 });
      const store = makeStore();
      const taskId = await createTask(store);
      jest.advanceTimersByTime(100);
      await store.append(taskId, 'progress', '1');
      let lookup = await store.lookup(taskId);
      expect(lookup.state === 'found' && lookup.task).toMatchObject({
        createdAt: 1_000_000,
        updatedAt: 1_000_100,
      });
      jest.advanceTimersByTime(50);
      await store.finish(taskId, { status: 'cancelled', data: '{"status":"cancelled"}', error: 'stop' });
      lookup = await store.lookup(taskId);
      expect(lookup.state === 'found' && lookup.task).toMatchObject({
        status: 'cancelled',
        error: 'stop',
        updatedAt: 1_000_150,
        expiresAt: 1_000_150 + LIMITS.ttl,
        endEventId: 2,
      });
    });

    it('refuses appends after the end with TaskNotRunningError carrying the status', async () => {
      const store = makeStore();
      const taskId = await createTask(store);
      await store.finish(taskId, { status: 'failed', data: '{"status":"failed"}', error: 'x' });
      await expect(store.append(taskId, 'progress', '1')).rejects.toMatchObject({
        constructor: TaskNotRunningError,
        taskStatus: 'failed',
      });
    });
  });

  describe('watch', () => {
    it('keeps calling the other watchers when one throws, and logs it', async () => {
      const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      const store = makeStore();
      const taskId = await createTask(store);
      const seen: number[] = [];
      await store.watch(taskId, () => {
        throw new Error('watcher bug');
      });
      await store.watch(taskId, (event) => seen.push(event.seq));
      const event = await store.append(taskId, 'progress', '1');
      expect(event.seq).toBe(1);
      expect(seen).toEqual([1]);
      expect(error).toHaveBeenCalledWith(
        expect.objectContaining({ message: 'a task watcher threw', taskId }),
        expect.anything(),
      );
    });

    it('delivers events to watchers synchronously, before append resolves', async () => {
      const store = makeStore();
      const taskId = await createTask(store);
      const seen: number[] = [];
      await store.watch(taskId, (event) => seen.push(event.seq));
      const pending = store.append(taskId, 'progress', '1');
      expect(seen).toEqual([1]);
      await pending;
    });

    it('stops calling a watcher after its stop function, and stopping twice is harmless', async () => {
      const store = makeStore();
      const taskId = await createTask(store);
      const seen: number[] = [];
      const stop = await store.watch(taskId, (event) => seen.push(event.seq));
      await store.append(taskId, 'progress', '1');
      stop();
      stop();
      await store.append(taskId, 'progress', '2');
      expect(seen).toEqual([1]);
    });
  });

  describe('TTL and expiry', () => {
    beforeEach(() => {
      jest.useFakeTimers({ now: 5_000_000 });
    });

    it('keeps a finished task resumable until its TTL, then answers expired and frees its memory', async () => {
      const store = makeStore({ ttl: 10_000, expiredRetentionMs: 5_000 });
      const taskId = await createTask(store);
      const keyHash = hashResumeKey(`key of ${taskId}`);
      for (let i = 0; i < 20; i++) await store.append(taskId, 'progress', JSON.stringify({ i }));
      await store.finish(taskId, END);
      expect(store.stats()).toMatchObject({ tasks: 1, events: 21, tombstones: 0 });
      expect(store.stats().bytes).toBeGreaterThan(0);

      jest.advanceTimersByTime(9_999);
      expect((await store.lookup(taskId)).state).toBe('found');
      expect(seqs((await store.read(taskId, 19, 10)).events)).toEqual([20, 21]);
      expect(await store.findTaskIdByKeyHash(keyHash)).toBe(taskId);
      expect(await store.evictExpired(Date.now())).toBe(0);

      jest.advanceTimersByTime(1);
      expect(await store.evictExpired(Date.now())).toBe(1);
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 1, events: 0, bytes: 0 });
      expect(await store.lookup(taskId)).toEqual({ state: 'expired', taskId, keyHash });
      // Still found by its key while it answers 410, so a resume by key says "expired".
      expect(await store.findTaskIdByKeyHash(keyHash)).toBe(taskId);
      await expect(store.read(taskId, 0, 10)).rejects.toBeInstanceOf(TaskExpiredError);
      await expect(store.append(taskId, 'progress', '1')).rejects.toBeInstanceOf(TaskExpiredError);
      await expect(store.watch(taskId, () => undefined)).rejects.toBeInstanceOf(TaskExpiredError);
      await expect(store.finish(taskId, END)).rejects.toBeInstanceOf(TaskExpiredError);
    });

    it('expires a task on access once its TTL has passed, without waiting for the eviction job', async () => {
      const store = makeStore({ ttl: 1_000 });
      const taskId = await createTask(store);
      await store.finish(taskId, END);
      jest.advanceTimersByTime(1_000);
      expect((await store.lookup(taskId)).state).toBe('expired');
      expect(store.stats()).toMatchObject({ tasks: 0, tombstones: 1, events: 0 });
      // Already expired on access: the job finds nothing left to evict.
      expect(await store.evictExpired(Date.now())).toBe(0);
    });

    it('answers TaskExpiredError until expiredRetentionMs has passed, then not found', async () => {
      const store = makeStore({ ttl: 1_000, expiredRetentionMs: 5_000 });
      const taskId = await createTask(store);
      await store.finish(taskId, END);
      jest.advanceTimersByTime(1_000);
      await store.evictExpired(Date.now());

      jest.advanceTimersByTime(4_999);
      expect((await store.lookup(taskId)).state).toBe('expired');
      await expect(store.read(taskId, 0, 1)).rejects.toBeInstanceOf(TaskExpiredError);

      jest.advanceTimersByTime(1);
      // Forgotten, whether or not the eviction job has run yet.
      expect(await store.lookup(taskId)).toEqual({ state: 'missing' });
      await expect(store.read(taskId, 0, 1)).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(store.append(taskId, 'progress', '1')).rejects.toBeInstanceOf(TaskNotFoundError);

      await store.evictExpired(Date.now());
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 0, events: 0, bytes: 0 });
      await expect(store.read(taskId, 0, 1)).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    it('never evicts a running task', async () => {
      const store = makeStore({ ttl: 1 });
      const taskId = await createTask(store);
      await store.append(taskId, 'progress', '1');
      jest.advanceTimersByTime(24 * 60 * 60 * 1000);
      expect(await store.evictExpired(Date.now())).toBe(0);
      expect((await store.lookup(taskId)).state).toBe('found');
    });

    it('evicts with the time it is given', async () => {
      const store = makeStore({ ttl: 1_000 });
      const taskId = await createTask(store);
      await store.finish(taskId, END);
      expect(await store.evictExpired(Date.now() + 999)).toBe(0);
      expect(await store.evictExpired(Date.now() + 1_000)).toBe(1);
      expect(store.stats().tasks).toBe(0);
    });

    it('makes room for a new task by evicting expired ones first', async () => {
      const store = makeStore({ ttl: 1_000, maxTasks: 2 });
      const finished = await createTask(store);
      await createTask(store);
      await store.finish(finished, END);
      await expect(createTask(store)).rejects.toBeInstanceOf(TooManyTasksError);
      jest.advanceTimersByTime(1_000);
      await expect(createTask(store)).resolves.toEqual(expect.any(String));
      expect(store.stats()).toMatchObject({ tasks: 2, tombstones: 1 });
    });

    it('tells when to retry when full: the soonest expiry, or 5 s while every task runs', async () => {
      const store = makeStore({ ttl: 12_500, maxTasks: 2 });
      const a = await createTask(store);
      await createTask(store);
      await expect(createTask(store)).rejects.toMatchObject({ retryAfterSeconds: 5, limit: 2 });
      await store.finish(a, END);
      jest.advanceTimersByTime(2_000);
      await expect(createTask(store)).rejects.toMatchObject({ retryAfterSeconds: 11 });
    });
  });

  describe('history budget', () => {
    it('a late subscriber of a task whose history was shed gets gap, then end (through the service)', async () => {
      const { service } = createService({ historyBudgetBytes: 1_000 });
      try {
        const run = (events: number) =>
          service.start(async ({ emit }) => {
            for (let i = 0; i < events; i++) await emit('x'.repeat(90)); // 100 bytes each
            return 'done';
          });
        const ended = async (taskId: string) => {
          while ((await service.getTaskInfo(taskId)).status === 'running') await new Promise(setImmediate);
        };
        const shed = await run(3);
        await ended(shed.taskId);
        const other = await run(8); // 300 + 45 + 800 bytes: the finished task's history goes
        await ended(other.taskId);
        const late = await lastValueFrom(
          service.stream(shed.taskId, { resumeKey: shed.resumeKey }).pipe(toArray()),
        );
        expect(describeMessages(late)).toEqual([
          'open:0',
          'gap:3:{"from":1,"to":3}',
          'end:4:{"status":"completed","result":"done"}',
        ]);
      } finally {
        await shutDown(service);
      }
    });

    it('keeps its total exact (what the tasks hold) through a seeded mix of writes, shedding and expiry', async () => {
      jest.useFakeTimers();
      const random = new Random(seedFromEnv());
      const store = makeStore({ historyLimit: 6, historyBytes: 600, historyBudgetBytes: 2_000, ttl: 1_000 });
      const running: string[] = [];
      const all: string[] = [];
      const heldByTasks = async () => {
        let sum = 0;
        for (const taskId of all) {
          if ((await store.lookup(taskId)).state !== 'found') continue;
          for (const event of (await store.read(taskId, 0, 1_000)).events) sum += event.size;
        }
        return sum;
      };
      for (let step = 0; step < 400; step++) {
        const action = random.int(0, 9);
        if (action === 0 || running.length === 0) {
          const created = await createTask(store).catch((err: unknown) => err);
          if (typeof created === 'string') {
            running.push(created);
            all.push(created);
          } else {
            expect(created).toBeInstanceOf(StoreFullError);
          }
        } else if (action === 1) {
          await store.finish(running.splice(random.int(0, running.length - 1), 1)[0]!, END);
        } else if (action === 2) {
          jest.advanceTimersByTime(random.int(0, 400));
          await store.evictExpired(Date.now());
        } else {
          const data = JSON.stringify('é'.repeat(random.int(0, 150)));
          await store.append(random.pick(running), 'progress', data);
        }
        expect(`seed ${random.seed}: ${store.stats().bytes}`).toBe(
          `seed ${random.seed}: ${await heldByTasks()}`,
        );
      }
      jest.advanceTimersByTime(1_000);
      for (const taskId of running) await store.finish(taskId, END);
      jest.advanceTimersByTime(1_000);
      await store.evictExpired(Date.now());
      expect(store.stats()).toMatchObject({ tasks: 0, bytes: 0 });
    });
  });

  it('close() drops every task, record and watcher', async () => {
    const store = makeStore();
    const taskId = await createTask(store);
    const seen: number[] = [];
    await store.watch(taskId, (event) => seen.push(event.seq));
    await store.append(taskId, 'progress', '1');
    const done = await createTask(store);
    await store.finish(done, END);
    await store.close();
    expect(store.stats()).toEqual({ tasks: 0, tombstones: 0, events: 0, bytes: 0 });
    expect(await store.lookup(taskId)).toEqual({ state: 'missing' });
    expect(seen).toEqual([1]);
  });

  it('admits at most maxTasks of concurrent creates while the budget check awaits an eviction', async () => {
    const store = makeStore({ maxTasks: 2, historyBudgetBytes: 1_000, historyBytes: 10_000 });
    await store.create({ taskId: 'a', keyHash: 'ha', createdAt: 1 });
    await store.append('a', 'progress', JSON.stringify('x'.repeat(985)));
    await store.finish('a', { status: 'completed', data: '{}' });
    const results = await Promise.allSettled(
      ['c', 'd', 'e'].map((id) => store.create({ taskId: id, keyHash: `h${id}`, createdAt: 1 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(store.stats().tasks).toBe(2);
  });
});
