import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startRedis, stopRedis } from '@app/sse-resume/testing/private-redis';
import { eventFrames } from '@app/sse-resume/testing/sse';
import { cancelTask, createTask, type JsonResponse, openStream, requestJson } from './utils/api';
import { ADAPTERS, type RunningApp, startApp } from './utils/start-app';

interface Indicator {
  status: 'up' | 'down';
  store: string;
  message?: string;
  latencyMs?: number;
  connection?: string;
  subscriber?: string;
  failedLeaseRenewals?: number;
  runningTasks: number;
  openStreams: number;
}

interface HealthBody {
  status: 'ok' | 'error' | 'shutting_down';
  info?: { sseResume?: Indicator };
  error?: { sseResume?: Indicator };
  details: { sseResume: Indicator };
}

function getHealth(server: RunningApp): Promise<JsonResponse<HealthBody>> {
  return requestJson<HealthBody>(server.baseUrl, 'GET', '/health');
}

/** Polls `GET /health` until it answers `status`; resolves to that answer and when it came. */
async function healthBecomes(
  server: RunningApp,
  status: number,
  withinMs: number,
): Promise<{ response: JsonResponse<HealthBody>; afterMs: number }> {
  const started = Date.now();
  for (;;) {
    const response = await getHealth(server);
    if (response.status === status) return { response, afterMs: Date.now() - started };
    if (Date.now() - started > withinMs) {
      throw new Error(`GET /health still ${response.status} after ${withinMs} ms: ${response.text}`);
    }
    await sleep(50);
  }
}

describe.each(ADAPTERS)('GET /health, memory store (%s)', (adapter) => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterAll(() => server?.close());

  it('answers 200 JSON, uncached, with the store up and the running tasks and open streams', async () => {
    const idle = await getHealth(server);
    expect(idle.status).toBe(200);
    expect(idle.headers['content-type']).toMatch(/^application\/json/);
    expect(idle.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(idle.json).toEqual({
      status: 'ok',
      info: {
        sseResume: {
          status: 'up',
          store: 'memory',
          latencyMs: expect.any(Number),
          runningTasks: 0,
          openStreams: 0,
        },
      },
      error: {},
      details: { sseResume: expect.objectContaining({ status: 'up' }) },
    });

    const task = await createTask(server.baseUrl, { steps: 1_000, intervalMs: 20 });
    const stream = openStream(server.baseUrl, task.streamUrl);
    try {
      await stream.waitForFrames((frames) => eventFrames(frames).length >= 1, 'a first event');
      const busy = await getHealth(server);
      expect(busy.json.info?.sseResume).toMatchObject({ runningTasks: 1, openStreams: 1 });
    } finally {
      await cancelTask(server.baseUrl, task.taskId, task.resumeKey);
      await stream.done;
    }
  });
});

/**
 * A private redis-server behind the app: paused (SIGSTOP: the socket stays open, nothing
 * answers, only the PING timeout can tell), then crashed (SIGKILL: the connection drops) and
 * started again. `/health` goes 503 within a bounded time each way and comes back to 200.
 */
describe('GET /health, Redis store going down and coming back', () => {
  let dir: string;
  let port: number;
  let redis: ChildProcess;
  let server: RunningApp;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-health-'));
    port = await freePort();
    redis = await startRedis(port, dir, false);
    server = await startApp('express', {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: 'health:',
    });
  });
  afterAll(async () => {
    redis?.kill('SIGCONT');
    await server?.close();
    if (redis) await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('200 while Redis answers: PING latency, both connections ready, no failed lease renewals', async () => {
    const { response } = await healthBecomes(server, 200, 5_000);
    expect(response.json.info?.sseResume).toEqual({
      status: 'up',
      store: 'redis',
      latencyMs: expect.any(Number),
      connection: 'ready',
      subscriber: 'ready',
      failedLeaseRenewals: 0,
      runningTasks: 0,
      openStreams: 0,
    });
  });

  it('503 with the reason within ~1 s of Redis hanging (SIGSTOP), 200 again once it goes on (SIGCONT)', async () => {
    redis.kill('SIGSTOP');
    try {
      const started = Date.now();
      const hung = await getHealth(server);
      const tookMs = Date.now() - started;
      expect(hung.status).toBe(503);
      expect(tookMs).toBeGreaterThanOrEqual(900);
      expect(tookMs).toBeLessThan(3_000); // the check is bounded by its 1 s timeout
      expect(hung.headers['content-type']).toMatch(/^application\/json/);
      expect(hung.json).toMatchObject({
        status: 'error',
        info: {},
        error: {
          sseResume: {
            status: 'down',
            store: 'redis',
            message: 'no answer to PING within 1000 ms',
            connection: 'ready',
          },
        },
      });
    } finally {
      redis.kill('SIGCONT');
    }
    const { afterMs } = await healthBecomes(server, 200, 3_000);
    expect(afterMs).toBeLessThan(3_000);
  });

  it('503 at once when Redis crashes (SIGKILL), 200 again within seconds of its restart', async () => {
    await stopRedis(redis, 'SIGKILL');
    const { response, afterMs } = await healthBecomes(server, 503, 3_000);
    expect(afterMs).toBeLessThan(3_000);
    expect(response.json.error?.sseResume).toMatchObject({
      status: 'down',
      store: 'redis',
      message: expect.stringMatching(/^the Redis connection is (reconnecting|connecting|close|end)$/),
    });

    redis = await startRedis(port, dir, false);
    const back = await healthBecomes(server, 200, 10_000);
    expect(back.response.json.info?.sseResume).toMatchObject({ status: 'up', connection: 'ready' });
  });
});
