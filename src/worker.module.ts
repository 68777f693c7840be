import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { SseResumeModule } from '@app/sse-resume';
import { sseResumeOptions } from './app.module';
import { APP_CONFIG, type AppConfig } from './config';
import { DemoTaskHandler } from './tasks/demo-task.handler';

/**
 * The worker process's module: the library with the app's own options and a durable-task
 * worker, the task handlers, and nothing that serves HTTP.
 */
@Module({})
export class WorkerModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(sseResumeOptions(config, false, true))],
      providers: [DemoTaskHandler, { provide: APP_CONFIG, useValue: config }],
    };
  }
}
