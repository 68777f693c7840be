import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { SseResumeModule } from '@app/sse-resume';
import type { AppConfig } from './config';
import { DemoController } from './demo/demo.controller';
import { TasksController } from './tasks/tasks.controller';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    if (config.redisUrl !== undefined) {
      throw new Error(
        'REDIS_URL is set, but this build has no Redis store yet: unset REDIS_URL to use memory',
      );
    }
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({
          ttl: config.taskTtlMs,
          historyLimit: config.historyLimit,
          heartbeatMs: config.heartbeatMs,
        }),
      ],
      controllers: [TasksController, DemoController],
    };
  }
}
