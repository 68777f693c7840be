import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { SseResumeModule, type SseResumeModuleOptions, type SseResumeMetricsOptions } from '@app/sse-resume';
import { SseResumeHealthIndicator } from '@app/sse-resume/terminus';
import { APP_CONFIG, type AppConfig } from './config';
import { DemoController } from './demo/demo.controller';
import { HealthController } from './health/health.controller';
import { TasksController } from './tasks/tasks.controller';
import { DemoTaskHandler } from './tasks/demo-task.handler';
import { metricsWiring } from './metrics/metrics.module';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    const metrics = metricsWiring(config);
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot(sseResumeOptions(config, metrics.library)),
        TerminusModule.forRoot({ logger: false }), // GET /health: 503 with the reason, no log line per check
        ...metrics.imports,
      ],
      controllers: [TasksController, DemoController, HealthController],
      providers: [SseResumeHealthIndicator, DemoTaskHandler, { provide: APP_CONFIG, useValue: config }],
    };
  }
}

/**
 * The library's options from the app's configuration (the worker process's too):
 * `workers` overrides whether this process runs a durable-task worker.
 */
export function sseResumeOptions(
  config: AppConfig,
  metrics: SseResumeMetricsOptions,
  workers = config.durable?.workers ?? false,
): SseResumeModuleOptions {
  const { durable } = config;
  return {
    ttl: config.taskTtlMs,
    historyLimit: config.historyLimit,
    heartbeatMs: config.heartbeatMs,
    retryMs: config.retryMs,
    maxTasks: config.maxTasks,
    maxSubscribersPerTask: config.maxSubscribersPerTask,
    ...(config.maxStreams !== undefined && { maxStreams: config.maxStreams }),
    maxPendingBytes: config.maxPendingBytes,
    slowConsumerTimeoutMs: config.slowConsumerTimeoutMs,
    metrics,
    ...(config.historyBudgetBytes !== undefined && { historyBudgetBytes: config.historyBudgetBytes }),
    ...(config.shutdownGraceMs !== undefined && { shutdownGraceMs: config.shutdownGraceMs }),
    ...((config.redisClusterNodes !== undefined || config.redisUrl !== undefined) && {
      store: 'redis' as const,
      redis: {
        // A Cluster's seed nodes win over REDIS_URL.
        ...(config.redisClusterNodes !== undefined
          ? { nodes: config.redisClusterNodes }
          : { url: config.redisUrl }),
        keyPrefix: config.redisKeyPrefix,
        ...(config.redisLeaseMs !== undefined && { leaseMs: config.redisLeaseMs }),
        ...(config.redisWaitReplicas !== undefined && { waitForReplicas: config.redisWaitReplicas }),
      },
    }),
    ...(durable !== undefined && {
      durable: {
        workers,
        // On a Cluster, one hash tag keeps each queue's keys in one slot (BullMQ's scripts need it).
        ...(config.redisClusterNodes !== undefined && { prefix: '{bull}' }),
        ...(durable.queueName !== undefined && { queueName: durable.queueName }),
        ...(durable.lockDurationMs !== undefined && { lockDurationMs: durable.lockDurationMs }),
        ...(durable.stalledIntervalMs !== undefined && { stalledIntervalMs: durable.stalledIntervalMs }),
        ...(durable.concurrency !== undefined && { concurrency: durable.concurrency }),
        ...(durable.attempts !== undefined && { attempts: durable.attempts }),
      },
    }),
  };
}
