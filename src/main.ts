import { ConsoleLogger, Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { loadConfig } from './config';

/** Longest a SIGTERM may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function bootstrap(): Promise<void> {
  const logger = new Logger('Bootstrap');
  const config = loadConfig();
  const app = await createApp(config, config.logJson ? { logger: new ConsoleLogger({ json: true }) } : {});
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        logger.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
    });
  }
  await app.listen(config.port, '0.0.0.0');
  logger.log(
    `listening on ${await app.getUrl()} (${config.adapter}, ${config.redisUrl ? 'Redis' : 'in-memory'} store)`,
  );
}

bootstrap().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
