import { createTask, waitForInfo } from './utils/api';
import { startCuttingProxy, type CuttingProxy } from './utils/cutting-proxy';
import { followWithResume } from './utils/resuming-client';
import { seedFromEnv, withSeed } from '@app/sse-resume/testing/prng';
import { dataOf, idOf } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

const STEPS = 300;

/**
 * Contract: a client that reconnects with Last-Event-ID after every cut (FIN or RST, at a
 * random byte, mid-head, mid-frame or mid-chunk) sees every id exactly once, in order,
 * through `end`. The task runs while the cuts happen, so both replay and live delivery
 * are cut. The seed is printed on failure; rerun with SSE_RESUME_SEED=<seed>.
 */
describe.each(ADAPTERS)('connection cuts through a cutting proxy (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let proxy: CuttingProxy | undefined;

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(() => server.close());

  it(`a resuming client gets ids 1..${STEPS + 1} exactly once, in order, through end (>= 20 cuts)`, async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      // At most 1500 response bytes per connection, ~85 per event: 25 KiB of events need > 20 cuts.
      proxy = await startCuttingProxy({ target: server.baseUrl, seed, minBytes: 150, maxBytes: 1_500 });
      const task = await createTask(server.baseUrl, { steps: STEPS, intervalMs: 2 });
      const run = await followWithResume(proxy.url, task.streamUrl);

      const ids = run.events.map(idOf);
      expect(ids).toEqual(Array.from({ length: STEPS + 1 }, (_, i) => i + 1));
      expect(run.events.slice(0, STEPS).every((frame) => frame.event === 'progress')).toBe(true);
      for (const frame of run.events.slice(0, STEPS)) {
        expect(dataOf<{ step: number }>(frame).step).toBe(idOf(frame));
      }
      const end = run.events[STEPS]!;
      expect(end.event).toBe('end');
      expect(dataOf(end)).toEqual({ status: 'completed', result: { steps: STEPS } });

      expect(proxy.cuts.length).toBeGreaterThanOrEqual(20);
      expect(proxy.cuts.filter((cut) => cut.kind === 'fin').length).toBeGreaterThanOrEqual(10);
      expect(proxy.cuts.filter((cut) => cut.kind === 'reset').length).toBeGreaterThanOrEqual(10);
      // The client saw both kinds of endings, and resumed after each one.
      const endings = new Set(run.attempts.map((attempt) => attempt.endedBy));
      expect(endings).toContain('fin');
      expect(endings).toContain('error');
      // Once the client has an id it always resumes from it, never from an earlier one.
      const sent = run.attempts.map((attempt) => attempt.lastEventId);
      const firstWithId = sent.findIndex((id) => id !== undefined);
      const resumedFrom = sent.slice(firstWithId).map(Number);
      expect(
        resumedFrom.every((id, i) => Number.isInteger(id) && (i === 0 || id >= resumedFrom[i - 1]!)),
      ).toBe(true);
      expect(resumedFrom.length).toBeGreaterThanOrEqual(20);

      // Every cut connection was let go on the server: no subscriber leaks.
      await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 0, 'no open streams');
    });
  });
});
