import { Inject, Injectable, Module } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { EVICTION_JOB_NAME } from './sse-resume.constants';
import type { ResolvedSseResumeOptions } from './interfaces/sse-resume-options.interface';
import { TaskStore, type TaskStoreLimits } from './interfaces/task-store.interface';
import { SSE_RESUME_RESOLVED_OPTIONS } from './sse-resume.module-definition';
import { SseResumeModule } from './sse-resume.module';
import { SseTaskService } from './sse-task.service';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
import { MISSING_SCHEDULE_MODULE } from './sse-resume.messages';
import { TaskEvictionService } from './task-eviction.service';
import { FAKE_TIMERS, collect, nextTurn, waitFor } from './testing/async';

const CONFIG = Symbol('CONFIG');

@Module({ providers: [{ provide: CONFIG, useValue: { ttlMs: 7_000, history: 12 } }], exports: [CONFIG] })
class ConfigModule {}

@Injectable()
class FeatureService {
  constructor(readonly tasks: SseTaskService) {}
}

@Module({ providers: [FeatureService] })
class FeatureModule {}

async function compile(imports: Parameters<typeof Test.createTestingModule>[0]['imports']) {
  const moduleRef = await Test.createTestingModule({ imports }).compile();
  moduleRef.useLogger(false);
  return moduleRef;
}

async function waitForStatus(tasks: SseTaskService, taskId: string, status: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if ((await tasks.getTaskInfo(taskId)).status === status) return;
    await nextTurn();
  }
  throw new Error(`task never reached ${status}`);
}

