import { ConsoleLogger, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from './config';
import { exitIfShutdownHangs } from './shutdown-deadline';
import { WorkerModule } from './worker.module';

/**
 * `npm run worker`: runs durable tasks (BullMQ jobs) and serves no HTTP. Same environment as
 * `npm start`; needs Redis. Several may run beside the HTTP instances (`TASK_WORKERS=0`
 * there to keep them to streaming); SIGTERM hands its running tasks to another worker.
 */
async function bootstrap(): Promise<void> {
  const logger = new Logger('Worker');
  const config = loadConfig();
  if (config.durable === undefined) {
    throw new Error(
      'the worker runs durable tasks, which need Redis: set REDIS_URL (or REDIS_CLUSTER_NODES)',
    );
  }
  const app = await NestFactory.createApplicationContext(WorkerModule.register(config), {
    ...(config.logJson && { logger: new ConsoleLogger({ json: true }) }),
  });
  app.enableShutdownHooks();
  exitIfShutdownHangs(logger);
  const { durable } = config;
  logger.log(
    `worker ready (queue ${durable.queueName ?? 'sse-resume-tasks'}, concurrency ${durable.concurrency ?? 10}, ${config.redisClusterNodes ? 'Redis Cluster' : 'Redis'} store)`,
  );
}

bootstrap().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
