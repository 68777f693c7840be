import { createTask, type CreatedTask, getInfo, openStream, requestJson } from '../utils/api';
import { rawRequest } from '@app/sse-resume/testing/raw-http';
import { dataOf, eventFrames, idOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { type RunningApp, startApp } from '../utils/start-app';
import { type ChildApp, killChildApp, startChildApp } from '../utils/child-app';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';

/** Instance A: the task's owner, in a process of its own. */
function startOwner(): Promise<ChildApp> {
  return startChildApp({ ...ENV, HTTP_ADAPTER: 'express', SHUTDOWN_GRACE_MS: String(GRACE_MS) });
}

const PREFIX = uniquePrefix('e2e-shutdown');
const ENV = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: PREFIX };
const GRACE_MS = 1_500;
/** The bound: a SIGTERM-ed instance is gone within 10 s. */
const EXIT_LIMIT_MS = 10_000;
const SHUTDOWN_ERROR = 'Server shut down before the task finished';

/**
 * Guarantee 6: SIGTERM to the instance that runs a task (Redis store, two instances).
 * The library's choice, documented in docs/reliability.md: open streams end at once (no
 * terminal event: clients resume elsewhere), new tasks are refused (503), running tasks go
 * on for shutdownGraceMs and are then failed with "Server shut down before the task
 * finished" (nothing is handed to another instance silently), the process exits within
 * 10 s. A client that resumes on the other instance sees every event exactly once, then
 * `completed` (the task finished within the grace) or `failed` with that message.
 */
describe('SIGTERM to the owner of a task, two instances on one Redis', () => {
  let b: RunningApp;
  let a: ChildApp | undefined;

  beforeAll(async () => {
    b = await startApp('fastify', ENV);
  });
  afterEach(async () => {
    // Only when a test failed half-way: the child this test started.
    await killChildApp(a);
    a = undefined;
  });
  afterAll(async () => {
    await b.close();
    await deleteKeys(PREFIX);
  });

  /** Streams from A until `minEvents`, SIGTERMs A, resumes on B; returns what the client saw. */
  async function terminateWhileStreaming(owner: ChildApp, task: CreatedTask, minEvents: number) {
    const onA = openStream(owner.url, task.streamUrl);
    await onA.waitForFrames((frames) => eventFrames(frames).length >= minEvents, `${minEvents} events`);
    const sentAt = Date.now();
    expect(owner.child.kill('SIGTERM')).toBe(true);
    const first = await onA.done;
    const endedAfterMs = Date.now() - sentAt;
    // Ended by the server without a terminal event, so the client reconnects (here: to B).
    expect(first.status).toBe(200);
    const seenOnA = eventFrames(parseFrames(first.text).frames);
    expect(seenOnA.every((frame) => frame.event === 'progress')).toBe(true);

    // During the grace A still answers, but starts nothing new.
    const refused = await requestJson<{ code: string }>(owner.url, 'POST', '/tasks', { body: '{}' });
    expect(refused.status).toBe(503);
    expect(refused.json.code).toBe('STORE_UNAVAILABLE');
    expect(refused.headers['retry-after']).toBe('5');

    const lastId = seenOnA.length === 0 ? undefined : seenOnA.at(-1)!.id!;
    const resumed = await rawRequest(b.baseUrl + task.streamUrl, {
      headers: { Accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'Last-Event-ID': lastId }) },
      timeoutMs: 30_000,
    });
    expect(resumed.status).toBe(200);
    const seenOnB = eventFrames(parseFrames(resumed.text).frames);
    const exit = await owner.exited;
    const exitedAfterMs = Date.now() - sentAt;
    return { seenOnA, seenOnB, endedAfterMs, exitedAfterMs, exit };
  }

  function expectEveryEventOnce(all: SseFrame[]): void {
    const ids = all.map(idOf);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    for (const frame of all.slice(0, -1)) expect(dataOf<{ step: number }>(frame).step).toBe(idOf(frame));
  }

  it('a task that outlives the grace: the client resumes on B, gets every event once, then `failed` (shutdown)', async () => {
    a = await startOwner();
    const task = await createTask(a.url, { steps: 100_000, intervalMs: 20 });
    const run = await terminateWhileStreaming(a, task, 5);
    const all = [...run.seenOnA, ...run.seenOnB];
    expectEveryEventOnce(all);
    const end = all.at(-1)!;
    expect(end.event).toBe('end');
    expect(dataOf(end)).toEqual({ status: 'failed', error: SHUTDOWN_ERROR });
    // The task ran on through the grace (B relayed its events live), then was failed.
    expect(run.seenOnB.length).toBeGreaterThan(10);
    expect(run.endedAfterMs).toBeLessThan(GRACE_MS);
    expect(run.exitedAfterMs).toBeGreaterThanOrEqual(GRACE_MS);
    expect(run.exitedAfterMs).toBeLessThan(EXIT_LIMIT_MS);
    expect(run.exit.code === 0 || run.exit.signal === 'SIGTERM').toBe(true);
    // Nothing acknowledged was lost: B's history from the start is exactly what the client saw.
    const info = await getInfo(b.baseUrl, task.taskId, task.resumeKey);
    expect(info.json).toMatchObject({ status: 'failed', error: SHUTDOWN_ERROR, lastEventId: idOf(end) });
    const replay = await rawRequest(b.baseUrl + task.streamUrl, { headers: { Accept: 'text/event-stream' } });
    expect(eventFrames(parseFrames(replay.text).frames).map((f) => f.lines)).toEqual(all.map((f) => f.lines));
    // A no longer accepts connections.
    await expect(rawRequest(`${a.url}/tasks/x`, { timeoutMs: 2_000 })).rejects.toThrow();
    console.log(
      `SIGTERM: streams ended after ${run.endedAfterMs} ms, A exited after ${run.exitedAfterMs} ms ` +
        `(grace ${GRACE_MS} ms); ${run.seenOnA.length} events on A, ${run.seenOnB.length} on B`,
    );
  }, 60_000);

  it('a task that finishes within the grace: the client resumes on B and sees it `completed`', async () => {
    a = await startOwner();
    const task = await createTask(a.url, { steps: 40, intervalMs: 20 });
    const run = await terminateWhileStreaming(a, task, 3);
    const all = [...run.seenOnA, ...run.seenOnB];
    expectEveryEventOnce(all);
    expect(all.map(idOf)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(dataOf(all.at(-1)!)).toEqual({ status: 'completed', result: { steps: 40 } });
    // A waited for its task only as long as it ran, not the whole grace.
    expect(run.exitedAfterMs).toBeLessThan(EXIT_LIMIT_MS);
    expect(run.exit.code === 0 || run.exit.signal === 'SIGTERM').toBe(true);
  }, 60_000);
});