describe('SseResumeModule', () => {
  afterEach(() => jest.useRealTimers());

  describe('configuration', () => {
    it('forRoot(ttlMs) sets the TTL and keeps every other default', async () => {
      const moduleRef = await compile([ScheduleModule.forRoot(), SseResumeModule.forRoot(5_000)]);
      const options = moduleRef.get<ResolvedSseResumeOptions>(SSE_RESUME_RESOLVED_OPTIONS);
      expect(options).toMatchObject({
        ttl: 5_000,
        expiredRetentionMs: 5_000,
        evictionIntervalMs: 5_000,
        store: 'memory',
      });
      expect(moduleRef.get(TaskStore)).toBeInstanceOf(InMemoryTaskStore);
      expect(moduleRef.get(SseTaskService)).toBeInstanceOf(SseTaskService);
      await moduleRef.close();
    });

    it('forRoot() without arguments uses the defaults', async () => {
      const moduleRef = await compile([ScheduleModule.forRoot(), SseResumeModule.forRoot()]);
      expect(moduleRef.get<ResolvedSseResumeOptions>(SSE_RESUME_RESOLVED_OPTIONS)).toMatchObject({
        ttl: 60 * 60 * 1000,
        historyLimit: 10_000,
      });
      await moduleRef.close();
    });

    it('forRoot(options) takes every option', async () => {
      const moduleRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({ ttl: 2_000, historyLimit: 3, heartbeatMs: 500, maxTasks: 9 }),
      ]);
      expect(moduleRef.get<ResolvedSseResumeOptions>(SSE_RESUME_RESOLVED_OPTIONS)).toMatchObject({
        ttl: 2_000,
        historyLimit: 3,
        heartbeatMs: 500,
        maxTasks: 9,
      });
      await moduleRef.close();
    });

    it('forRootAsync({ imports, inject, useFactory }) builds the options from other providers', async () => {
      const moduleRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRootAsync({
          imports: [ConfigModule],
          inject: [CONFIG],
          useFactory: async (config: { ttlMs: number; history: number }) => {
            await nextTurn();
            return { ttl: config.ttlMs, historyLimit: config.history };
          },
        }),
      ]);
      expect(moduleRef.get<ResolvedSseResumeOptions>(SSE_RESUME_RESOLVED_OPTIONS)).toMatchObject({
        ttl: 7_000,
        historyLimit: 12,
      });
      await moduleRef.close();
    });

    it('isGlobal: true makes the service injectable in modules that do not import it', async () => {
      const moduleRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({ ttl: 1_000, isGlobal: true }),
        FeatureModule,
      ]);
      expect(moduleRef.get(FeatureService).tasks).toBe(moduleRef.get(SseTaskService));
      await moduleRef.close();

      const asyncRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRootAsync({ isGlobal: true, useFactory: () => ({ ttl: 1_000 }) }),
        FeatureModule,
      ]);
      expect(asyncRef.get(FeatureService).tasks).toBeInstanceOf(SseTaskService);
      await asyncRef.close();
    });

    it('without isGlobal, a module that does not import it cannot inject the service', async () => {
      await expect(
        compile([ScheduleModule.forRoot(), SseResumeModule.forRoot({ ttl: 1_000 }), FeatureModule]),
      ).rejects.toThrow(/SseTaskService/);
    });

    it.each([
      [
        'forRoot(0)',
        () => SseResumeModule.forRoot(0),
        'option ttl must be an integer from 1 to 2147483647, got 0',
      ],
      ['forRoot(-5)', () => SseResumeModule.forRoot(-5), 'option ttl must be an integer'],
      [
        'forRoot({ historyLimit: 1.5 })',
        () => SseResumeModule.forRoot({ historyLimit: 1.5 }),
        'option historyLimit must be an integer from 1 to',
      ],
      [
        'forRootAsync returning a bad heartbeatMs',
        () => SseResumeModule.forRootAsync({ useFactory: () => ({ heartbeatMs: -1 }) }),
        'option heartbeatMs must be an integer',
      ],
    ])('fails to boot with a clear message for %s', async (_name, make, message) => {
      await expect(compile([ScheduleModule.forRoot(), make()])).rejects.toThrow(
        `SseResumeModule: ${message}`,
      );
    });

    it('uses a store factory with the resolved limits, and closes that store on shutdown', async () => {
      let limits: TaskStoreLimits | undefined;
      let made: InMemoryTaskStore | undefined;
      const moduleRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({
          ttl: 3_000,
          historyLimit: 4,
          store: (given) => {
            limits = given;
            return (made = new InMemoryTaskStore(given));
          },
        }),
      ]);
      expect(limits).toEqual({
        ttl: 3_000,
        expiredRetentionMs: 3_000,
        historyLimit: 4,
        historyBytes: 8 * 1024 * 1024,
        historyBudgetBytes: expect.any(Number),
        maxTasks: 10_000,
      });
      expect(moduleRef.get(TaskStore)).toBe(made);
      const close = jest.spyOn(made!, 'close');
      await moduleRef.close();
      expect(close).toHaveBeenCalledTimes(1);
    });

    it('uses a store instance as given, and leaves closing it to its owner', async () => {
      const given = new InMemoryTaskStore({
        ttl: 1,
        expiredRetentionMs: 1,
        historyLimit: 1,
        historyBytes: 1,
        historyBudgetBytes: 1,
        maxTasks: 1,
      });
      const close = jest.spyOn(given, 'close');
      const moduleRef = await compile([ScheduleModule.forRoot(), SseResumeModule.forRoot({ store: given })]);
      expect(moduleRef.get(TaskStore)).toBe(given);
      await moduleRef.close();
      expect(close).not.toHaveBeenCalled();
    });
  });

  describe('the eviction job', () => {
    it('fails to boot without ScheduleModule.forRoot(), saying what to add', async () => {
      const moduleRef = await compile([SseResumeModule.forRoot(1_000)]);
      const app = moduleRef.createNestApplication({ logger: false });
      await expect(app.init()).rejects.toThrow(MISSING_SCHEDULE_MODULE);
      expect(MISSING_SCHEDULE_MODULE).toContain('ScheduleModule.forRoot()');
      await app.close();
    });

    it('registers an interval in SchedulerRegistry and removes it on close', async () => {
      const moduleRef = await compile([ScheduleModule.forRoot(), SseResumeModule.forRoot(1_000)]);
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const registry = app.get(SchedulerRegistry);
      expect(registry.getIntervals()).toEqual([EVICTION_JOB_NAME]);
      await app.close();
      expect(registry.getIntervals()).toEqual([]);
    });

    it('evicts expired tasks on its interval, freeing their memory (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const moduleRef = await compile([ScheduleModule.forRoot(), SseResumeModule.forRoot({ ttl: 1_000 })]);
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const tasks = app.get(SseTaskService);
      const store = app.get<InMemoryTaskStore>(TaskStore);
      const started = await tasks.start(async (ctx) => {
        await ctx.emit('x');
      });
      await waitForStatus(tasks, started.taskId, 'completed');
      expect(store.stats()).toMatchObject({ tasks: 1, events: 2 });
      await jest.advanceTimersByTimeAsync(1_000);
      // Evicted by the job, not by a lookup: memory is freed, a record answers 410 for a while.
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 1, events: 0, bytes: 0 });
      await jest.advanceTimersByTimeAsync(1_000);
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 0, events: 0, bytes: 0 });
      await app.close();
    });

    it('leaves no timer behind after close: job, heartbeat ticker, task timeouts (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const moduleRef = await compile([
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({ ttl: 1_000, heartbeatMs: 1_000 }),
      ]);
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const tasks = app.get(SseTaskService);
      const started = await tasks.start(
        (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
        {
          timeoutMs: 60_000,
        },
      );
      const stream = collect(tasks.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitFor(() => stream.values.length > 0);
      expect(jest.getTimerCount()).toBe(3);
      await app.close();
      expect(jest.getTimerCount()).toBe(0);
      expect(stream.completed).toBe(true);
    });

    it('gives each of two module instances its own job name', async () => {
      @Module({ imports: [SseResumeModule.forRoot(1_000)] })
      class First {}
      @Module({ imports: [SseResumeModule.forRoot(2_000)] })
      class Second {}
      const moduleRef = await compile([ScheduleModule.forRoot(), First, Second]);
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const registry = app.get(SchedulerRegistry);
      expect(registry.getIntervals().sort()).toEqual([EVICTION_JOB_NAME, `${EVICTION_JOB_NAME}:2`]);
      await app.close();
      expect(registry.getIntervals()).toEqual([]);
    });

    it('is exported, for apps that want to run it themselves', async () => {
      @Injectable()
      class Runner {
        constructor(@Inject(TaskEvictionService) readonly eviction: TaskEvictionService) {}
      }
      @Module({ imports: [SseResumeModule.forRoot(1_000)], providers: [Runner] })
      class AppModule {}
      const moduleRef = await compile([ScheduleModule.forRoot(), AppModule]);
      await expect(moduleRef.get(Runner).eviction.evict()).resolves.toBe(0);
      await moduleRef.close();
    });
  });
});

describe('store: redis without ioredis installed', () => {
  afterEach(() => jest.dontMock('ioredis'));

  it('fails at boot with a message that names the package to install', async () => {
    jest.doMock('ioredis', () => {
      throw Object.assign(new Error("Cannot find module 'ioredis' from 'redis-task-store.ts'"), {
        code: 'MODULE_NOT_FOUND',
      });
    });
    await jest.isolateModulesAsync(async () => {
      // A registry of its own, Nest included (its DI compares classes by identity).
      const { SseResumeModule: Isolated } = await import('./sse-resume.module.js');
      const { MISSING_IOREDIS } = await import('./sse-resume.messages.js');
      const { ScheduleModule: IsolatedSchedule } = await import('@nestjs/schedule');
      const { Test: IsolatedTest } = await import('@nestjs/testing');
      await expect(
        IsolatedTest.createTestingModule({
          imports: [IsolatedSchedule.forRoot(), Isolated.forRoot({ redis: { url: 'redis://127.0.0.1:1' } })],
        }).compile(),
      ).rejects.toThrow(MISSING_IOREDIS);
      expect(MISSING_IOREDIS).toMatch(/npm install ioredis/);
    });
  });
});
