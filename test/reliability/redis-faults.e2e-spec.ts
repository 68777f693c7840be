import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTask, getInfo, openStream, readStream, requestJson, waitForInfo } from '../utils/api';
import { freePort, PrivateRedis } from '@app/sse-resume/testing/private-redis';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { type RunningApp, startApp } from '../utils/start-app';

/**
 * Guarantee 7: the app's Redis (a private redis-server, AOF on) is killed with SIGKILL while
 * a task streams, then restarted. No crash; while it is down new requests get 503 JSON with
 * Retry-After; open streams end (no terminal event) so clients resume; the task's writes
 * wait for Redis (`writeRetryMs`, 10 s by default) and go on once it is back, so the task
 * completes with every id exactly once; nothing that was stored is lost; and the app serves
 * again. (Redis away for longer than `writeRetryMs` fails the task loudly: the Redis store's
 * spec `redis-write-retry.spec.ts` and the service's spec cover that path.)
 */
describe('Redis killed and restarted under a streaming task', () => {
  let redis: PrivateRedis;
  let server: RunningApp;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort(), mkdtempSync(join(tmpdir(), 'sse-redis-')));
    await redis.start();
    server = await startApp('express', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'faults:' });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.kill();
    rmSync(redis.dir, { recursive: true, force: true });
  });

  it('no crash, 503 while down, streams end and resume once it is back, stored events intact, the task completes', async () => {
    const steps = 300;
    const task = await createTask(server.baseUrl, { steps, intervalMs: 10 });
    const stream = openStream(server.baseUrl, task.streamUrl);
    await stream.waitForFrames((frames) => eventFrames(frames).length >= 20, '20 events');

    await redis.kill();
    // The open stream ends without an `end` event: the client will resume.
    const cut = await stream.done;
    expect(cut.status).toBe(200);
    const before = eventFrames(parseFrames(cut.text).frames);
    expect(before.every((frame) => frame.event === 'progress')).toBe(true);
    expect(before.map(idOf)).toEqual(Array.from({ length: before.length }, (_, i) => i + 1));

    // While Redis is down: 503 JSON with Retry-After on every route, and the app stays up.
    for (const [method, path] of [
      ['POST', '/tasks'],
      ['GET', `/tasks/${task.taskId}?key=${task.resumeKey}`],
      ['GET', task.streamUrl],
      ['DELETE', `/tasks/${task.taskId}?key=${task.resumeKey}`],
    ] as const) {
      const response = await requestJson<{ code: string }>(server.baseUrl, method, path, {
        ...(method === 'POST' && { body: '{}' }),
      });
      expect({ method, path, status: response.status, code: response.json.code }).toEqual({
        method,
        path,
        status: 503,
        code: 'STORE_UNAVAILABLE',
      });
      expect(response.headers['retry-after']).toBe('5');
    }
    const page = await requestJson(server.baseUrl, 'GET', '/');
    expect(page.status).toBe(200);

    await redis.start();
    // The event the task was storing waited for Redis (within writeRetryMs): the task goes on.
    const ended = await waitForInfo(
      server.baseUrl,
      task,
      (info) => info.status === 200 && info.json.status !== 'running',
      'the task to end',
      30_000,
    );
    expect(ended.json).toMatchObject({ status: 'completed' });
    const endId = ended.json.lastEventId;
    expect(endId).toBe(steps + 1);

    // The client resumes after the last event it had: the rest, then `end` completed.
    const resumed = await readStream(server.baseUrl, task.streamUrl, { 'Last-Event-ID': before.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    const after = eventFrames(parseFrames(resumed.text).frames);
    const all = [...before, ...after];
    expect(all.map(idOf)).toEqual(Array.from({ length: endId }, (_, i) => i + 1));
    expect(dataOf(all.at(-1)!)).toMatchObject({ status: 'completed' });
    // Everything stored before the kill survived it (append-only file) unchanged.
    const replay = await readStream(server.baseUrl, task.streamUrl);
    const replayed = eventFrames(parseFrames(replay.text).frames);
    expect(replayed.map((frame) => frame.lines)).toEqual(all.map((frame) => frame.lines));
    for (const frame of replayed.slice(0, -1)) expect(dataOf<{ step: number }>(frame).step).toBe(idOf(frame));

    // And the app serves new tasks again.
    const fresh = await createTask(server.baseUrl, { steps: 5, intervalMs: 0 });
    const done = await readStream(server.baseUrl, fresh.streamUrl);
    expect(eventFrames(parseFrames(done.text).frames).map(idOf)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await getInfo(server.baseUrl, fresh.taskId, fresh.resumeKey)).json.status).toBe('completed');
    console.log(
      `Redis fault: ${before.length} events before the kill, task completed with ${endId - 1} events ` +
        `exactly once; nothing stored was lost`,
    );
  }, 60_000);
});
