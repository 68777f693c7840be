import type { Logger } from '@nestjs/common';
import { TaskNotFoundError, TooManyStreamsError, TooManySubscribersError } from '../errors';
import type { EventBatch } from './sse-frames';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { TaskHub } from './task-hub';
import type { TaskSubscription } from './task-subscription';
import { FAKE_TIMERS, deferred, nextTurn, turns } from '../testing/async';
import { ObservedTaskStore } from '../testing/observed-store';
import { testStoreLimits } from '../testing/limits';

/** Stands in for a TaskSubscription: records what the hub does to it. */
interface FakeSubscription {
  taskId: string;
  subscriberId: string;
  batches: EventBatch[];
  deliver: jest.Mock<void, [EventBatch]>;
  heartbeat: jest.Mock<void, []>;
  end: jest.Mock<void, []>;
}

function fakeSubscription(taskId: string, subscriberId = 'sub'): FakeSubscription {
  const batches: EventBatch[] = [];
  return {
    taskId,
    subscriberId,
    batches,
    deliver: jest.fn((batch: EventBatch) => void batches.push(batch)),
    heartbeat: jest.fn(),
    end: jest.fn(),
  };
}

const asSubscription = (fake: FakeSubscription) => fake as unknown as TaskSubscription;
const ids = (batch: EventBatch | undefined) => batch?.events.map((event) => event.seq);

