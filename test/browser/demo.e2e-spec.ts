import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { seedFromEnv, withSeed } from '@app/sse-resume/testing/prng';
import { cancelTask, createTask, getInfo } from '../utils/api';
import { startCuttingProxy, type CuttingProxy } from '../utils/cutting-proxy';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';
import {
  barValue,
  demoEvents,
  expectEveryEventOnce,
  lastEventIdAtLeast,
  launchChromium,
  RequestRecorder,
  requireChromium,
  taskIdOf,
  text,
  waitForText,
} from './browser-helpers';

const ARTIFACTS = resolve(__dirname, '..', '..', 'test-artifacts');
const STEPS = 40;
const INTERVAL_MS = 40;

/**
 * The demo page (src/demo) in a real headless Chromium, following its tasks with the
 * client of libs/sse-resume-client: cut connections, reloads mid-task and after the end,
 * cancel, a second tab on the task's URL, and the typed errors (403, 404, 410; Express only).
 */
describe.each(ADAPTERS)('demo page in Chromium (%s)', (adapter: Adapter) => {
  if (!requireChromium()) return;

  let server: RunningApp;
  let proxy: CuttingProxy;
  let browser: Browser;
  let context: BrowserContext;
  const recorder = new RequestRecorder();
  const seed = seedFromEnv();

  beforeAll(async () => {
    // A short retry: the page reconnects 100 ms after each cut.
    server = await startApp(adapter, { RETRY_MS: '100' });
    // Only the event streams are cut, after a seeded number of bytes (head included).
    proxy = await startCuttingProxy({
      target: server.baseUrl,
      seed,
      minBytes: 700,
      maxBytes: 1_400,
      cutRequest: (line) => /^GET \/tasks\/[^/]+\/events/.test(line),
    });
    browser = await launchChromium();
    context = await browser.newContext();
    recorder.watch(context);
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  /** A new tab that records its uncaught errors. */
  async function openPage(on: BrowserContext, url: string): Promise<{ page: Page; errors: string[] }> {
    const page = await on.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    return { page, errors };
  }

  const eventRequests = (taskId: string) =>
    recorder.requests.filter(({ url }) => url.includes(`/tasks/${taskId}/events`)).length;

  it('survives cuts and a reload mid-task: every event once, then end; a reload after the end shows it without streaming', async () => {
    await withSeed(seed, async () => {
      const { page, errors } = await openPage(context, `${proxy.url}/`);
      expect(await text(page, 'status')).toBe('idle');
      await page.fill('#steps', String(STEPS));
      await page.fill('#interval', String(INTERVAL_MS));
      await page.getByRole('button', { name: /start/i }).click();

      // Let it run (and be cut) for a while, then reload mid-task.
      await waitForText(page, 'last-event-id', lastEventIdAtLeast(12), 20_000);
      const taskId = await text(page, 'task');
      expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
      expect(page.url()).toBe(`${proxy.url}/?task=${taskId}`);
      expect(Number(await text(page, 'last-event-id'))).toBeLessThan(STEPS); // really mid-task

      await page.reload();
      expect(await text(page, 'task')).toBe(taskId);
      expect(await page.inputValue('#steps')).toBe(String(STEPS)); // the followed task's settings

      await waitForText(page, 'status', (value) => value === 'completed', 30_000);
      expectEveryEventOnce(await demoEvents(page), STEPS);
      expect(await barValue(page)).toBe(100);
      expect(await text(page, 'percent')).toBe('100 %');
      expect(await text(page, 'last-event-id')).toBe(String(STEPS + 1));
      expect(Number(await text(page, 'reconnects'))).toBeGreaterThan(0);
      expect(await text(page, 'gaps')).toBe('0');
      expect(await page.locator('#cancel').isDisabled()).toBe(true);
      const log = await text(page, 'log');
      expect(log).toMatch(/reconnecting in \d+ ms: /); // with its delay and cause
      expect(log).toContain(`#${STEPS + 1} end: completed, result {"steps":${STEPS}}`);
      const posts = recorder.requests.filter(({ method }) => method === 'POST');
      expect(posts.map(({ url }) => url)).toEqual([`${proxy.url}/tasks`]); // none after the reload
      expect(proxy.cuts.length).toBeGreaterThan(0);

      // A reload of the finished task shows its final state, and asks the server nothing.
      const streamsBefore = eventRequests(taskId);
      await page.reload();
      expect(await text(page, 'status')).toBe('completed');
      expect(await text(page, 'percent')).toBe('100 %');
      expect(await text(page, 'task')).toBe(taskId);
      expectEveryEventOnce(await demoEvents(page), STEPS);
      await sleep(200);
      expect(eventRequests(taskId)).toBe(streamsBefore);
      expect(errors).toEqual([]);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: join(ARTIFACTS, adapter === 'express' ? 'browser-demo.png' : `browser-demo-${adapter}.png`),
        fullPage: true,
      });
      await page.close();
    });
  });

  it('cancel ends the task as cancelled and disables the button; a reload does not stream again; the bundle names its errors', async () => {
    const { page, errors } = await openPage(context, `${server.baseUrl}/`); // not through the proxy
    await page.fill('#steps', '1000');
    await page.fill('#interval', '20');
    await page.click('#start');
    await waitForText(page, 'last-event-id', lastEventIdAtLeast(3));
    expect(await page.locator('#cancel').isDisabled()).toBe(false);
    await page.click('#cancel');
    await waitForText(page, 'status', (value) => value.startsWith('cancelled'));
    expect(await text(page, 'status')).toBe('cancelled (Cancelled by the client)');
    expect(await page.locator('#cancel').isDisabled()).toBe(true);
    expect(await barValue(page)).toBeLessThan(100);
    const events = await demoEvents(page);
    expect(events.map(({ id }) => id)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    expect(events.at(-1)?.type).toBe('end');

    const taskId = taskIdOf(page)!;
    const streamsBefore = eventRequests(taskId);
    await page.reload();
    expect(await text(page, 'status')).toBe('cancelled (Cancelled by the client)');
    await sleep(200);
    expect(eventRequests(taskId)).toBe(streamsBefore);

    // The served bundle is minified: its errors must still be named after their classes.
    const names = await page.evaluate<[string, string][]>(`import('./sse-resume-client.js').then((client) =>
      Object.entries(client)
        .filter(([name]) => name.endsWith('Error'))
        .map(([name, Type]) => [name, new Type(400, undefined, 'm', null).name]))`);
    expect(names.length).toBeGreaterThanOrEqual(8);
    for (const [exported, name] of names) expect(name).toBe(exported);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a second tab opened on ?task=<id> attaches with the HttpOnly cookie and streams the task to the end', async () => {
    const first = await openPage(context, `${server.baseUrl}/`);
    await first.page.fill('#steps', '30');
    await first.page.fill('#interval', '40');
    const firstStream = first.page.waitForRequest((request) => request.url().includes('/events'));
    await first.page.click('#start');
    await waitForText(first.page, 'last-event-id', lastEventIdAtLeast(5));
    const taskId = taskIdOf(first.page)!;
    expect((await (await firstStream).allHeaders())['x-resume-key']).toMatch(/\S/);

    // A new tab: its own (empty) sessionStorage, the context's cookies.
    const second = await context.newPage();
    second.on('pageerror', (error) => first.errors.push(`second tab: ${error.message}`));
    const secondStream = second.waitForRequest((request) => request.url().includes('/events'));
    await second.goto(`${server.baseUrl}/?task=${taskId}`);
    const headers = await (await secondStream).allHeaders();
    expect(headers['x-resume-key']).toBeUndefined();
    expect(headers.cookie).toContain(`sse-resume-${taskId}=`);

    await waitForText(second, 'status', (value) => value === 'completed', 20_000);
    await waitForText(first.page, 'status', (value) => value === 'completed', 20_000);
    expect(await text(second, 'task')).toBe(taskId);
    expect(await text(second, 'percent')).toBe('100 %');
    expectEveryEventOnce(await demoEvents(second), 30);
    expectEveryEventOnce(await demoEvents(first.page), 30);
    // The cookie is HttpOnly: the page's script cannot read it.
    expect(await second.evaluate('document.cookie')).not.toContain('sse-resume-');
    expect(first.errors).toEqual([]);
    await second.close();
    await first.page.close();
  });

  // The page's handling of the typed errors does not depend on the adapter (the server's
  // answers on both are covered by test/client and test/resume-cookie): Express only.
  if (adapter === 'express') {
    it('403 and 404 show as forbidden and not found, at once and without retrying', async () => {
      const running = await createTask(server.baseUrl, { steps: 1_000, intervalMs: 50 });
      // Another browser profile: no cookie, no sessionStorage for this task.
      const stranger = await browser.newContext();
      recorder.watch(stranger);
      try {
        await expectFinalError(
          stranger,
          server.baseUrl,
          running.taskId,
          'forbidden',
          403,
          'no key for this task',
        );
        const unknown = '00000000-0000-4000-8000-000000000000';
        await expectFinalError(stranger, server.baseUrl, unknown, 'not found', 404, 'no such task');
      } finally {
        await stranger.close();
        await cancelTask(server.baseUrl, running.taskId, running.resumeKey);
      }
    });

    it('a task past its TTL shows as expired (410) in a tab that has its cookie', async () => {
      const shortLived = await startApp(adapter, { TASK_TTL_MS: '1000' });
      try {
        const { page } = await openPage(context, `${shortLived.baseUrl}/`);
        await page.fill('#steps', '1');
        await page.fill('#interval', '0');
        await page.click('#start');
        await waitForText(page, 'status', (value) => value === 'completed');
        const taskId = taskIdOf(page)!;
        const key = await recorder.keyOf(taskId);
        await page.close();
        // 410 for a TTL after the TTL (then 404): open the tab as soon as it is 410.
        const deadline = Date.now() + 10_000;
        while ((await getInfo(shortLived.baseUrl, taskId, key)).status !== 410) {
          if (Date.now() > deadline) throw new Error('the task did not expire');
          await sleep(50);
        }
        await expectFinalError(context, shortLived.baseUrl, taskId, 'expired', 410, 'events are gone');
      } finally {
        await shortLived.close();
      }
    });
  }

  /** A new tab on `?task=<taskId>` shows `status (code: ...)` and the meaning in its log, and stays so. */
  async function expectFinalError(
    on: BrowserContext,
    baseUrl: string,
    taskId: string,
    status: string,
    code: number,
    meaning: string,
  ): Promise<void> {
    const streamsBefore = eventRequests(taskId);
    const { page, errors } = await openPage(on, `${baseUrl}/?task=${taskId}`);
    const shown = await waitForText(page, 'status', (value) => value.startsWith(`${status} (`), 5_000);
    expect(shown).toMatch(new RegExp(`^${status} \\(${code}: `));
    expect(await page.locator('#cancel').isDisabled()).toBe(true);
    expect(await text(page, 'log')).toContain(meaning);
    await sleep(200);
    expect(await text(page, 'status')).toBe(shown); // final: no reconnect loop
    expect(eventRequests(taskId)).toBe(streamsBefore + 1);
    expect(errors).toEqual([]);
    await page.close();
  }

  it('no request of any page carried the resume key in its URL', async () => {
    await recorder.expectNoKeyInUrls();
  });
});
