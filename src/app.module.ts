import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { SseResumeModule } from '@app/sse-resume';
import { SseResumeHealthIndicator } from '@app/sse-resume/terminus';
import type { AppConfig } from './config';
import { DemoController } from './demo/demo.controller';
import { HealthController } from './health/health.controller';
import { TasksController } from './tasks/tasks.controller';
import { metricsWiring } from './metrics/metrics.module';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    const metrics = metricsWiring(config);
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({
          ttl: config.taskTtlMs,
          historyLimit: config.historyLimit,
          heartbeatMs: config.heartbeatMs,
          retryMs: config.retryMs,
          maxTasks: config.maxTasks,
          maxSubscribersPerTask: config.maxSubscribersPerTask,
          ...(config.maxStreams !== undefined && { maxStreams: config.maxStreams }),
          maxPendingBytes: config.maxPendingBytes,
          slowConsumerTimeoutMs: config.slowConsumerTimeoutMs,
          metrics: metrics.library,
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
        }),
        TerminusModule.forRoot({ logger: false }), // GET /health: 503 with the reason, no log line per check
        ...metrics.imports,
      ],
      controllers: [TasksController, DemoController, HealthController],
      providers: [SseResumeHealthIndicator],
    };
  }
}
