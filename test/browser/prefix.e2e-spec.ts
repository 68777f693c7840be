import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';
import {
  demoEvents,
  expectEveryEventOnce,
  lastEventIdAtLeast,
  launchChromium,
  type PrefixProxy,
  RequestRecorder,
  requireChromium,
  startPrefixProxy,
  taskIdOf,
  text,
  waitForText,
} from './browser-helpers';

const STEPS = 20;

/**
 * The demo page behind a reverse proxy that serves the app under `/sse/` (as nginx's
 * `location /sse/ { proxy_pass http://app/; }`): every URL the page builds is relative, so
 * start, stream, reload and a second tab work there, and nothing is requested outside `/sse/`.
 */
describe.each(ADAPTERS)('demo page under a path prefix (%s)', (adapter: Adapter) => {
  if (!requireChromium()) return;

  let server: RunningApp;
  let proxy: PrefixProxy;
  let browser: Browser;
  let context: BrowserContext;
  const recorder = new RequestRecorder();
  const errors: string[] = [];
  let taskId: string;

  beforeAll(async () => {
    server = await startApp(adapter, { RETRY_MS: '100' });
    proxy = await startPrefixProxy(server.baseUrl, '/sse/');
    browser = await launchChromium();
    context = await browser.newContext();
    recorder.watch(context);
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  async function openPage(url: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    return page;
  }

  it('starts, streams and resumes after a reload under /sse/', async () => {
    const page = await openPage(proxy.url);
    expect(await text(page, 'status')).toBe('idle'); // the module loaded from /sse/sse-resume-client.js
    await page.fill('#steps', String(STEPS));
    await page.fill('#interval', '40');
    const started = page.waitForResponse((response) => response.request().method() === 'POST');
    await page.click('#start');
    const created = await started;
    expect(created.url()).toBe(`${proxy.url}tasks`);
    // The cookie's path is the one the browser posted to, not the app's own /tasks/<id>.
    expect(await created.headerValue('set-cookie')).toMatch(/Path=\/sse\/tasks\/[0-9a-f-]{36};/);

    await waitForText(page, 'last-event-id', lastEventIdAtLeast(6));
    taskId = taskIdOf(page)!;
    expect(page.url()).toBe(`${proxy.url}?task=${taskId}`);
    await page.reload();
    await waitForText(page, 'status', (value) => value === 'completed', 20_000);
    expectEveryEventOnce(await demoEvents(page), STEPS);
    expect(await text(page, 'percent')).toBe('100 %');
    await page.close();
  });

  it('a second tab on /sse/?task=<id> streams the task with the cookie of that path', async () => {
    const page = await openPage(`${proxy.url}?task=${taskId}`);
    await waitForText(page, 'status', (value) => value === 'completed', 20_000);
    expectEveryEventOnce(await demoEvents(page), STEPS);
    await page.close();
  });

  it('every request stayed under /sse/, none with the key in its URL; no page error', async () => {
    const paths = recorder.requests.map(({ url }) => new URL(url).pathname);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.filter((path) => !path.startsWith('/sse/'))).toEqual([]);
    expect(proxy.paths.filter((path) => !path.startsWith('/sse/'))).toEqual([]);
    expect(proxy.paths).toEqual(expect.arrayContaining(['/sse/sse-resume-client.js', '/sse/tasks']));
    await recorder.expectNoKeyInUrls();
    expect(errors).toEqual([]);
  });
});
