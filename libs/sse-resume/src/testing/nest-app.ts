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
  const server = app.getHttpServer() as Server;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await app.listen(0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  return {
    app,
    tasks: app.get(SseTaskService),
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await app.close();
    },
  };
}
