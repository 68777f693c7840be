import { type DynamicModule, Module } from '@nestjs/common';
import {
  SSE_RESUME_MODULE_OPTIONS,
  SSE_RESUME_OPTIONS,
  SSE_RESUME_OPTIONS_TYPE,
  SseResumeConfigurableModule,
} from './sse-resume.module-definition';
import type { ResolvedSseResumeOptions, SseResumeOptions } from './interfaces/sse-resume-options.interface';
import { TaskStore } from './interfaces/task-store.interface';
import { resolveOptions, storeLimits } from './sse-resume.options';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
import { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
import { SseResumeInterceptor } from './streams/sse-resume.interceptor';
import { SseTaskService } from './sse-task.service';
import { TaskEvictionService } from './task-eviction.service';

async function createStore(options: ResolvedSseResumeOptions): Promise<TaskStore> {
  const { store } = options;
  const limits = storeLimits(options);
  if (typeof store === 'function') return store(limits);
  if (typeof store === 'object') return store;
  if (store === 'redis') {
    // Loaded only when asked for, so that ioredis stays an optional dependency.
    const { RedisTaskStore } = await import('./stores/redis/redis-task-store.js');
    return new RedisTaskStore(limits, options.redis);
  }
  return new InMemoryTaskStore(limits);
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
  providers: [
    {
      provide: SSE_RESUME_OPTIONS,
      useFactory: (options: SseResumeOptions) => resolveOptions(options),
      inject: [SSE_RESUME_MODULE_OPTIONS],
    },
    { provide: TaskStore, useFactory: createStore, inject: [SSE_RESUME_OPTIONS] },
    SseTaskService,
    TaskEvictionService,
    SseResumeGuard,
    TaskAccessGuard,
    SseResumeInterceptor,
  ],
  exports: [
    SseTaskService,
    TaskStore,
    SSE_RESUME_OPTIONS,
    SseResumeGuard,
    TaskAccessGuard,
    SseResumeInterceptor,
    TaskEvictionService,
  ],
})
export class SseResumeModule extends SseResumeConfigurableModule {
  /** `forRoot(ttlMs)` or `forRoot(options)`. */
  static override forRoot(ttlOrOptions: number | typeof SSE_RESUME_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(typeof ttlOrOptions === 'number' ? { ttl: ttlOrOptions } : ttlOrOptions);
  }
}
