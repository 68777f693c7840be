import type { INestApplication, Type } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { SseResumeModule } from '../sse-resume.module';
import { SseTaskService } from '../sse-task.service';

export type Adapter = 'express' | 'fastify';

export interface TestApp {
  app: INestApplication;
  tasks: SseTaskService;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

/**
 * A Nest app with the library and the given controllers on a free loopback port, without
 * logs (test helper, not part of the public API).
 */
export async function startTestApp(
  adapter: Adapter,
  controllers: Type[],
  options: SseResumeOptions = {},
  configure?: (app: INestApplication) => void,
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(options)],
    controllers,
  }).compile();
  moduleRef.useLogger(false);
  let app: INestApplication;
  if (adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
  } else {
    app = moduleRef.createNestApplication({ logger: false });
  }
  configure?.(app);
  const listening = await listenOnLoopback(app);
  return {
    app,
    tasks: app.get(SseTaskService),
    url: listening.url,
    close: async () => {
      listening.destroySockets();
      await app.close();
    },
  };
}

/** A Nest app listening on a free loopback port, with the sockets it has open. */
export interface LoopbackListener {
  port: number;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** Cuts every open connection (streams would otherwise hold `app.close()` up). */
  destroySockets(): void;
}

/**
 * `app.listen(port, '127.0.0.1')` (0: any free port), tracking the server's sockets so that a
 * test can cut open streams when it closes the app. Used by {@link startTestApp} and the e2e
 * `startApp`.
 */
export async function listenOnLoopback(app: INestApplication, port = 0): Promise<LoopbackListener> {
  const server = app.getHttpServer() as Server;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await app.listen(port, '127.0.0.1');
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    destroySockets: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}
