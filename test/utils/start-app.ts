import type { INestApplication, LoggerService } from '@nestjs/common';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { type Adapter, listenOnLoopback } from '@app/sse-resume/testing/nest-app';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config';
import { runLogger } from './log-capture';

export type { Adapter };
export const ADAPTERS: readonly Adapter[] = ['express', 'fastify'];

export interface RunningApp {
  app: INestApplication;
  adapter: Adapter;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  baseUrl: string;
  port: number;
  /** Closes the app (idempotent); sockets still open after 2 s are destroyed (at once with `cutOnClose`). */
  close(): Promise<void>;
}

/** Longest `close()` waits for open connections before destroying them. */
const CLOSE_GRACE_MS = 2_000;

export interface StartAppOptions {
  /** Where its logs go; default: the e2e run's log file (JSON, see log-capture.ts); `false`: nowhere. */
  logger?: LoggerService | false;
  /** Loopback port; default 0 (any free one). A given port starts an app again where clients look for it. */
  port?: number;
  /**
   * `close()` cuts every open connection at once, and refuses new ones while the app stops
   * (a client reconnecting meanwhile sees its connection refused or reset), instead of
   * letting streams run for up to 2 s.
   */
  cutOnClose?: boolean;
}

/**
 * Boots the example app in this process (the library's own small test app is
 * `startTestApp` in `@app/sse-resume/testing/nest-app`) on a loopback port, through the same
 * `createApp(loadConfig(env))` path as `src/main.ts`.
 */
export async function startApp(
  adapter: Adapter,
  envOverrides: Record<string, string> = {},
  { logger, port = 0, cutOnClose = false }: StartAppOptions = {},
): Promise<RunningApp> {
  const config = loadConfig({ HTTP_ADAPTER: adapter, PORT: String(port), ...envOverrides });
  const app = await createApp(config, { logger: logger ?? runLogger() });
  let closing: Promise<void> | undefined;
  if (cutOnClose) {
    (app.getHttpServer() as Server).on('connection', (socket: Socket) => {
      if (closing) socket.destroy(); // a client reconnecting while the app stops
    });
  }
  const listening = await listenOnLoopback(app, port);
  const { destroySockets } = listening;
  return {
    app,
    adapter,
    baseUrl: listening.url,
    port: listening.port,
    close: () =>
      (closing ??= (async () => {
        if (cutOnClose) destroySockets();
        const timer = setTimeout(destroySockets, CLOSE_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}
