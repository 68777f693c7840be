import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SseResumeModule } from '../sse-resume.module';
import { freePort, startRedis, stopRedis } from '../testing/private-redis';

/**
 * A worker instance's shutdown is bounded when its Redis went away and came back empty
 * (crashed without persistence, restarted): BullMQ's close can wait for ever there, so each
 * close is given up after a bound and its connections dropped.
 */
describe('DurableTaskRuntime shutdown after Redis crashed and restarted', () => {
  let dir: string;
  let redis: ChildProcess | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sse-durable-shutdown-'));
  });
  afterAll(async () => {
    if (redis) await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('closes within a few seconds, without hanging on the dead connections', async () => {
    const port = await freePort();
    redis = await startRedis(port, dir, false);
    const url = `redis://127.0.0.1:${port}`;
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({
          store: 'redis',
          redis: { url, keyPrefix: 'shutdown:' },
          durable: { queueName: 'shutdown', lockDurationMs: 2_000, stalledIntervalMs: 1_000 },
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();

    await stopRedis(redis, 'SIGKILL');
    redis = await startRedis(port, dir, false);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the clients reconnect meanwhile

    const started = Date.now();
    await moduleRef.close();
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});
