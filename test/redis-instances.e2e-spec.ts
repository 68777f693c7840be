import { cancelTask, createTask, getInfo, openStream, readStream } from './utils/api';
import { startCuttingProxy, type CuttingProxy } from './utils/cutting-proxy';
import { openRaw } from '@app/sse-resume/testing/raw-http';
import { dataOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { Random, seedFromEnv } from '@app/sse-resume/testing/prng';
import { startApp, type RunningApp } from './utils/start-app';
import { type ChildApp, killChildApp, startChildApp } from './utils/child-app';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';

/**
 * Two instances of the example app share one Redis: instance A runs in its own process
 * (so that it can be killed with SIGKILL), instance B in this one.
 */
const PREFIX = uniquePrefix('e2e-instances');
const ENV = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: PREFIX };
/** The bound for noticing a dead owner. */
const OWNER_LOSS_LIMIT_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('two instances, one Redis', () => {
  let a: ChildApp;
  let b: RunningApp;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startChildApp({ ...ENV, HTTP_ADAPTER: 'fastify' }),
      startApp('express', ENV),
    ]);
  });

  afterAll(async () => {
    await killChildApp(a);
    await b.close();
    await deleteKeys(PREFIX);
  });

  it('streams a task started on A from B, resuming alternately on A and B through cutting proxies', async () => {
    const seed = seedFromEnv();
    const rng = new Random(seed);
    const proxies: CuttingProxy[] = await Promise.all(
      [a.url, b.baseUrl].map((target, i) =>
        startCuttingProxy({
          target,
          seed: seed + i,
          minBytes: 150,
          maxBytes: 1_500,
          cutRequest: (line) => line.includes('/events'),
        }),
      ),
    );
    try {
      const steps = 200;
      const task = await createTask(a.url, { steps, intervalMs: 5 });
      const events: SseFrame[] = [];
      let lastEventId: string | undefined;
      let attempts = 0;
      let ended = false;
      while (!ended && attempts < 500) {
        const proxy = proxies[attempts % 2]!;
        attempts++;
        const response = await openStream(
          proxy.url,
          task.streamUrl,
          lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId },
        ).done.catch(() => undefined);
        if (!response) continue;
        if (response.status === 204) break;
        expect(response.status).toBe(200);
        for (const frame of parseFrames(response.text).frames) {
          if (frame.id !== undefined) lastEventId = frame.id;
          if (frame.event === undefined) continue;
          events.push(frame);
          if (frame.event === 'end') ended = true;
        }
        if (rng.next() < 0.2) await sleep(rng.int(0, 30)); // sometimes reconnect a little later
      }
      const ids = events.map((frame) => Number(frame.id));
      const context = `seed ${seed}, ${attempts} attempts, cuts A ${proxies[0]!.cuts.length} B ${proxies[1]!.cuts.length}`;
      expect({ context, ids }).toEqual({ context, ids: Array.from({ length: steps + 1 }, (_, i) => i + 1) });
      expect(events.at(-1)).toMatchObject({ event: 'end' });
      expect(dataOf(events.at(-1)!)).toMatchObject({ status: 'completed' });
      expect(proxies[0]!.cuts.length + proxies[1]!.cuts.length).toBeGreaterThan(5);
      expect(proxies[0]!.cuts.length).toBeGreaterThan(0);
      expect(proxies[1]!.cuts.length).toBeGreaterThan(0);
    } finally {
      await Promise.all(proxies.map((proxy) => proxy.close()));
    }
  });

  it('shares task info: B reports a task A runs', async () => {
    const task = await createTask(a.url, { steps: 3, intervalMs: 1 });
    const info = await getInfo(b.baseUrl, task.taskId, task.resumeKey);
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ taskId: task.taskId });
    expect((await getInfo(b.baseUrl, task.taskId, 'wrong-key')).status).toBe(403);
  });

  it('cancels on B a task owned by A: A stops it and every stream ends with cancelled', async () => {
    const task = await createTask(a.url, { steps: 100_000, intervalMs: 20 });
    const onA = openStream(a.url, task.streamUrl);
    const onB = openStream(b.baseUrl, task.streamUrl);
    await sleep(150);
    const cancelled = await cancelTask(b.baseUrl, task.taskId, task.resumeKey);
    expect(cancelled.status).toBe(202);
    for (const stream of [onA, onB]) {
      const response = await stream.done;
      const events = parseFrames(response.text).frames.filter((f) => f.event !== undefined);
      expect(events.at(-1)).toMatchObject({ event: 'end' });
      expect(dataOf(events.at(-1)!)).toMatchObject({ status: 'cancelled' });
    }
    // A aborted the task's signal: no event is appended after the end.
    const before = await getInfo(a.url, task.taskId, task.resumeKey);
    await sleep(100);
    const after = await getInfo(a.url, task.taskId, task.resumeKey);
    expect(before.json).toMatchObject({ status: 'cancelled' });
    expect(after.json.lastEventId).toBe(before.json.lastEventId);
  });

  it('fails a task within 30 s on B when its owner A is killed with SIGKILL', async () => {
    const task = await createTask(a.url, { steps: 100_000, intervalMs: 50 });
    const stream = openRaw(b.baseUrl + task.streamUrl, { timeoutMs: OWNER_LOSS_LIMIT_MS + 10_000 });
    await sleep(300);
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    const response = await stream.done;
    const detectedMs = Date.now() - killedAt;
    const events = parseFrames(response.text).frames.filter((f) => f.event !== undefined);
    const end = events.at(-1)!;
    expect(end.event).toBe('end');
    expect(dataOf(end)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/owner instance .* lost/),
    });
    expect(detectedMs).toBeLessThan(OWNER_LOSS_LIMIT_MS);
    console.log(`owner crash detected after ${detectedMs} ms`);
    const again = await readStream(b.baseUrl, task.streamUrl, { 'Last-Event-ID': end.id! });
    expect(again.status).toBe(204);
  }, 60_000);
});
