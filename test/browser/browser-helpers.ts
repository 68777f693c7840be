import { existsSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Helpers of the browser tests of the demo page (test/browser/*.e2e-spec.ts). */

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
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

/** A missing browser is a failure, not a skip: `.ci/run` installs it, so must a developer. */
export function requireChromium(): boolean {
  if (hasChromium) return true;
  it('needs Chromium', () => {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  });
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export const text = (page: Page, id: string): Promise<string> => page.locator(`#${id}`).innerText();

/** Polls the text of `#id` until `accept` holds (the page updates it from its stream). */
export async function waitForText(
  page: Page,
  id: string,
  accept: (value: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let value = await text(page, id);
  while (!accept(value)) {
    if (Date.now() > deadline) {
      const log = await text(page, 'log').catch(() => '');
      throw new Error(`#${id} is still ${JSON.stringify(value)} after ${timeoutMs} ms; log:\n${log}`);
    }
    await sleep(20);
    value = await text(page, id);
  }
  return value;
}

export const lastEventIdAtLeast = (id: number) => (value: string) => value !== '-' && Number(value) >= id;

export interface DemoEvent {
  id: number;
  type: string;
}

/** Every event the page showed for its task (`window.__demoEvents`, kept across reloads). */
export function demoEvents(page: Page): Promise<DemoEvent[]> {
  return page.evaluate(() => (globalThis as unknown as { __demoEvents: DemoEvent[] }).__demoEvents);
}

/** `steps` progress events with ids 1..steps, each once, in order, then one `end`. */
export function expectEveryEventOnce(events: DemoEvent[], steps: number): void {
  const expected = [
    ...Array.from({ length: steps }, (_, i) => ({ id: i + 1, type: 'progress' })),
    { id: steps + 1, type: 'end' },
  ];
  expect(events).toEqual(expected);
}

export const taskIdOf = (page: Page): string | null => new URL(page.url()).searchParams.get('task');

export const barValue = (page: Page): Promise<number> =>
  page.locator('#bar').evaluate((bar) => (bar as unknown as { value: number }).value);

/**
 * Every request the pages of some contexts make, and the resume keys the server hands out
 * (read from the POST /tasks answers), to check that no key ever travels in a URL.
 */
export class RequestRecorder {
  readonly requests: { method: string; url: string }[] = [];
  /** Resume key by task id. */
  readonly keys = new Map<string, string>();
  readonly #pending: Promise<void>[] = [];

  watch(context: BrowserContext): this {
    context.on('request', (request) => this.requests.push({ method: request.method(), url: request.url() }));
    context.on('response', (response) => {
      const request = response.request();
      if (request.method() !== 'POST' || !new URL(request.url()).pathname.endsWith('/tasks')) return;
      this.#pending.push(
        response.json().then(
          (body: { taskId?: unknown; resumeKey?: unknown }) => {
            if (typeof body.taskId === 'string' && typeof body.resumeKey === 'string') {
              this.keys.set(body.taskId, body.resumeKey);
            }
          },
          () => undefined, // an error answer, or the page went away
        ),
      );
    });
    return this;
  }

  /** The key of a task a page started. */
  async keyOf(taskId: string): Promise<string> {
    await Promise.all(this.#pending);
    const key = this.keys.get(taskId);
    if (key === undefined) throw new Error(`no page started task ${taskId}`);
    return key;
  }

  /** Some tasks were started, and no request URL held a key (nor a `key=` parameter). */
  async expectNoKeyInUrls(): Promise<void> {
    await Promise.all(this.#pending);
    expect(this.keys.size).toBeGreaterThan(0);
    expect(this.requests.length).toBeGreaterThan(0);
    const leaks = this.requests.filter(
      ({ url }) => /[?&]key=/i.test(url) || [...this.keys.values()].some((key) => url.includes(key)),
    );
    expect(leaks).toEqual([]);
  }
}

export interface PrefixProxy {
  /** `http://127.0.0.1:<port>/sse/`: the app's `/`. */
  url: string;
  /** Path (and query) of every request the proxy received. */
  readonly paths: readonly string[];
  close(): Promise<void>;
}

/**
 * A reverse proxy serving the app under a path prefix, as nginx's
 * `location /sse/ { proxy_pass http://app/; }`: `/sse/x` is forwarded as `/x`, anything
 * outside the prefix is a 404. Streams are piped as they come; a client that goes away
 * closes its upstream request.
 */
export async function startPrefixProxy(target: string, prefix = '/sse/'): Promise<PrefixProxy> {
  const upstream = new URL(target);
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    paths.push(path);
    if (!path.startsWith(prefix)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not under ${prefix}\n`);
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: `/${path.slice(prefix.length)}`,
        // No X-Forwarded-Prefix, as nginx's plain proxy_pass: the cookie path comes from the client.
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy(); // the client went away mid-stream
    });
    req.pipe(forward);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
