import { Logger } from '@nestjs/common';
import { TaskAccessChecker } from '../access/task-access-checker';
import { StoreUnavailableError, TaskAbortedError, TaskNotRunningError, TaskOverloadedError } from '../errors';
import type { TaskContext } from '../interfaces/task-context.interface';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { deferred, waitFor } from '../testing/async';
import { TaskRunner } from './task-runner';

describe('TaskRunner', () => {
  const logger = new Logger('test');
  let store: InMemoryTaskStore;
  let runner: TaskRunner;

  function setUp(overrides: Parameters<typeof resolveOptions>[0] = {}): void {
    const options = resolveOptions(overrides);
    store = new InMemoryTaskStore(storeLimits(options));
    const noSubscribers = { subscriberCount: () => 0, subscriptionCount: 0, subscribersOf: () => [] };
    runner = new TaskRunner(store, options, new TaskAccessChecker(store, options, noSubscribers), logger);
  }

  beforeEach(() => {
    setUp();
    jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  });

  async function statusOf(taskId: string): Promise<string | undefined> {
    const lookup = await store.lookup(taskId);
    return lookup.state === 'found' ? lookup.task.status : lookup.state;
  }

  it('creates the task as owned by this instance and runs it detached', async () => {
    const release = deferred();
    const { taskId } = await runner.start(async (ctx) => {
      await ctx.emit('one');
      await release.promise;
      return 'done';
    }, {});
    const lookup = await store.lookup(taskId);
    expect(lookup).toMatchObject({ state: 'found', task: { ownerId: runner.instanceId, status: 'running' } });
    expect(runner.size).toBe(1);
    release.resolve();
    await waitFor(() => runner.size === 0, 'the task to end');
    expect(await statusOf(taskId)).toBe('completed');
  });

  it('ends a task once: a later end is 409, a later emit throws', async () => {
    let context: TaskContext | undefined;
    const { taskId } = await runner.start(async (ctx) => {
      context = ctx;
      await new Promise(() => undefined);
    }, {});
    await waitFor(() => context !== undefined, 'the task to run');
    await runner.end(
      taskId,
      { status: 'cancelled', error: 'stop' },
      new TaskAbortedError('cancelled', 'stop'),
    );
    expect(context!.signal.reason).toMatchObject({ code: 'cancelled' });
    await expect(
      runner.end(taskId, { status: 'completed' }, new TaskAbortedError('ended', 'x')),
    ).rejects.toBeInstanceOf(TaskNotRunningError);
    expect(() => context!.emit(1)).toThrow(TaskNotRunningError);
  });

  it('stores an emit at once with a store that appends synchronously (appendNow)', async () => {
    const seen: number[] = [];
    const { taskId } = await runner.start(async (ctx) => {
      const first = ctx.emit('a');
      seen.push((await store.read(ctx.taskId, 0, 10)).lastEventId); // stored before any await
      const second = ctx.emit('b', { event: 'log' });
      seen.push(await first, await second);
    }, {});
    await waitFor(() => runner.size === 0, 'the task to end');
    expect(seen).toEqual([1, 1, 2]);
    const { events } = await store.read(taskId, 0, 10);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['progress', '"a"'],
      ['log', '"b"'],
      ['end', '{"status":"completed"}'],
    ]);
  });

  it('fails the task when a synchronous append throws; an un-awaited emit rejects handled', async () => {
    const appendNow = jest.spyOn(store, 'appendNow').mockImplementation(() => {
      throw new StoreUnavailableError('full');
    });
    let emitted: Promise<number> | undefined;
    const { taskId } = await runner.start(async (ctx) => {
      emitted = ctx.emit('lost'); // not awaited here: no unhandled rejection
      await new Promise(() => undefined);
    }, {});
    await waitFor(() => runner.size === 0, 'the task to fail');
    appendNow.mockRestore();
    await expect(emitted).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await statusOf(taskId)).toBe('failed');
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'an event could not be stored; failing the task' }),
      expect.anything(),
    );
  });

  it('fails a task that outruns maxUnstoredBytes with TaskOverloadedError', async () => {
    setUp({ maxUnstoredBytes: 100, maxEventBytes: 50, historyBytes: 1_000 });
    const { taskId } = await runner.start((ctx) => {
      for (let i = 0; i < 10; i++) void ctx.emit('x'.repeat(40));
    }, {});
    await waitFor(() => runner.size === 0, 'the task to end');
    expect(await statusOf(taskId)).toBe('failed');
    const lookup = await store.lookup(taskId);
    expect(lookup.state === 'found' && lookup.task.error).toMatch(/more than 100 bytes/);
    expect(new TaskOverloadedError(taskId, 100).message).toBe(lookup.state === 'found' && lookup.task.error);
  });

  it('retries storing an end while the store is unavailable', async () => {
    const finish = jest
      .spyOn(store, 'finish')
      .mockRejectedValueOnce(new StoreUnavailableError('down'))
      .mockImplementation(InMemoryTaskStore.prototype.finish);
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'queueMicrotask', 'nextTick'] });
    try {
      const { taskId } = await runner.start(async () => 'ok', {});
      await waitFor(() => finish.mock.calls.length === 1, 'the first attempt');
      expect(await statusOf(taskId)).toBe('running');
      await jest.advanceTimersByTimeAsync(1_000);
      await waitFor(() => finish.mock.calls.length === 2, 'the retry');
      expect(await statusOf(taskId)).toBe('completed');
    } finally {
      jest.useRealTimers();
    }
  });

  it('on shutdown refuses new tasks, waits the grace period, then fails the rest', async () => {
    const { taskId } = await runner.start(() => new Promise(() => undefined), {});
    await runner.shutDown(0);
    await expect(runner.start(async () => 1, {})).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await statusOf(taskId)).toBe('running');
    await runner.failAll();
    expect(await statusOf(taskId)).toBe('failed');
  });
});
