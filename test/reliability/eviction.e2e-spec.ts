import { InMemoryTaskStore, SseTaskService, TaskStore } from '@app/sse-resume';
import { cancelTask, createTask, getInfo, openStream, readStream, waitForInfo } from '../utils/api';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

const TTL_MS = 500;

async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Guarantee 8, the part that fits in `npm test` (the two-minute run is `npm run soak`): once
 * tasks have ended and their TTL passed, the memory store holds nothing of them (expired
 * tasks answer 410 for one more TTL, then 404), no task or stream is left in the service, and
 * the process has the same active handles as before the load.
 */
describe.each(ADAPTERS)('TTL eviction frees everything (%s, TASK_TTL_MS=500)', (adapter: Adapter) => {
  let server: RunningApp;
  beforeAll(async () => {
    server = await startApp(adapter, { TASK_TTL_MS: String(TTL_MS) });
  });
  afterAll(() => server.close());

  it('completed, failed and cancelled tasks with streams that came and went: store, service and handles back to empty', async () => {
    const store = server.app.get<InMemoryTaskStore>(TaskStore);
    const service = server.app.get(SseTaskService);
    expect(store).toBeInstanceOf(InMemoryTaskStore);
    const handlesBefore = process.getActiveResourcesInfo().length;

    const tasks = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createTask(server.baseUrl, {
          steps: 30,
          intervalMs: i % 3,
          payloadBytes: 512,
          ...(i % 4 === 1 && { failAt: 10 }),
          ...(i % 4 === 2 && { intervalMs: 1_000 }), // cancelled below
        }),
      ),
    );
    const work = tasks.map(async (task, i) => {
      if (i % 4 === 2) {
        const stream = openStream(server.baseUrl, task.streamUrl);
        await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 1, 'a subscriber');
        await cancelTask(server.baseUrl, task.taskId, task.resumeKey);
        await stream.done;
        return;
      }
      // One reader to the end, one that leaves early.
      const leaver = openStream(server.baseUrl, task.streamUrl);
      await leaver.waitForFrames((frames) => frames.length >= 2, 'an event').catch(() => undefined);
      await leaver.close();
      await readStream(server.baseUrl, task.streamUrl);
    });
    await Promise.all(work);
    // All 12 are held, or (under load, the first ones) already expired into expiry records.
    const held = store.stats();
    expect(held.tasks + held.tombstones).toBe(12);

    // After the TTL: expired (410), holding no events; after one more: forgotten (404).
    await waitUntil(() => store.stats().tasks === 0, 'the tasks to expire');
    expect(store.stats()).toMatchObject({ tasks: 0, events: 0, bytes: 0, tombstones: 12 });
    const expired = await getInfo(server.baseUrl, tasks[0]!.taskId, tasks[0]!.resumeKey);
    expect(expired.status).toBe(410);
    await waitUntil(() => store.stats().tombstones === 0, 'the expiry records to go');
    expect(store.stats()).toEqual({ tasks: 0, tombstones: 0, events: 0, bytes: 0 });
    expect((await getInfo(server.baseUrl, tasks[0]!.taskId, tasks[0]!.resumeKey)).status).toBe(404);
    expect(service.stats).toEqual({ runningTasks: 0, openStreams: 0 });
    // Sockets of the requests above close asynchronously; then the handles are those of before.
    await waitUntil(() => process.getActiveResourcesInfo().length <= handlesBefore, 'the handles to go');
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(handlesBefore);
  });
});
