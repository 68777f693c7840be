import { getHeapStatistics } from 'node:v8';
import {
  DEFAULT_EVICTION_INTERVAL_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_MAX_SUBSCRIBERS_PER_TASK,
  DEFAULT_MAX_TASKS,
  DEFAULT_RETRY_MS,
  DEFAULT_TTL_MS,
} from './sse-resume.constants';
import type { SseResumeOptions } from './interfaces/sse-resume-options.interface';
import type { TaskStore } from './interfaces/task-store.interface';
import { checkBackoff, resolveDurableOptions, resolveOptions, storeLimits } from './sse-resume.options';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';

const MAX_TIMER_MS = 2_147_483_647;

describe('resolveOptions', () => {
  it('fills in every default', () => {
    expect(resolveOptions()).toMatchObject({
      ttl: DEFAULT_TTL_MS,
      historyLimit: DEFAULT_HISTORY_LIMIT,
      historyBytes: DEFAULT_HISTORY_BYTES,
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      retryMs: DEFAULT_RETRY_MS,
      evictionIntervalMs: DEFAULT_EVICTION_INTERVAL_MS,
      expiredRetentionMs: DEFAULT_TTL_MS,
      defaultTimeoutMs: undefined,
      maxTasks: DEFAULT_MAX_TASKS,
      maxSubscribersPerTask: DEFAULT_MAX_SUBSCRIBERS_PER_TASK,
      maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
      store: 'memory',
    });
    expect(resolveOptions().defaultTimeoutMs).toBeUndefined();
    expect(resolveOptions({})).toEqual(resolveOptions());
  });

  it('sizes maxStreams from the heap limit (half of it at 24 KiB a stream), at least 1 000', () => {
    const expected = Math.max(1_000, Math.floor((getHeapStatistics().heap_size_limit * 0.5) / (24 * 1024)));
    expect(resolveOptions().maxStreams).toBe(expected);
    expect(resolveOptions({ maxStreams: 7 }).maxStreams).toBe(7);
  });

  it('keeps every value given', () => {
    const store = new InMemoryTaskStore({
      ttl: 1,
      expiredRetentionMs: 1,
      historyLimit: 1,
      historyBytes: 1,
      historyBudgetBytes: 1,
      maxTasks: 1,
    });
    const given = {
      ttl: 5_000,
      historyLimit: 7,
      historyBytes: 4_096,
      maxEventBytes: 1_024,
      heartbeatMs: 3_000,
      retryMs: 100,
      evictionIntervalMs: 250,
      expiredRetentionMs: 9_000,
      defaultTimeoutMs: 30_000,
      maxTasks: 3,
      maxSubscribersPerTask: 2,
      maxPendingBytes: 64,
      store,
    } satisfies SseResumeOptions;
    expect(resolveOptions(given)).toMatchObject(given);
    expect(resolveOptions(given).store).toBe(store);
  });

  it('derives defaults from other options: eviction interval and retention from ttl, event size from history size', () => {
    expect(resolveOptions({ ttl: 1_000 })).toMatchObject({
      evictionIntervalMs: 1_000,
      expiredRetentionMs: 1_000,
    });
    expect(resolveOptions({ ttl: 10 * 60_000 })).toMatchObject({ evictionIntervalMs: 60_000 });
    expect(resolveOptions({ historyBytes: 500 })).toMatchObject({ maxEventBytes: 500 });
    expect(resolveOptions({ historyBytes: 64 * 1024 * 1024 })).toMatchObject({
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
    });
  });

  const numeric = [
    'ttl',
    'historyLimit',
    'historyBytes',
    'maxEventBytes',
    'heartbeatMs',
    'retryMs',
    'evictionIntervalMs',
    'expiredRetentionMs',
    'defaultTimeoutMs',
    'maxTasks',
    'maxSubscribersPerTask',
    'maxStreams',
    'maxPendingBytes',
  ] as const;

  describe.each(numeric)('%s', (name) => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null, true])(
      'rejects %p, naming the option',
      (value) => {
        const options = { [name]: value } as unknown as SseResumeOptions;
        expect(() => resolveOptions(options)).toThrow(
          new RegExp(`^SseResumeModule: option ${name} must be an integer from 1 to \\d+, got `),
        );
      },
    );

    it('accepts 1', () => {
      const options: SseResumeOptions = { [name]: 1 };
      if (name === 'maxEventBytes') options.historyBytes = 1;
      expect(resolveOptions(options)[name]).toBe(1);
    });
  });

  it.each([
    'ttl',
    'heartbeatMs',
    'retryMs',
    'evictionIntervalMs',
    'expiredRetentionMs',
    'defaultTimeoutMs',
  ] as const)('caps the timer option %s at the largest setTimeout delay', (name) => {
    expect(resolveOptions({ [name]: MAX_TIMER_MS })[name]).toBe(MAX_TIMER_MS);
    expect(() => resolveOptions({ [name]: MAX_TIMER_MS + 1 })).toThrow(
      `option ${name} must be an integer from 1 to ${MAX_TIMER_MS}, got ${MAX_TIMER_MS + 1}`,
    );
  });

  it('shows the value it rejects', () => {
    expect(() => resolveOptions({ ttl: '10' as unknown as number })).toThrow('got "10"');
    expect(() => resolveOptions({ ttl: Number.NaN })).toThrow('got null');
    expect(() => resolveOptions({ ttl: (() => 1) as unknown as number })).toThrow('got function');
  });

  it('refuses a maxEventBytes above historyBytes', () => {
    expect(() => resolveOptions({ historyBytes: 100, maxEventBytes: 101 })).toThrow(
      'SseResumeModule: maxEventBytes (101) cannot exceed historyBytes (100)',
    );
    expect(resolveOptions({ historyBytes: 100, maxEventBytes: 100 }).maxEventBytes).toBe(100);
  });

  it('passes a store or store factory through', () => {
    const factory = (): TaskStore => {
      throw new Error('not called');
    };
    expect(resolveOptions({ store: factory }).store).toBe(factory);
  });

  it('checks authorize and shutdownGraceMs (0 allowed: no grace)', () => {
    const authorize = () => true;
    expect(resolveOptions({ authorize }).authorize).toBe(authorize);
    expect(resolveOptions().authorize).toBeUndefined();
    expect(() => resolveOptions({ authorize: 'yes' as unknown as () => boolean })).toThrow(
      'SseResumeModule: option authorize must be a function',
    );
    expect(resolveOptions().shutdownGraceMs).toBeUndefined();
    expect(resolveOptions({ shutdownGraceMs: 0 }).shutdownGraceMs).toBe(0);
    expect(resolveOptions({ shutdownGraceMs: 2_500 }).shutdownGraceMs).toBe(2_500);
    for (const bad of [-1, 1.5, MAX_TIMER_MS + 1, '5']) {
      expect(() => resolveOptions({ shutdownGraceMs: bad as number })).toThrow(
        /^SseResumeModule: option shutdownGraceMs must be an integer from 0 to 2147483647, got /,
      );
    }
  });

  it('chooses the redis store when redis options are given without a store', () => {
    expect(resolveOptions({ redis: {} }).store).toBe('redis');
    expect(resolveOptions({ redis: {}, store: 'memory' }).store).toBe('memory');
  });

  it('refuses an unknown store name', () => {
    expect(() => resolveOptions({ store: 'mongo' as unknown as 'memory' })).toThrow(/option store must be/);
  });
});

