import type { Browser } from 'playwright-core';
import {
  attemptStarts,
  durableEnv,
  startDurableCluster,
  waitFor,
  type DurableCluster,
} from '../durable/durable-harness';
import {
  barValue,
  demoEvents,
  lastEventIdAtLeast,
  launchChromium,
  requireChromium,
  text,
  waitForText,
} from './browser-helpers';

const STEPS = 30;
const INTERVAL_MS = 100;

/**
 * The demo page's durable box: the task runs on one of two worker processes; kill -9 that
 * worker and the page shows the `retry` event, attempt 2, and goes on to the end, every
 * step once.
 */
describe('demo page in Chromium: a durable task survives its worker (Redis, BullMQ)', () => {
  if (!requireChromium()) return;

  let cluster: DurableCluster;
  let browser: Browser;

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([
      startDurableCluster(durableEnv('browser'), { workers: 2, http: 1 }),
      launchChromium(),
    ]);
  }, 45_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
  });

  it('kill -9 of the worker: retry in the log, attempt 2, completed with every step once', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${cluster.http[0]!.url}/`);
    await page.fill('#steps', String(STEPS));
    await page.fill('#interval', String(INTERVAL_MS));
    await page.check('#durable');
    await page.click('#start');
    await waitForText(page, 'last-event-id', lastEventIdAtLeast(5));
    expect(await text(page, 'attempt')).toBe('1');
    const taskId = await text(page, 'task');
    const { worker } = await waitFor(() => attemptStarts(cluster.workers, taskId)[0], 'the attempt');
    worker.child.kill('SIGKILL');

    await waitForText(page, 'status', (value) => value === 'completed', 20_000);
    expect(await text(page, 'attempt')).toBe('2');
    expect(await text(page, 'log')).toMatch(/#\d+ retry: attempt 2 \(.+\)/);
    const events = await demoEvents(page);
    expect(events.map((event) => event.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((event) => event.type === 'retry')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'progress')).toHaveLength(STEPS);
    expect(events.at(-1)!.type).toBe('end');
    expect(await barValue(page)).toBe(100);
    expect(errors).toEqual([]);
    await page.close();
  }, 40_000);
});
