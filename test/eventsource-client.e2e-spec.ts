import { EventSource, type ErrorEvent } from 'eventsource';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTask, readStream, waitForInfo } from './utils/api';
import { parseFrames } from '@app/sse-resume/testing/sse';
import { startCuttingProxy, type CuttingProxy } from './utils/cutting-proxy';
import { seedFromEnv, withSeed } from '@app/sse-resume/testing/prng';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

/** What one EventSource saw. */
interface Received {
  type: string;
  lastEventId: string;
  data: unknown;
}

interface Request {
  url: string;
  lastEventId: string | undefined;
  status?: number;
}

/**
 * A real SSE client, the `eventsource` package (v4, WHATWG EventSource for Node). It is
 * ESM-first but ships a CommonJS build (`exports.require` → dist/index.cjs), which is
 * what Jest loads here, so no extra transform is needed.
 */
function follow(url: string): {
  source: EventSource;
  events: Received[];
  requests: Request[];
  errors: ErrorEvent[];
  /** Resolves after the `end` event (the source is closed then) or when the source gives up. */
  finished: Promise<'end' | 'closed'>;
} {
  const events: Received[] = [];
  const requests: Request[] = [];
  const errors: ErrorEvent[] = [];
  const source = new EventSource(url, {
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      const request: Request = { url: String(input), lastEventId: headers.get('last-event-id') ?? undefined };
      requests.push(request);
      const response = await fetch(input, init);
      request.status = response.status;
      return response;
    },
  });
  const finished = new Promise<'end' | 'closed'>((resolve) => {
    for (const type of ['progress', 'gap', 'end']) {
      source.addEventListener(type, (event) => {
        events.push({ type, lastEventId: event.lastEventId, data: JSON.parse(event.data as string) });
        if (type === 'end') {
          source.close();
          resolve('end');
        }
      });
    }
    source.addEventListener('error', (event) => {
      errors.push(event);
      if (source.readyState === EventSource.CLOSED) resolve('closed');
    });
  });
  return { source, events, requests, errors, finished };
}

describe.each(ADAPTERS)('the eventsource package as client (%s)', (adapter: Adapter) => {
  const RETRY_MS = 20;
  let server: RunningApp;
  let proxy: CuttingProxy | undefined;

  beforeAll(async () => {
    server = await startApp(adapter, { RETRY_MS: String(RETRY_MS) });
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(() => server.close());

  it('the open frame advertises RETRY_MS as `retry:`', async () => {
    const task = await createTask(server.baseUrl, { steps: 1, intervalMs: 0 });
    const response = await readStream(server.baseUrl, task.streamUrl);
    expect(parseFrames(response.text).frames[0]!.lines).toEqual(['id: 0', `retry: ${RETRY_MS}`]);
  });

  it('receives every progress event and the end event, with matching lastEventId', async () => {
    const task = await createTask(server.baseUrl, { steps: 25, intervalMs: 2 });
    const client = follow(server.baseUrl + task.streamUrl);
    await expect(client.finished).resolves.toBe('end');
    expect(client.events.map((event) => `${event.type}:${event.lastEventId}`)).toEqual([
      ...Array.from({ length: 25 }, (_, i) => `progress:${i + 1}`),
      'end:26',
    ]);
    expect(client.events[3]!.data).toEqual({ step: 4, total: 25, message: 'step 4 of 25' });
    expect(client.events[25]!.data).toEqual({ status: 'completed', result: { steps: 25 } });
    expect(client.requests).toHaveLength(1);
  });

  it('after the server ends the stream, the reconnect gets 204 and the client stops for good', async () => {
    const task = await createTask(server.baseUrl, { steps: 3, intervalMs: 0 });
    const statuses: [string | null, number][] = [];
    const ids: string[] = [];
    // Unlike follow(), this client is not closed on `end`: it reconnects as a browser would.
    const source = new EventSource(server.baseUrl + task.streamUrl, {
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        statuses.push([new Headers(init?.headers).get('last-event-id'), response.status]);
        return response;
      },
    });
    for (const type of ['progress', 'end'])
      source.addEventListener(type, (event) => ids.push(event.lastEventId));
    const error = await new Promise<ErrorEvent>((resolve) => {
      source.addEventListener('error', (event) => {
        if (source.readyState === EventSource.CLOSED) resolve(event);
      });
    });
    expect(error.code).toBe(204);
    expect(ids).toEqual(['1', '2', '3', '4']);
    await sleep(RETRY_MS * 10); // ten reconnect delays: no further request
    expect(statuses).toEqual([
      [null, 200],
      ['4', 204],
    ]);
    source.close();
  });

  it('an error status (403 wrong key) fails the client without retrying', async () => {
    const task = await createTask(server.baseUrl, { steps: 1, intervalMs: 0 });
    const client = follow(`${server.baseUrl}/tasks/${task.taskId}/events?key=wrong`);
    await expect(client.finished).resolves.toBe('closed');
    expect(client.errors[0]!.code).toBe(403);
    await sleep(RETRY_MS * 5);
    expect(client.requests).toHaveLength(1);
  });

  it('through the cutting proxy it reconnects with Last-Event-ID after every cut and sees each id once', async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      // minBytes covers the head and the open frame, so the client learns `retry:` first.
      proxy = await startCuttingProxy({ target: server.baseUrl, seed, minBytes: 600, maxBytes: 1_500 });
      const steps = 200;
      const task = await createTask(server.baseUrl, { steps, intervalMs: 2 });
      const client = follow(proxy.url + task.streamUrl);
      await expect(client.finished).resolves.toBe('end');
      expect(client.events.map((event) => Number(event.lastEventId))).toEqual(
        Array.from({ length: steps + 1 }, (_, i) => i + 1),
      );
      expect(client.events[steps]!.data).toEqual({ status: 'completed', result: { steps } });
      expect(proxy.cuts.length).toBeGreaterThanOrEqual(10);
      expect(new Set(proxy.cuts.map((cut) => cut.kind))).toEqual(new Set(['fin', 'reset']));
      // One request per cut plus the first (a cut after the end frame is not followed by one).
      expect(client.requests.length).toBeGreaterThanOrEqual(proxy.cuts.length);
      expect(client.requests.length).toBeLessThanOrEqual(proxy.cuts.length + 1);
      // Once the client has an id, every reconnect resumes from it (never from an earlier one).
      const sent = client.requests.map((request) => request.lastEventId);
      const resumedFrom = sent.slice(sent.findIndex((id) => id !== undefined)).map(Number);
      expect(
        resumedFrom.every((id, i) => Number.isInteger(id) && (i === 0 || id >= resumedFrom[i - 1]!)),
      ).toBe(true);
      expect(resumedFrom.length).toBeGreaterThanOrEqual(proxy.cuts.length - 2);
      await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 0, 'no open streams');
    });
  });
});