describe('storeLimits', () => {
  it('hands a store exactly the limits it applies', () => {
    const options = resolveOptions({
      ttl: 1_000,
      expiredRetentionMs: 2_000,
      historyLimit: 3,
      historyBytes: 4_000,
      historyBudgetBytes: 40_000,
      maxTasks: 5,
      heartbeatMs: 6,
    });
    expect(storeLimits(options)).toEqual({
      ttl: 1_000,
      expiredRetentionMs: 2_000,
      historyLimit: 3,
      historyBytes: 4_000,
      historyBudgetBytes: 40_000,
      maxTasks: 5,
    });
  });
});

describe('resolveDurableOptions', () => {
  it('is undefined without the option', () => {
    expect(resolveDurableOptions(undefined)).toBeUndefined();
    expect(resolveOptions({})).not.toHaveProperty('durable');
  });

  it('fills in the documented defaults', () => {
    expect(resolveDurableOptions({})).toEqual({
      connection: undefined,
      queueName: 'sse-resume-tasks',
      prefix: 'bull',
      workers: true,
      concurrency: 10,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 3,
      limiter: undefined,
      attempts: 3,
      backoff: { type: 'fixed', delay: 1_000 },
    });
  });

  it('keeps every value given', () => {
    const given = {
      connection: { url: 'redis://h:1' },
      queueName: 'q',
      prefix: '{jobs}',
      workers: false,
      concurrency: 2,
      lockDurationMs: 1_000,
      stalledIntervalMs: 500,
      maxStalledCount: 0,
      limiter: { max: 5, duration: 1_000 },
      attempts: 1,
      backoff: { type: 'exponential' as const, delay: 10 },
    };
    expect(resolveDurableOptions(given)).toEqual(given);
    expect(resolveDurableOptions({ backoff: 250 })?.backoff).toBe(250);
  });

  it.each([
    [{ concurrency: 0 }, 'option durable.concurrency must be an integer from 1 to 10000, got 0'],
    [{ attempts: 1.5 }, 'option durable.attempts must be an integer from 1 to 1000, got 1.5'],
    [{ lockDurationMs: '30s' }, 'option durable.lockDurationMs must be an integer from 100'],
    [{ maxStalledCount: -1 }, 'option durable.maxStalledCount must be an integer from 0 to 1000, got -1'],
    [
      { queueName: 'a:b' },
      'option durable.queueName must be a non-empty string (a queue name without \':\'), got "a:b"',
    ],
    [{ prefix: '' }, 'option durable.prefix must be a non-empty string'],
    [{ workers: 'yes' }, 'option durable.workers must be true or false, got "yes"'],
    [
      { limiter: { max: 0, duration: 1 } },
      'option durable.limiter must be { max, duration } with positive integers',
    ],
    [
      { backoff: { type: 'linear', delay: 1 } },
      "option durable.backoff must be a delay in ms or { type: 'fixed' | 'exponential', delay }",
    ],
    [{ connection: 'redis://x' }, 'option durable.connection must be an object'],
  ])('refuses %j at boot, naming the option', (durable, message) => {
    expect(() => resolveOptions({ durable: durable as never })).toThrow(message);
  });

  it('refuses a durable option that is not an object', () => {
    expect(() => resolveDurableOptions(true as never)).toThrow('option durable must be an object');
  });

  it('checks a backoff given to start', () => {
    expect(checkBackoff('backoff', undefined)).toBeUndefined();
    expect(checkBackoff('backoff', 0)).toBe(0);
    expect(() => checkBackoff('backoff', -1)).toThrow('option backoff must be a delay in ms');
  });
});
