import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config';

export type Adapter = 'express' | 'fastify';
export const ADAPTERS: readonly Adapter[] = ['express', 'fastify'];

export interface RunningApp {
  app: INestApplication;
  adapter: Adapter;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  baseUrl: string;
  port: number;
  /** Closes the app (idempotent); sockets still open after 2 s are destroyed. */
  close(): Promise<void>;
}

/** Longest `close()` waits for open connections before destroying them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Boots the example app in this process on a free loopback port, through the same
 * `createApp(loadConfig(env))` path as `src/main.ts`, without logs.
 */
export async function startApp(
  adapter: Adapter,
  envOverrides: Record<string, string> = {},
): Promise<RunningApp> {
  const config = loadConfig({ HTTP_ADAPTER: adapter, PORT: '0', ...envOverrides });
  const app = await createApp(config, { logger: false });
  const server = app.getHttpServer() as Server;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await app.listen(0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    app,
    adapter,
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      (closing ??= (async () => {
        const timer = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, CLOSE_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}
