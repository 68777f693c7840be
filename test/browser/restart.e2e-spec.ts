import type { Browser, BrowserContext } from 'playwright-core';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { type RunningApp, startApp } from '../utils/start-app';
import {
  barValue,
  demoEvents,
  expectEveryEventOnce,
  lastEventIdAtLeast,
  launchChromium,
  RequestRecorder,
  requireChromium,
  text,
  waitForText,
} from './browser-helpers';

const PREFIX = uniquePrefix('e2e-browser-restart');
/**
 * The task ends within the shutdown grace, and before the page's first reconnect (the
 * server's `retry:` of 2 s): that reconnect finds the server gone (connection refused).
 */
const ENV = {
  REDIS_URL: TEST_REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  RETRY_MS: '2000',
  SHUTDOWN_GRACE_MS: '5000',
};
const STEPS = 30;
const INTERVAL_MS = 40;

/**
 * The example app (Redis store) is stopped while the demo page streams a task, and started
 * again on the same port: the page retries the refused connections, then resumes from the
 * history in Redis and finishes with every event once.
 */
describe('demo page in Chromium: the server restarts mid-task (express, Redis)', () => {
  if (!requireChromium()) return;

  let first: RunningApp | undefined;
  let second: RunningApp | undefined;
  let browser: Browser;
  let context: BrowserContext;
  const recorder = new RequestRecorder();

  beforeAll(async () => {
    first = await startApp('express', ENV);
    browser = await launchChromium();
    context = await browser.newContext();
    recorder.watch(context);
  });

  afterAll(async () => {
    await browser?.close();
    await first?.close();
    await second?.close();
    await deleteKeys(PREFIX);
  });

  it('finishes with status completed and every event once after a stop and start of the app', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${first!.baseUrl}/`);
    await page.fill('#steps', String(STEPS));
    await page.fill('#interval', String(INTERVAL_MS));
    await page.click('#start');
    await waitForText(page, 'last-event-id', lastEventIdAtLeast(8));
    const taskId = await text(page, 'task');

    // Streams end at once; the task runs to its end within the grace; then the port closes.
    const stoppedAt = Date.now();
    await first!.close();
    const downAfterMs = Date.now() - stoppedAt;
    const port = first!.port;
    first = undefined;
    expect(Number(await text(page, 'last-event-id'))).toBeLessThan(STEPS); // the rest is in Redis only

    // The page finds no server (connection refused), and says so, before it comes back.
    await waitForText(page, 'log', (log) => /reconnecting in \d+ ms.*: Failed to fetch/.test(log), 10_000);
    expect(await text(page, 'status')).toBe('reconnecting');
    second = await startApp('express', ENV, { port, logger: false });

    await waitForText(page, 'status', (value) => value === 'completed', 20_000);
    expectEveryEventOnce(await demoEvents(page), STEPS);
    expect(await text(page, 'task')).toBe(taskId);
    expect(await barValue(page)).toBe(100);
    expect(await text(page, 'gaps')).toBe('0');
    expect(Number(await text(page, 'reconnects'))).toBeGreaterThanOrEqual(2);
    await recorder.expectNoKeyInUrls();
    expect(errors).toEqual([]);
    console.log(
      `restart: the app took ${downAfterMs} ms to stop; the page reconnected ` +
        `${await text(page, 'reconnects')} times:\n${(await text(page, 'log'))
          .split('\n')
          .filter((line) => line.includes('reconnect') || line.includes('connected'))
          .join('\n')}`,
    );
    await page.close();
  });
});
