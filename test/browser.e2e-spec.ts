import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startCuttingProxy, type CuttingProxy } from './utils/cutting-proxy';
import { seedFromEnv, withSeed } from '@app/sse-resume/testing/prng';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(__dirname, '..', 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const STEPS = 40;
const INTERVAL_MS = 40;

const hasChromium = existsSync(CHROMIUM);

/**
 * The demo page in a real headless Chromium, served through the cutting proxy so its
 * EventSource loses the connection (FIN and RST) while the task runs, then reloaded
 * mid-task: the page must resume the same task and finish at 100 % with status completed.
 */
describe.each(ADAPTERS)('demo page in Chromium (%s)', (adapter: Adapter) => {
  if (!hasChromium) {
    // A missing browser is a failure, not a skip: `.ci/run` installs it, so must a developer.
    it('needs Chromium', () => {
      throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
    });
    return;
  }

  let server: RunningApp;
  let proxy: CuttingProxy;
  let context: BrowserContext;
  let userDataDir: string;
  const seed = seedFromEnv();

  beforeAll(async () => {
    // A short retry: the browser reconnects 100 ms after each cut instead of 2 s.
    server = await startApp(adapter, { RETRY_MS: '100' });
    // Only the event streams are cut, always after the head and the open frame (~450 bytes):
    // a stream cut before it opened would make the browser wait its default 3 s.
    proxy = await startCuttingProxy({
      target: server.baseUrl,
      seed,
      minBytes: 700,
      maxBytes: 1_400,
      cutRequest: (line) => /^GET \/tasks\/[^/]+\/events/.test(line),
    });
    userDataDir = mkdtempSync(join(tmpdir(), 'sse-demo-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await context?.close();
    await proxy?.close();
    await server?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  const text = (page: Page, id: string) => page.locator(`#${id}`).innerText();

  /** Polls the text of `#id` until `accept` holds (the page updates it from its EventSource). */
  async function waitForText(page: Page, id: string, accept: (value: string) => boolean, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    let value = await text(page, id);
    while (!accept(value)) {
      if (Date.now() > deadline)
        throw new Error(`#${id} is still ${JSON.stringify(value)} after ${timeoutMs} ms`);
      await sleep(20);
      value = await text(page, id);
    }
  }

  it('survives cuts and a reload mid-task: same task, bar at 100 %, status completed, reconnects > 0', async () => {
    await withSeed(seed, async () => {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      const posts: string[] = [];
      page.on('request', (request) => {
        if (request.method() === 'POST') posts.push(request.url());
      });

      await page.goto(`${proxy.url}/`);
      await page.fill('#steps', String(STEPS));
      await page.fill('#interval', String(INTERVAL_MS));
      await page.click('#start');

      // Let it run (and be cut) for a while, then reload mid-task.
      await waitForText(page, 'last-event-id', (value) => Number(value) >= 12, 20_000);
      const taskBefore = await text(page, 'task');
      expect(taskBefore).toMatch(/^[0-9a-f-]{36}$/);
      const idBeforeReload = Number(await text(page, 'last-event-id'));
      expect(idBeforeReload).toBeLessThan(STEPS); // really mid-task

      await page.reload();
      expect(await text(page, 'task')).toBe(taskBefore);
      expect(await page.inputValue('#steps')).toBe(String(STEPS)); // the followed task's settings

      await waitForText(page, 'status', (value) => value === 'completed', 30_000);
      expect(await page.locator('#bar').evaluate((bar) => (bar as unknown as { value: number }).value)).toBe(
        100,
      );
      expect(await text(page, 'percent')).toBe('100 %');
      expect(await text(page, 'task')).toBe(taskBefore);
      expect(await text(page, 'last-event-id')).toBe(String(STEPS + 1));
      expect(Number(await text(page, 'reconnects'))).toBeGreaterThan(0);
      expect(await text(page, 'gaps')).toBe('0');
      expect(await page.locator('#cancel').isDisabled()).toBe(true);
      expect(posts.filter((url) => url.endsWith('/tasks'))).toHaveLength(1); // no new task after the reload
      expect(proxy.cuts.length).toBeGreaterThan(0);
      expect(pageErrors).toEqual([]);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: join(ARTIFACTS, adapter === 'express' ? 'browser-demo.png' : `browser-demo-${adapter}.png`),
      });
      await page.close();
    });
  });

  it('cancel ends the task as cancelled and disables the button', async () => {
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/`); // not through the proxy: this is about cancel only
    await page.evaluate('sessionStorage.clear()');
    await page.fill('#steps', '1000');
    await page.fill('#interval', '20');
    await page.click('#start');
    await waitForText(page, 'last-event-id', (value) => Number(value) >= 3);
    expect(await page.locator('#cancel').isDisabled()).toBe(false);
    await page.click('#cancel');
    await waitForText(page, 'status', (value) => value.startsWith('cancelled'));
    expect(await text(page, 'status')).toBe('cancelled (Cancelled by the client)');
    expect(await page.locator('#cancel').isDisabled()).toBe(true);
    expect(
      await page.locator('#bar').evaluate((bar) => (bar as unknown as { value: number }).value),
    ).toBeLessThan(100);
    // A reload of a cancelled task does not reconnect.
    await page.reload();
    expect(await text(page, 'status')).toBe('cancelled (Cancelled by the client)');
    await page.close();
  });
});