describe('TaskHub', () => {
  let memory: InMemoryTaskStore;
  let store: ObservedTaskStore;
  let logger: { error: jest.Mock; warn: jest.Mock };
  let hub: TaskHub;
  let created = 0;

  async function createTask(): Promise<string> {
    const taskId = `task-${++created}`;
    await memory.create({ taskId, keyHash: `hash-${taskId}`, createdAt: Date.now() });
    return taskId;
  }

  function makeHub(
    options: { heartbeatMs?: number; maxSubscribersPerTask?: number; maxStreams?: number } = {},
  ): TaskHub {
    return new TaskHub(
      store,
      {
        heartbeatMs: options.heartbeatMs ?? 10_000,
        maxSubscribersPerTask: options.maxSubscribersPerTask ?? 100,
        maxStreams: options.maxStreams ?? 10_000,
      },
      logger as unknown as Logger,
    );
  }

  beforeEach(() => {
    memory = new InMemoryTaskStore(testStoreLimits({ historyLimit: 1_000 }));
    store = new ObservedTaskStore(memory);
    logger = { error: jest.fn(), warn: jest.fn() };
    hub = makeHub();
  });

  afterEach(() => {
    hub.stop();
    jest.useRealTimers();
  });

  it('watches the store once per task, however many subscribers it has', async () => {
    const a = await createTask();
    const b = await createTask();
    const subs = [
      fakeSubscription(a, '1'),
      fakeSubscription(a, '2'),
      fakeSubscription(a, '3'),
      fakeSubscription(b),
    ];
    await Promise.all(subs.map((sub) => hub.join(asSubscription(sub))));
    expect(store.calls.watch).toBe(2);
    expect(store.activeWatches).toBe(2);
    expect(hub.subscriptionCount).toBe(4);
    expect(hub.subscribersOf(a).map((sub) => sub.subscriberId)).toEqual(['1', '2', '3']);
    expect(hub.subscribersOf('unknown')).toEqual([]);
  });

  it('gathers events emitted together into one batch that every subscriber shares; later ones of the turn at its end', async () => {
    const taskId = await createTask();
    const first = fakeSubscription(taskId, '1');
    const second = fakeSubscription(taskId, '2');
    await hub.join(asSubscription(first));
    await hub.join(asSubscription(second));
    await nextTurn();
    const together = [1, 2, 3].map((i) => memory.append(taskId, 'progress', String(i)));
    expect(first.deliver).not.toHaveBeenCalled(); // not per event: once the emitting code yields
    await Promise.all(together);
    expect(first.batches.map(ids)).toEqual([[1, 2, 3]]); // at once (a microtask), not at the turn's end
    // Awaited one by one in the same turn: the rest of the turn goes out at its end, in one batch.
    for (let i = 4; i <= 6; i++) await memory.append(taskId, 'progress', String(i));
    expect(first.batches.map(ids)).toEqual([[1, 2, 3]]);
    await nextTurn();
    expect(first.batches.map(ids)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(second.batches.map(ids)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(second.batches[0]).toBe(first.batches[0]);
    expect(second.batches[1]).toBe(first.batches[1]);
    // A new turn: its first event goes out at once again.
    await memory.append(taskId, 'progress', '7');
    expect(first.batches.map(ids)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("keeps tasks apart: a subscriber gets only its task's events", async () => {
    const a = await createTask();
    const b = await createTask();
    const onA = fakeSubscription(a);
    const onB = fakeSubscription(b);
    await hub.join(asSubscription(onA));
    await hub.join(asSubscription(onB));
    await memory.append(a, 'progress', '"a"');
    await nextTurn();
    expect(onA.batches.map(ids)).toEqual([[1]]);
    expect(onB.deliver).not.toHaveBeenCalled();
  });

  it('stops watching when the last subscriber leaves, and watches again for the next one', async () => {
    const taskId = await createTask();
    const first = fakeSubscription(taskId, '1');
    const second = fakeSubscription(taskId, '2');
    const leaveFirst = await hub.join(asSubscription(first));
    const leaveSecond = await hub.join(asSubscription(second));
    leaveFirst();
    expect(store.activeWatches).toBe(1);
    await memory.append(taskId, 'progress', '1');
    await nextTurn();
    expect(first.deliver).not.toHaveBeenCalled();
    expect(second.batches.map(ids)).toEqual([[1]]);
    leaveSecond();
    expect(store.activeWatches).toBe(0);
    expect(hub.subscriptionCount).toBe(0);
    expect(hub.subscribersOf(taskId)).toEqual([]);

    const third = fakeSubscription(taskId, '3');
    await hub.join(asSubscription(third));
    expect(store.calls.watch).toBe(2);
    await memory.append(taskId, 'progress', '2');
    await nextTurn();
    expect(third.batches.map(ids)).toEqual([[2]]);
  });

  it('drops the events of a turn if every subscriber left before it was delivered', async () => {
    const taskId = await createTask();
    const sub = fakeSubscription(taskId);
    const leave = await hub.join(asSubscription(sub));
    const appended = memory.append(taskId, 'progress', '1');
    leave();
    await appended;
    await turns(2);
    expect(sub.deliver).not.toHaveBeenCalled();
  });

  it('passes on a failing watch to the joiner and keeps nothing of the group', async () => {
    jest.useFakeTimers(FAKE_TIMERS);
    await expect(hub.join(asSubscription(fakeSubscription('no-such-task')))).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
    expect(hub.subscriptionCount).toBe(0);
    expect(hub.subscribersOf('no-such-task')).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('refuses a subscriber beyond maxSubscribersPerTask with TooManySubscribersError', async () => {
    hub = makeHub({ maxSubscribersPerTask: 2 });
    const taskId = await createTask();
    await hub.join(asSubscription(fakeSubscription(taskId, '1')));
    await hub.join(asSubscription(fakeSubscription(taskId, '2')));
    const error = await hub.join(asSubscription(fakeSubscription(taskId, '3'))).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TooManySubscribersError);
    expect(error).toMatchObject({ taskId, limit: 2 });
    expect(hub.subscribersOf(taskId).map((sub) => sub.subscriberId)).toEqual(['1', '2']);
    // Other tasks have their own limit.
    await expect(hub.join(asSubscription(fakeSubscription(await createTask())))).resolves.toEqual(
      expect.any(Function),
    );
  });

  it('refuses a stream beyond maxStreams (all tasks together) with TooManyStreamsError; room again once one leaves', async () => {
    hub = makeHub({ maxStreams: 2 });
    const [a, b] = [await createTask(), await createTask()];
    const leaveFirst = await hub.join(asSubscription(fakeSubscription(a, '1')));
    await hub.join(asSubscription(fakeSubscription(b, '2')));
    expect(hub.subscriptionCount).toBe(2);
    const error = await hub.join(asSubscription(fakeSubscription(a, '3'))).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TooManyStreamsError);
    expect(error).toMatchObject({ limit: 2, retryAfterSeconds: 2, code: 'TOO_MANY_STREAMS' });
    leaveFirst();
    leaveFirst(); // twice: counted once
    expect(hub.subscriptionCount).toBe(1);
    await expect(hub.join(asSubscription(fakeSubscription(a, '4')))).resolves.toEqual(expect.any(Function));
    hub.stop();
    expect(hub.subscriptionCount).toBe(0);
  });

  it('ends a subscriber whose delivery throws, logs it, and still delivers to the others', async () => {
    const taskId = await createTask();
    const broken = fakeSubscription(taskId, 'broken');
    broken.deliver.mockImplementation(() => {
      throw new Error('bug');
    });
    const fine = fakeSubscription(taskId, 'fine');
    await hub.join(asSubscription(broken));
    await hub.join(asSubscription(fine));
    await memory.append(taskId, 'progress', '1');
    await nextTurn();
    expect(broken.end).toHaveBeenCalledTimes(1);
    expect(fine.batches.map(ids)).toEqual([[1]]);
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({
        message: expect.stringContaining('delivering to a subscriber failed'),
        taskId,
      }),
      expect.stringContaining('bug'),
    );
  });

  it('unwatches a watch that resolves after the hub stopped', async () => {
    const taskId = await createTask();
    const gate = deferred();
    store.watchGate = gate.promise;
    const joining = hub.join(asSubscription(fakeSubscription(taskId)));
    await turns(2);
    hub.stop();
    gate.resolve();
    await joining;
    await turns(2);
    expect(store.calls.watch).toBe(1);
    expect(store.activeWatches).toBe(0);
  });

  it('ends the streams of a task whose live feed broke, so their clients resume from history', async () => {
    const taskId = await createTask();
    const subs = [fakeSubscription(taskId, '1'), fakeSubscription(taskId, '2')];
    for (const sub of subs) await hub.join(asSubscription(sub));
    expect(store.interrupts).toHaveLength(1);
    store.interrupts[0]!();
    for (const sub of subs) expect(sub.end).toHaveBeenCalledTimes(1);
    expect(store.activeWatches).toBe(0);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringContaining('live events were interrupted'), taskId }),
    );
    // A later interruption of the same, closed feed is ignored; a new subscriber gets a new watch.
    store.interrupts[0]!();
    expect(subs[0]!.end).toHaveBeenCalledTimes(1);
    await hub.join(asSubscription(fakeSubscription(taskId, '3')));
    expect(store.calls.watch).toBe(2);
    expect(store.activeWatches).toBe(1);
  });

  it('endAll() ends every stream of every task', async () => {
    const subs = [fakeSubscription(await createTask()), fakeSubscription(await createTask())];
    for (const sub of subs) await hub.join(asSubscription(sub));
    hub.endAll();
    for (const sub of subs) expect(sub.end).toHaveBeenCalledTimes(1);
  });

  describe('heartbeat ticker (fake timers)', () => {
    beforeEach(() => jest.useFakeTimers(FAKE_TIMERS));

    it('asks every subscriber for a heartbeat twice per heartbeatMs', async () => {
      hub = makeHub({ heartbeatMs: 1_000 });
      const subs = [fakeSubscription(await createTask()), fakeSubscription(await createTask())];
      for (const sub of subs) await hub.join(asSubscription(sub));
      expect(jest.getTimerCount()).toBe(1);
      await jest.advanceTimersByTimeAsync(499);
      expect(subs[0]!.heartbeat).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      for (const sub of subs) expect(sub.heartbeat).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(1_000);
      for (const sub of subs) expect(sub.heartbeat).toHaveBeenCalledTimes(3);
    });

    it('runs one ticker while any stream is open and none after the last leaves', async () => {
      hub = makeHub({ heartbeatMs: 1_000 });
      expect(jest.getTimerCount()).toBe(0);
      const leaveA = await hub.join(asSubscription(fakeSubscription(await createTask())));
      const leaveB = await hub.join(asSubscription(fakeSubscription(await createTask())));
      expect(jest.getTimerCount()).toBe(1);
      leaveA();
      expect(jest.getTimerCount()).toBe(1);
      leaveB();
      expect(jest.getTimerCount()).toBe(0);
    });

    it('stop() clears the ticker and every watch', async () => {
      hub = makeHub({ heartbeatMs: 1_000 });
      await hub.join(asSubscription(fakeSubscription(await createTask())));
      await hub.join(asSubscription(fakeSubscription(await createTask())));
      hub.stop();
      expect(jest.getTimerCount()).toBe(0);
      expect(store.activeWatches).toBe(0);
      expect(hub.subscriptionCount).toBe(0);
    });
  });
});
