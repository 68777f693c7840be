import { ConsoleLogger, Logger } from '@nestjs/common';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.factory';
import { loadConfig } from './config';
import { exitIfShutdownHangs } from './shutdown-deadline';

/** Every interface: the app is meant to be reached from outside its container or host. */
const HOST = '0.0.0.0';

async function bootstrap(): Promise<void> {
  const logger = new Logger('Bootstrap');
  const config = loadConfig();
  const app = await createApp(config, config.logJson ? { logger: new ConsoleLogger({ json: true }) } : {});
  exitIfShutdownHangs(logger);
  await app.listen(config.port, HOST);
  // The address bound, not app.getUrl(), which names 127.0.0.1 for a server on every interface.
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  const store = config.redisClusterNodes ? 'Redis Cluster' : config.redisUrl ? 'Redis' : 'in-memory';
  const durable = config.durable
    ? `, durable tasks ${config.durable.workers ? 'with' : 'without'} a worker`
    : '';
  logger.log(
    `listening on http://${HOST}:${port}, every interface (${config.adapter}, ${store} store${durable})`,
  );
}

bootstrap().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
