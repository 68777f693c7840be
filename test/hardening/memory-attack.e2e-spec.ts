import { TaskStore } from '@app/sse-resume';
import type { InMemoryTaskStore } from '@app/sse-resume';
import { type CreatedTask, readStream, requestJson, waitForInfo } from '../utils/api';
import { eventFrames, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

const MIB = 1024 * 1024;
const BUDGET = 24 * MIB;

/**
 * Issue 10, item 1, bounded to a small budget: anonymous POSTs of 8 events of 1 MiB each
 * used to keep 8 MiB per finished task for the whole TTL until the process died. With
 * `HISTORY_BUDGET_BYTES` the history held stays near the budget, old finished tasks answer
 * `gap` then `end` (refusing a task with 503 `STORE_FULL` when even shedding cannot make
 * room is covered by the store contract suite).
 */
describe.each(ADAPTERS)('memory attack under a history budget (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  beforeAll(async () => {
    server = await startApp(adapter, { HISTORY_BUDGET_BYTES: String(BUDGET), TASK_TTL_MS: '600000' });
  });
  afterAll(() => server.close());

  it('40 tasks of 8 x 1 MiB: history stays within the budget, the oldest answer gap then end', async () => {
    const store = server.app.get<InMemoryTaskStore>(TaskStore);
    const tasks: CreatedTask[] = [];
    let peak = 0;
    for (let i = 0; i < 40; i++) {
      const response = await requestJson<CreatedTask>(server.baseUrl, 'POST', '/tasks', {
        body: JSON.stringify({ steps: 8, intervalMs: 0, payloadBytes: MIB }),
      });
      if (response.status === 201) {
        tasks.push(response.json);
        await waitForInfo(
          server.baseUrl,
          response.json,
          (r) => r.json.status !== 'running',
          'the task to end',
        );
      } else {
        expect(response.status).toBe(503);
        expect(response.json).toMatchObject({ code: 'STORE_FULL' });
        expect(response.headers['retry-after']).toBe('5');
      }
      peak = Math.max(peak, store.stats().bytes);
    }
    // Every task finished, so the oldest could always make room: all were admitted.
    expect(tasks).toHaveLength(40);
    // Without the budget: 40 x 8 MiB = 320 MiB held. The newest event of the writer always stays.
    expect(peak).toBeLessThanOrEqual(BUDGET + MIB + 1024);
    const first = await readStream(
      server.baseUrl,
      `/tasks/${tasks[0]!.taskId}/events?key=${tasks[0]!.resumeKey}`,
    );
    expect(eventFrames(parseFrames(first.text).frames).map((f) => f.event)).toEqual(['gap', 'end']);
    const last = tasks[tasks.length - 1]!;
    const newest = await readStream(server.baseUrl, `/tasks/${last.taskId}/events?key=${last.resumeKey}`);
    expect(
      eventFrames(parseFrames(newest.text).frames)
        .map((f) => f.event)
        .slice(-1),
    ).toEqual(['end']);
  });
});
