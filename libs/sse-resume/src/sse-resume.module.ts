import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import {
  SSE_RESUME_GIVEN_OPTIONS,
  SSE_RESUME_RESOLVED_OPTIONS,
  type SseResumeAsyncOptions,
  type SseResumeModuleOptions,
  SseResumeConfigurableModule,
} from './sse-resume.module-definition';
import type { ResolvedSseResumeOptions, SseResumeOptions } from './interfaces/sse-resume-options.interface';
import { TaskStore } from './interfaces/task-store.interface';
import { resolveDurableOptions, resolveOptions, storeLimits } from './sse-resume.options';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
import type { RedisTaskStoreOptions } from './stores/redis/redis-task-store.options';
import { MISSING_IOREDIS } from './sse-resume.messages';
import { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
import { SseResumeInterceptor } from './streams/sse-resume.interceptor';
import { SseTaskService } from './sse-task.service';
import { TaskEvictionService } from './task-eviction.service';
import { SSE_RESUME_METRICS } from './metrics/sse-resume-metrics';
import { createSseResumeMetrics } from './metrics/metrics-factory';
import { claimPendingSseRoutes } from './streams/nest-sse-route';
import { DURABLE_TASKS_OPTIONS } from './durable/durable-runtime-options';
import { TaskHandlerRegistry } from './durable/task-handler-registry';
import { DurableTaskRuntime } from './durable/durable-task-runtime';
import { queueStreamProviders } from './queue-streams/queue-stream.providers';
import { QueueStreamService } from './queue-streams/queue-stream.service';

async function createStore(options: ResolvedSseResumeOptions): Promise<TaskStore> {
  const { store } = options;
  const limits = storeLimits(options);
  if (typeof store === 'function') return store(limits);
  if (typeof store === 'object') return store;
  if (store === 'redis') {
    // Loaded only when asked for, so that ioredis stays an optional dependency.
    const { RedisTaskStore } = await loadRedisStore();
    return new RedisTaskStore(limits, options.redis as RedisTaskStoreOptions | undefined);
  }
  return new InMemoryTaskStore(limits);
}

async function loadRedisStore(): Promise<typeof import('./stores/redis/redis-task-store.js')> {
  try {
    return await import('./stores/redis/redis-task-store.js');
  } catch (err) {
    // ERR_MODULE_NOT_FOUND from the published ES modules, MODULE_NOT_FOUND when compiled to CommonJS.
    const { code } = err as NodeJS.ErrnoException;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /ioredis/.test(String(err));
    if (missing) throw new Error(MISSING_IOREDIS);
    throw err;
  }
}

/**
 * Resumable Server-Sent Events for detached tasks.
 *
 * ```ts
 * imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(60 * 60 * 1000)]
 * ```
 * `forRoot(ttlMs)`, `forRoot(options)` or `forRootAsync({ imports, inject, useFactory })`;
 * `isGlobal: true` makes it available everywhere. The app imports `ScheduleModule.forRoot()`
 * once; this module registers its eviction job there.
 */
@Module({
  // DiscoveryService finds the application's @TaskHandler providers.
  imports: [DiscoveryModule],
  providers: [
    {
      provide: SSE_RESUME_RESOLVED_OPTIONS,
      useFactory: (options: SseResumeOptions) => resolveOptions(options),
      inject: [SSE_RESUME_GIVEN_OPTIONS],
    },
    { provide: TaskStore, useFactory: createStore, inject: [SSE_RESUME_RESOLVED_OPTIONS] },
    {
      provide: SSE_RESUME_METRICS,
      useFactory: (options: SseResumeOptions) => createSseResumeMetrics(options.metrics),
      inject: [SSE_RESUME_GIVEN_OPTIONS],
    },
    {
      provide: DURABLE_TASKS_OPTIONS,
      useFactory: (options: SseResumeOptions) => resolveDurableOptions(options.durable),
      inject: [SSE_RESUME_GIVEN_OPTIONS],
    },
    TaskHandlerRegistry,
    DurableTaskRuntime,
    ...queueStreamProviders(),
    SseTaskService,
    TaskEvictionService,
    SseResumeGuard,
    TaskAccessGuard,
    SseResumeInterceptor,
  ],
  exports: [
    SseTaskService,
    TaskStore,
    SSE_RESUME_RESOLVED_OPTIONS,
    SseResumeGuard,
    TaskAccessGuard,
    SseResumeInterceptor,
    TaskEvictionService,
    QueueStreamService,
  ],
})
export class SseResumeModule extends SseResumeConfigurableModule {
  constructor() {
    super();
    // Created before Nest registers the routes: `@SseResume()` routes written above their `@Sse()`.
    claimPendingSseRoutes();
  }

  /** `forRoot(ttlMs)` or `forRoot(options)`. */
  static override forRoot(ttlOrOptions: number | SseResumeModuleOptions = {}): DynamicModule {
    return super.forRoot(typeof ttlOrOptions === 'number' ? { ttl: ttlOrOptions } : ttlOrOptions);
  }

  /**
   * The options from a factory that Nest injects into, e.g. `ConfigService`:
   * `forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({ ttl: ... }) })`
   * (or `useClass` / `useExisting` with a `create()` method); `isGlobal: true` makes the module global.
   */
  static override forRootAsync(options: SseResumeAsyncOptions): DynamicModule {
    return super.forRootAsync(options);
  }
}
