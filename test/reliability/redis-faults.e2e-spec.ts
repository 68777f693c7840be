import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTask, getInfo, openStream, readStream, requestJson, waitForInfo } from '../utils/api';
import { freePort, PrivateRedis } from '../utils/redis';
import { dataOf, eventFrames, idOf, parseFrames } from '../utils/sse-frames';
import { type RunningApp, startApp } from '../utils/start-app';

const STORE_FAILED = 'Task events could not be stored';

/**
 * Guarantee 7: the app's Redis (a private redis-server, AOF on) is killed with SIGKILL while
 * a task streams, then restarted. No crash; while it is down new requests get 503 JSON with
 * Retry-After; open streams end (no terminal event) so clients resume; the task, whose
 * events can no longer be stored, fails loudly ("Task events could not be stored", stored
 * once Redis is back); nothing that was stored is lost; and the app serves again.
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

  it('no crash, 503 while down, streams end and resume once it is back, stored events intact, the task failed loudly', async () => {
    const task = await createTask(server.baseUrl, { steps: 1_000, intervalMs: 10 });
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
    // The task could not store its next event: it is failed, and that end is stored once Redis is back.
    const failed = await waitForInfo(
      server.baseUrl,
      task,
      (info) => info.status === 200 && info.json.status !== 'running',
      'the failed task to be stored',
      15_000,
    );
    expect(failed.json).toMatchObject({ status: 'failed', error: STORE_FAILED });
    const endId = failed.json.lastEventId;
    expect(endId).toBeGreaterThan(before.length);

    // The client resumes after the last event it had: the rest, then `end` failed.
    const resumed = await readStream(server.baseUrl, task.streamUrl, { 'Last-Event-ID': before.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    const after = eventFrames(parseFrames(resumed.text).frames);
    const all = [...before, ...after];
    expect(all.map(idOf)).toEqual(Array.from({ length: endId }, (_, i) => i + 1));
    expect(dataOf(all.at(-1)!)).toEqual({ status: 'failed', error: STORE_FAILED });
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
      `Redis fault: ${before.length} events before the kill, task failed at event ${endId}; ` +
        `nothing stored was lost`,
    );
  }, 60_000);
});
