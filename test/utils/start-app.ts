import type { INestApplication, LoggerService } from '@nestjs/common';
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
  /** Closes the app (idempotent); sockets still open after 2 s are destroyed. */
  close(): Promise<void>;
}

/** Longest `close()` waits for open connections before destroying them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Boots the example app in this process (the library's own small test app is
 * `startTestApp` in `@app/sse-resume/testing/nest-app`) on a free loopback port, through the same
 * `createApp(loadConfig(env))` path as `src/main.ts`. Its logs go to `logger`, else to the e2e
 * run's log file (JSON, see log-capture.ts), else nowhere.
 */
export async function startApp(
  adapter: Adapter,
  envOverrides: Record<string, string> = {},
  { logger }: { logger?: LoggerService } = {},
): Promise<RunningApp> {
  const config = loadConfig({ HTTP_ADAPTER: adapter, PORT: '0', ...envOverrides });
  const app = await createApp(config, { logger: logger ?? runLogger() });
  const { port, url, destroySockets } = await listenOnLoopback(app);
  let closing: Promise<void> | undefined;
  return {
    app,
    adapter,
    baseUrl: url,
    port,
    close: () =>
      (closing ??= (async () => {
        const timer = setTimeout(destroySockets, CLOSE_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}
