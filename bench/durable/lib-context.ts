import 'reflect-metadata';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { SseResumeModule, type SseResumeOptions } from '../../libs/sse-resume/src';
import { BenchHandler } from './bench-handler';
import { envOf } from './shared';

/**
 * What a bench process of the library runs: `worker` a durable worker (no HTTP, like the example
 * app's `dist/src/worker.js`), `producer` an instance that starts durable tasks and runs no
 * worker (`durable.workers: false`, like an HTTP instance with TASK_WORKERS=0), `runner` an
 * instance without `durable` that runs the tasks it starts (non-durable).
 */
export type LibRole = 'worker' | 'producer' | 'runner';

/** The module options of `role`: the Redis store under the run's prefix, `durable` but for runners. */
export function benchOptions(role: LibRole): SseResumeOptions {
  return {
    store: 'redis',
    redis: { url: envOf('REDIS_URL'), keyPrefix: envOf('BENCH_KEY_PREFIX') },
    ...(role !== 'runner' && {
      durable: {
        queueName: envOf('BENCH_QUEUE'),
        prefix: envOf('BENCH_BULL_PREFIX'),
        workers: role === 'worker',
        concurrency: Number(envOf('BENCH_CONCURRENCY')),
      },
    }),
  };
}

/** A Nest application context (no HTTP server) of the library for `role`, shutdown hooks on. */
export async function createLibContext(role: LibRole): Promise<INestApplicationContext> {
  @Module({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(benchOptions(role))],
    providers: [BenchHandler],
  })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  return app;
}
