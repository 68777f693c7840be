import { describe, expect, it } from '@jest/globals';
import { ServiceUnavailableException } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { TaskStore } from '../interfaces/task-store.interface';
import { SseResumeModule } from '../sse-resume.module';
import type { SseTaskService } from '../sse-task.service';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { testStoreLimits } from '../testing/limits';
import { SseResumeHealthIndicator } from './sse-resume.health-indicator';

const stats = { runningTasks: 2, openStreams: 5 };

function indicator(store: TaskStore): SseResumeHealthIndicator {
  return new SseResumeHealthIndicator(new HealthIndicatorService(), { stats } as SseTaskService, store);
}

describe('SseResumeHealthIndicator', () => {
  it("is up with the store's details and this instance's running tasks and open streams", async () => {
    const result = await indicator(new InMemoryTaskStore(testStoreLimits())).isHealthy();
    expect(result).toEqual({
      sseResume: {
        status: 'up',
        store: 'memory',
        latencyMs: expect.any(Number),
        runningTasks: 2,
        openStreams: 5,
      },
    });
  });

  it('is down, under the given key, when the store does not answer within timeoutMs', async () => {
    const store = Object.assign(new InMemoryTaskStore(testStoreLimits()), {
      health: () =>
        Promise.resolve({ status: 'down' as const, message: 'the Redis connection is reconnecting' }),
    });
    expect(await indicator(store).isHealthy('tasks', { timeoutMs: 200 })).toEqual({
      tasks: {
        status: 'down',
        message: 'the Redis connection is reconnecting',
        store: 'memory',
        runningTasks: 2,
        openStreams: 5,
      },
    });
  });

  it('refuses a timeout that is not a positive integer', async () => {
    const health = indicator(new InMemoryTaskStore(testStoreLimits()));
    await expect(health.isHealthy('x', { timeoutMs: 0 })).rejects.toThrow(
      'timeoutMs must be a positive integer, got 0',
    );
  });

  it('is injected beside TerminusModule and SseResumeModule; HealthCheckService answers 503 with the details when it is down', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot(),
        TerminusModule.forRoot({ logger: false }),
      ],
      providers: [SseResumeHealthIndicator],
    }).compile();
    await moduleRef.init();
    try {
      const checks = moduleRef.get(HealthCheckService);
      const sseResume = moduleRef.get(SseResumeHealthIndicator);
      expect(await checks.check([() => sseResume.isHealthy()])).toEqual({
        status: 'ok',
        info: { sseResume: expect.objectContaining({ status: 'up', store: 'memory', runningTasks: 0 }) },
        error: {},
        details: { sseResume: expect.objectContaining({ status: 'up' }) },
      });
      const store = moduleRef.get<TaskStore>(TaskStore);
      Object.assign(store, { health: () => Promise.resolve({ status: 'down', message: 'gone' }) });
      const failure = await checks.check([() => sseResume.isHealthy()]).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ServiceUnavailableException);
      expect((failure as ServiceUnavailableException).getResponse()).toMatchObject({
        status: 'error',
        error: { sseResume: { status: 'down', message: 'gone', store: 'memory', openStreams: 0 } },
      });
    } finally {
      await moduleRef.close();
    }
  });
});
