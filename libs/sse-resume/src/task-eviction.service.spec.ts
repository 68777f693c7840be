import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { EVICTION_JOB_NAME } from './sse-resume.constants';
import type { TaskStore } from './interfaces/task-store.interface';
import { resolveOptions } from './sse-resume.options';
import type { SseTaskService } from './sse-task.service';
import { MISSING_SCHEDULE_MODULE } from './sse-resume.messages';
import { TaskEvictionService } from './task-eviction.service';
import { FAKE_TIMERS, deferred } from './testing/async';

describe('TaskEvictionService', () => {
  let evictExpired: jest.Mock<Promise<number>, []>;
  let registry: SchedulerRegistry;

  function make(
    options: Parameters<typeof resolveOptions>[0] = { evictionIntervalMs: 1_000 },
    store: Partial<TaskStore> = {},
    withRegistry = true,
  ): TaskEvictionService {
    return new TaskEvictionService(
      { evictExpired } as unknown as SseTaskService,
      store as TaskStore,
      resolveOptions(options),
      withRegistry ? registry : undefined,
    );
  }

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    evictExpired = jest.fn(async () => 0);
    registry = new SchedulerRegistry();
  });

  afterEach(() => {
    for (const name of registry.getIntervals()) registry.deleteInterval(name);
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('refuses to start without the SchedulerRegistry, saying what to add', () => {
    expect(() => make(undefined, {}, false).onModuleInit()).toThrow(MISSING_SCHEDULE_MODULE);
    expect(() => make().onModuleInit()).not.toThrow();
  });

  it('runs the eviction every evictionIntervalMs, and no more after shutdown (fake timers)', async () => {
    jest.useFakeTimers(FAKE_TIMERS);
    const service = make({ evictionIntervalMs: 1_000 });
    service.onApplicationBootstrap();
    expect(registry.getIntervals()).toEqual([EVICTION_JOB_NAME]);
    await jest.advanceTimersByTimeAsync(999);
    expect(evictExpired).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(evictExpired).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(evictExpired).toHaveBeenCalledTimes(3);
    service.beforeApplicationShutdown();
    expect(registry.getIntervals()).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(evictExpired).toHaveBeenCalledTimes(3);
    service.beforeApplicationShutdown(); // twice is harmless
  });

  it("runs at least as often as the store's maintenance interval (fake timers)", async () => {
    jest.useFakeTimers(FAKE_TIMERS);
    const service = make({ evictionIntervalMs: 60_000 }, { maintenanceIntervalMs: 250 });
    expect(service.intervalMs).toBe(250);
    service.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(evictExpired).toHaveBeenCalledTimes(4);
    service.beforeApplicationShutdown();
    expect(make({ evictionIntervalMs: 100 }, { maintenanceIntervalMs: 250 }).intervalMs).toBe(100);
  });

  it('takes a free job name when one is taken', () => {
    const first = make();
    const second = make();
    first.onApplicationBootstrap();
    second.onApplicationBootstrap();
    expect(registry.getIntervals()).toEqual([EVICTION_JOB_NAME, `${EVICTION_JOB_NAME}:2`]);
    second.beforeApplicationShutdown();
    expect(registry.getIntervals()).toEqual([EVICTION_JOB_NAME]);
    first.beforeApplicationShutdown();
  });

  it('skips a run while the previous one is still going', async () => {
    const running = deferred<number>();
    evictExpired.mockImplementationOnce(() => running.promise);
    const service = make();
    const first = service.evict();
    await expect(service.evict()).resolves.toBe(0);
    expect(evictExpired).toHaveBeenCalledTimes(1);
    running.resolve(3);
    await expect(first).resolves.toBe(3);
    await expect(service.evict()).resolves.toBe(0);
    expect(evictExpired).toHaveBeenCalledTimes(2);
  });

  it('logs a failed run and carries on', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    evictExpired.mockRejectedValueOnce(new Error('store down'));
    const service = make();
    await expect(service.evict()).resolves.toBe(0);
    expect(error).toHaveBeenCalledWith(
      expect.objectContaining({
        message: 'task eviction failed',
        error: expect.stringContaining('store down'),
      }),
      expect.stringContaining('store down'),
    );
    evictExpired.mockResolvedValueOnce(2);
    await expect(service.evict()).resolves.toBe(2);
  });
});
