import fc from 'fast-check';
import { SseResumeClient, type SseResumeClientOptions } from './client.js';
import {
  ProtocolError,
  RetriesExhaustedError,
  SseClientError,
  TaskBadRequestError,
  TaskExpiredError,
  TaskForbiddenError,
  TaskHttpError,
  TaskNotFoundError,
} from './errors.js';
import { memoryStorage, type ResumeStorage } from './storage.js';
import { IdleTimeoutError, type ReconnectInfo } from './task-stream.js';
import type { TaskStreamEvent } from './types.js';

interface Events {
  progress: { done: number };
  log: { line: string };
}
interface Result {
  url: string;
}

const encoder = new TextEncoder();

/** A response body the test writes to as a server would: chunks at any time, close, error, or nothing. */
class Body {
  readonly stream: ReadableStream<Uint8Array>;
  /** Times the client cancelled its reader on this body while it was readable. */
  cancels = 0;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private settled = false;

  constructor() {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.settled = true;
        this.cancels++;
      },
    });
  }

  /** Chunks written and not read by the client yet. */
  get queued(): number {
    return 1 - (this.controller.desiredSize ?? 1);
  }

  /** Not closed, errored or cancelled: the client still reads it. */
  get open(): boolean {
    return !this.settled;
  }

  write(...chunks: Array<string | Uint8Array>): void {
    for (const chunk of chunks)
      this.controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
  }

  close(): void {
    this.settled = true;
    this.controller.close();
  }

  error(reason: unknown): void {
    this.settled = true;
    this.controller.error(reason);
  }
}

/** One request the fake `fetch` received; the test answers it (or never does). */
class FakeRequest {
  readonly headers: Headers;
  readonly method: string;
  readonly signal: AbortSignal | undefined;

  constructor(
    readonly url: string,
    readonly init: RequestInit,
    private readonly resolve: (response: Response) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.headers = new Headers(init.headers);
    this.method = init.method ?? 'GET';
    this.signal = init.signal ?? undefined;
  }

  reply(response: Response): void {
    this.resolve(response);
  }

  fail(error: unknown): void {
    this.reject(error);
  }

  /**
   * Answers 200 `text/event-stream` with a body the test controls. As with the real `fetch`,
   * aborting the request errors the body with the signal's reason (`abortErrorsBody: false`
   * plays a `fetch` that leaves the body alone).
   */
  stream(options: { abortErrorsBody?: boolean } = {}): Body {
    const body = new Body();
    const { signal } = this;
    if (signal && (options.abortErrorsBody ?? true)) {
      signal.addEventListener('abort', () => body.open && body.error(signal.reason), { once: true });
    }
    this.reply(
      new Response(body.stream, {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8' },
      }),
    );
    return body;
  }

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.reply(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      }),
    );
  }
}

/** `fetch` as a server the test drives: it records each request and honours the abort signal. */
class FakeServer {
  readonly requests: FakeRequest[] = [];
  /** Answers each request as it arrives, when set; else the test answers `last`. */
  handler: ((request: FakeRequest) => void) | undefined;

  readonly fetch: typeof fetch = (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const request = new FakeRequest(url, init, resolve, reject);
      this.requests.push(request);
      const signal = init.signal;
      // fetch rejects with the signal's reason, whatever it is
      if (signal?.aborted) reject(signal.reason as Error);
      else signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      this.handler?.(request);
    });

  get last(): FakeRequest {
    const request = this.requests.at(-1);
    if (!request) throw new Error('no request yet');
    return request;
  }
}

const openFrame = (id: number, retry = 2000): string => `id: ${id}\nretry: ${retry}\n\n`;
const frame = (id: number, data: unknown, type = 'progress'): string =>
  `event: ${type}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
const gapFrame = (from: number, to: number): string => frame(to, { from, to }, 'gap');
const endFrame = (id: number, fields: object = { status: 'completed' }): string => frame(id, fields, 'end');

/** Drives the fake clock (and every promise waiting on a `fetch` or a stream) forward. */
const tick = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

interface Run<T> {
  readonly events: T[];
  finished: boolean;
  failed: boolean;
  error: unknown;
}

/** Iterates in the background, recording what it yields and how it ends. */
function consume<T>(iterable: AsyncIterable<T>): Run<T> {
  const run: Run<T> = { events: [], finished: false, failed: false, error: undefined };
  void (async () => {
    try {
      for await (const event of iterable) run.events.push(event);
    } catch (error) {
      run.failed = true;
      run.error = error;
    } finally {
      run.finished = true;
    }
  })();
  return run;
}

function setup(options: SseResumeClientOptions = {}) {
  const server = new FakeServer();
  const storage = memoryStorage();
  const client = new SseResumeClient({
    baseUrl: 'http://test/',
    fetch: server.fetch,
    storage,
    random: () => 0.5,
    ...options,
  });
  return { server, storage, client };
}

beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] }));
afterEach(() => jest.useRealTimers());

describe('TaskStream', () => {
  describe('a 200 event stream', () => {
    it('yields typed events with their ids and JSON data, then end, and finishes', async () => {
      const { server, client } = setup();
      const stream = client.stream<Events, Result>('t1');
      const run = consume(stream);
      await tick();
      expect(server.requests).toHaveLength(1);
      expect(server.last.url).toBe('http://test/tasks/t1/events');
      expect(server.last.headers.get('accept')).toBe('text/event-stream');
      expect(server.last.headers.has('last-event-id')).toBe(false);

      const body = server.last.stream();
      body.write(openFrame(0), frame(1, { done: 1 }), frame(2, { line: 'hi' }, 'log'));
      await tick();
      expect(run.events).toStrictEqual([
        { type: 'progress', id: 1, data: { done: 1 } },
        { type: 'log', id: 2, data: { line: 'hi' } },
      ]);
      expect(run.finished).toBe(false);
      expect(stream.lastEventId).toBe(2);
      expect(stream.end).toBeUndefined();

      body.write(gapFrame(3, 7), endFrame(8, { status: 'completed', result: { url: '/r' } }));
      await tick();
      expect(run.events.slice(2)).toStrictEqual([
        { type: 'gap', id: 7, from: 3, to: 7 },
        { type: 'end', id: 8, status: 'completed', result: { url: '/r' } },
      ]);
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(stream.end).toStrictEqual({ type: 'end', id: 8, status: 'completed', result: { url: '/r' } });
      expect(stream.lastEventId).toBe(8);
      expect(body.open).toBe(false); // the connection is let go
      await tick(60_000);
      expect(server.requests).toHaveLength(1);
      expect(stream.reconnects).toBe(0);
    });

    it('end of a failed task carries its error and no result', async () => {
      const { server, client } = setup();
      const stream = client.stream('t1');
      const run = consume(stream);
      await tick();
      server.last.stream().write(endFrame(1, { status: 'failed', error: 'boom' }));
      await tick();
      expect(run.events).toStrictEqual([{ type: 'end', id: 1, status: 'failed', error: 'boom' }]);
      expect(run.finished).toBe(true);
    });

    it('data that is not JSON is kept as text; an event without a name is a "message"', async () => {
      const { server, client } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      server.last.stream().write('id: 1\ndata: not json\ndata: two lines\n\n', endFrame(2));
      await tick();
      expect(run.events[0]).toStrictEqual({ type: 'message', id: 1, data: 'not json\ntwo lines' });
    });

    it('gives the same events however the bytes are cut, even inside a UTF-8 character', async () => {
      const script = encoder.encode(
        openFrame(0) +
          frame(1, { line: 'héllo ✓ 😀' }, 'log') +
          gapFrame(2, 3) +
          '\r\n: ping\r\n\r\n' +
          endFrame(4),
      );
      for (const size of [1, 2, 3, 5, 7]) {
        const { server, client } = setup();
        const run = consume(client.stream('t1'));
        await tick();
        const body = server.last.stream();
        for (let i = 0; i < script.length; i += size) {
          body.write(script.slice(i, i + size));
          await tick();
        }
        expect(run.events).toStrictEqual([
          { type: 'log', id: 1, data: { line: 'héllo ✓ 😀' } },
          { type: 'gap', id: 3, from: 2, to: 3 },
          { type: 'end', id: 4, status: 'completed' },
        ]);
        expect(run.finished).toBe(true);
      }
    });

    it('ignores bytes after end', async () => {
      const { server, client } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      server.last.stream().write(endFrame(1) + frame(2, {}));
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([1]);
    });

    it('can be iterated once', () => {
      const { client } = setup();
      const stream = client.stream('t1');
      stream.close();
      void stream[Symbol.asyncIterator]().next();
      expect(() => stream[Symbol.asyncIterator]()).toThrow(
        new SseClientError('a TaskStream is iterated once'),
      );
    });
  });

  describe('the open frame and retry:', () => {
    it('the open frame (an id, retry:, no data) is no event; its retry: is the reconnect delay', async () => {
      const { server, client } = setup();
      const reconnects: ReconnectInfo[] = [];
      const stream = client.stream('t1', { onReconnect: (info) => reconnects.push(info) });
      const run = consume(stream);
      await tick();
      const body = server.last.stream();
      body.write(openFrame(4, 2500));
      await tick();
      expect(run.events).toEqual([]);
      body.write(frame(5, { done: 5 }));
      body.close();
      await tick();
      expect(reconnects).toMatchObject([{ failures: 0, delayMs: 2500, lastEventId: 5 }]);
      await tick(2499);
      expect(server.requests).toHaveLength(1);
      await tick(1);
      expect(server.requests).toHaveLength(2);
    });

    it('honorServerRetry: false keeps initialDelayMs', async () => {
      const { server, client } = setup({ reconnect: { honorServerRetry: false, initialDelayMs: 300 } });
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      const body = server.last.stream();
      body.write(openFrame(0, 2500), frame(1, {}));
      body.close();
      await tick();
      expect(reconnects).toMatchObject([{ failures: 0, delayMs: 300 }]);
      await tick(300);
      expect(server.requests).toHaveLength(2);
    });

    it('retry: above maxDelayMs is capped', async () => {
      const { server, client } = setup({ reconnect: { maxDelayMs: 700 } });
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      const body = server.last.stream();
      body.write(openFrame(0, 60_000), frame(1, {}));
      body.close();
      await tick();
      expect(reconnects).toMatchObject([{ delayMs: 700 }]);
    });
  });

  describe('resuming a stream closed before end', () => {
    it('sends Last-Event-ID and the key, skips what the server repeats, gets a cut frame again', async () => {
      const { server, client } = setup();
      const opens: Array<number | undefined> = [];
      const reconnects: ReconnectInfo[] = [];
      const stream = client.stream<Events>('t1', {
        resumeKey: 'k1',
        onOpen: (info) => opens.push(info.lastEventId),
        onReconnect: (info) => reconnects.push(info),
      });
      const run = consume(stream);
      await tick();
      expect(server.last.headers.get('x-resume-key')).toBe('k1');
      const first = server.last.stream();
      first.write(
        openFrame(0),
        frame(1, { done: 1 }),
        frame(2, { done: 2 }),
        'event: progress\nid: 3\ndata: {"do',
      );
      first.close();
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([1, 2]);
      expect(reconnects).toHaveLength(1);
      expect(reconnects[0]).toMatchObject({ failures: 0, delayMs: 2000, lastEventId: 2 });
      expect(reconnects[0]!.cause).toEqual(new ProtocolError('closed before end'));
      expect(stream.reconnects).toBe(1);

      await tick(2000);
      expect(server.requests).toHaveLength(2);
      expect(server.last.url).toBe('http://test/tasks/t1/events');
      expect(server.last.headers.get('last-event-id')).toBe('2');
      expect(server.last.headers.get('x-resume-key')).toBe('k1');
      const second = server.last.stream();
      // a server may repeat events the client has: they are skipped
      second.write(
        openFrame(2),
        frame(1, { done: 1 }),
        frame(2, { done: 2 }),
        frame(3, { done: 3 }),
        endFrame(4),
      );
      await tick();
      expect(run.events).toStrictEqual([
        { type: 'progress', id: 1, data: { done: 1 } },
        { type: 'progress', id: 2, data: { done: 2 } },
        { type: 'progress', id: 3, data: { done: 3 } },
        { type: 'end', id: 4, status: 'completed' },
      ]);
      expect(opens).toEqual([undefined, 2]);
      expect(run.finished).toBe(true);
      expect(stream.reconnects).toBe(1);
    });

    it('starts after options.lastEventId and skips ids up to it', async () => {
      const { server, client } = setup();
      const stream = client.stream('t1', { lastEventId: 5 });
      expect(stream.lastEventId).toBe(5);
      const run = consume(stream);
      await tick();
      expect(server.last.headers.get('last-event-id')).toBe('5');
      server.last.stream().write(frame(5, {}), frame(6, {}), endFrame(7));
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([6, 7]);
    });

    it('an event without an id: line in a resumed stream keeps the last id, so it counts as a repeat', async () => {
      const { server, client } = setup();
      const run = consume(client.stream('t1', { lastEventId: 3 }));
      await tick();
      server.last.stream().write('event: progress\ndata: {}\n\n', endFrame(4));
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([4]);
    });
  });

  describe('network errors and backoff', () => {
    it('retries a rejected fetch with full jitter, growing up to maxDelayMs', async () => {
      const draws = [0.5, 0.999, 0.25, 0.999, 0];
      const random = jest.fn(() => draws.shift() ?? 0.5);
      const { server, client } = setup({ random, reconnect: { initialDelayMs: 1000, maxDelayMs: 5000 } });
      const reconnects: ReconnectInfo[] = [];
      const stream = client.stream('t1', { onReconnect: (info) => reconnects.push(info) });
      const run = consume(stream);
      const expected: Array<[number, number]> = [
        [1, 1000], // 0.5 × 2000
        [2, 3996], // 0.999 × 4000, floored
        [3, 1250], // 0.25 × min(5000, 8000)
        [4, 4995], // 0.999 × 5000
        [5, 0],
      ];
      for (const [i, [failures, delayMs]] of expected.entries()) {
        await tick();
        expect(server.requests).toHaveLength(i + 1);
        const cause = new TypeError('fetch failed');
        server.last.fail(cause);
        await tick();
        expect(reconnects[i]).toEqual({ failures, delayMs, cause, lastEventId: undefined });
        if (delayMs > 0) {
          await tick(delayMs - 1);
          expect(server.requests).toHaveLength(i + 1);
        }
        await tick(1);
      }
      expect(server.requests).toHaveLength(6);
      expect(stream.reconnects).toBe(5);
      expect(run.finished).toBe(false);
    });

    it('a body that errors mid-stream is resumed; events reset the failure count', async () => {
      const { server, client } = setup({ reconnect: { initialDelayMs: 1000 } });
      const reconnects: ReconnectInfo[] = [];
      const run = consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      server.last.fail(new TypeError('fetch failed'));
      await tick(1000);
      server.last.fail(new TypeError('fetch failed'));
      await tick(2000);
      const body = server.last.stream();
      body.write(frame(1, {}));
      await tick();
      const reset = new TypeError('terminated');
      body.error(reset);
      await tick();
      expect(reconnects.map((r) => [r.failures, r.delayMs])).toEqual([
        [1, 1000],
        [2, 2000],
        [0, 1000],
      ]);
      expect(reconnects[2]!.cause).toBe(reset);
      await tick(1000);
      expect(server.requests).toHaveLength(4);
      expect(server.last.headers.get('last-event-id')).toBe('1');
      server.last.stream().close(); // nothing new: a failure again
      await tick();
      expect(reconnects[3]).toMatchObject({ failures: 1, delayMs: 1000, lastEventId: 1 });
      expect(run.events.map((e) => e.id)).toEqual([1]);
    });

    it('a stream of repeats only counts as a failure', async () => {
      const { server, client } = setup({ reconnect: { initialDelayMs: 1000 } });
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { lastEventId: 2, onReconnect: (info) => reconnects.push(info) }));
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}), frame(2, {}));
      body.close();
      await tick();
      expect(reconnects).toMatchObject([{ failures: 1 }]);
    });

    it('maxRetries consecutive retries, then RetriesExhaustedError with the last failure as cause', async () => {
      const { server, client } = setup({ reconnect: { maxRetries: 2, initialDelayMs: 10 } });
      const run = consume(client.stream('t1'));
      const errors = [new TypeError('a'), new TypeError('b'), new TypeError('c')];
      for (const error of errors) {
        await tick(100);
        server.last.fail(error);
      }
      await tick(1000);
      expect(server.requests).toHaveLength(3);
      expect(run.failed).toBe(true);
      expect(run.error).toBeInstanceOf(RetriesExhaustedError);
      expect(run.error).toMatchObject({ attempts: 3, message: 'gave up after 3 failed attempts' });
      expect((run.error as RetriesExhaustedError).cause).toBe(errors[2]);
    });

    it('maxRetries: 0 gives up at the first failure', async () => {
      const { server, client } = setup({ reconnect: { maxRetries: 0 } });
      const run = consume(client.stream('t1'));
      await tick();
      server.last.json(503, { statusCode: 503, message: 'busy' });
      await tick();
      expect(run.error).toBeInstanceOf(RetriesExhaustedError);
      expect((run.error as RetriesExhaustedError).cause).toMatchObject({ status: 503, message: '503: busy' });
      expect(server.requests).toHaveLength(1);
    });

    it('maxRetries counts consecutive failures only', async () => {
      const { server, client } = setup({ reconnect: { maxRetries: 1, initialDelayMs: 10 } });
      const run = consume(client.stream('t1'));
      for (let id = 1; id <= 3; id++) {
        await tick(100);
        server.last.fail(new TypeError('down'));
        await tick(100);
        const body = server.last.stream();
        body.write(frame(id, {}));
        body.close();
      }
      await tick(100);
      expect(run.failed).toBe(false);
      expect(run.events.map((e) => e.id)).toEqual([1, 2, 3]);
    });
  });

  describe('HTTP answers', () => {
    it('204: finishes without an event, forgets the task, does not retry', async () => {
      const { server, client, storage } = setup();
      storage.setItem('sse-resume:t1:key', 'k');
      storage.setItem('sse-resume:t1:id', '9');
      const stream = client.stream('t1');
      const run = consume(stream);
      await tick();
      expect(server.last.headers.get('last-event-id')).toBe('9');
      server.last.reply(new Response(null, { status: 204 }));
      await tick(60_000);
      expect(run).toMatchObject({ events: [], finished: true, failed: false });
      expect(storage.getItem('sse-resume:t1:key')).toBeNull();
      expect(storage.getItem('sse-resume:t1:id')).toBeNull();
      expect(server.requests).toHaveLength(1);
      expect(stream.end).toBeUndefined();
    });

    it.each([
      [400, TaskBadRequestError, 'Bad Request', 'INVALID_RESUME_POINT'],
      [403, TaskForbiddenError, 'Forbidden', 'RESUME_KEY_INVALID'],
      [404, TaskNotFoundError, 'Not Found', 'TASK_NOT_FOUND'],
      [410, TaskExpiredError, 'Gone', 'TASK_EXPIRED'],
    ])(
      '%d: %p with status, code and message, no retry, storage forgotten',
      async (status, Type, error, code) => {
        const { server, client, storage } = setup();
        storage.setItem('sse-resume:t1:key', 'k');
        storage.setItem('sse-resume:t1:id', '3');
        const run = consume(client.stream('t1'));
        await tick();
        const body = { statusCode: status, error, message: `the message of ${status}`, code };
        server.last.json(status, body);
        await tick(60_000);
        expect(run.failed).toBe(true);
        expect(run.error).toBeInstanceOf(Type);
        expect(run.error).toMatchObject({
          status,
          code,
          message: `${status}: the message of ${status}`,
          body,
        });
        expect(server.requests).toHaveLength(1);
        expect(storage.getItem('sse-resume:t1:key')).toBeNull();
        expect(storage.getItem('sse-resume:t1:id')).toBeNull();
      },
    );

    it.each([401, 405, 406, 409, 415, 422, 451, 499])(
      '%d: TaskHttpError, no retry, storage forgotten',
      async (status) => {
        const { server, client, storage } = setup();
        storage.setItem('sse-resume:t1:key', 'k');
        storage.setItem('sse-resume:t1:id', '3');
        const stream = client.stream('t1');
        const run = consume(stream);
        await tick();
        server.last.reply(new Response('nope', { status, statusText: 'Refused' }));
        await tick(60_000);
        expect(run.error).toBeInstanceOf(TaskHttpError);
        expect((run.error as Error).constructor).toBe(TaskHttpError);
        expect(run.error).toMatchObject({
          status,
          code: undefined,
          message: `HTTP ${status}`,
          body: 'nope',
        });
        expect(server.requests).toHaveLength(1);
        expect(storage.getItem('sse-resume:t1:key')).toBeNull();
        expect(storage.getItem('sse-resume:t1:id')).toBeNull();
        expect(stream.reconnects).toBe(0);
      },
    );

    it.each([408, 429, 500, 502, 503, 504])('%d is retried, storage kept', async (status) => {
      const { server, client, storage } = setup({ reconnect: { initialDelayMs: 1000 } });
      storage.setItem('sse-resume:t1:key', 'k');
      const reconnects: ReconnectInfo[] = [];
      const run = consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      server.last.json(status, { statusCode: status, message: 'later' });
      await tick();
      expect(reconnects).toHaveLength(1);
      expect(reconnects[0]!.cause).toBeInstanceOf(TaskHttpError);
      expect(reconnects[0]!.cause).toMatchObject({ status, message: `${status}: later` });
      expect(storage.getItem('sse-resume:t1:key')).toBe('k');
      await tick(1000);
      expect(server.last.headers.get('x-resume-key')).toBe('k');
      server.last.stream().write(endFrame(1));
      await tick();
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(server.requests).toHaveLength(2);
    });

    it.each([429, 503])(
      '%d waits Retry-After (seconds) above the backoff, capped by maxDelayMs',
      async (status) => {
        const { server, client } = setup({ reconnect: { maxDelayMs: 10_000 } });
        const reconnects: ReconnectInfo[] = [];
        consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
        await tick();
        server.last.json(status, {}, { 'retry-after': '7' });
        await tick();
        expect(reconnects[0]!.delayMs).toBe(7000);
        await tick(6999);
        expect(server.requests).toHaveLength(1);
        await tick(1);
        expect(server.requests).toHaveLength(2);
        server.last.json(status, {}, { 'retry-after': '120' });
        await tick();
        expect(reconnects[1]!.delayMs).toBe(10_000);
      },
    );

    it('Retry-After as an HTTP date', async () => {
      jest.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const { server, client } = setup();
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      server.last.json(503, {}, { 'retry-after': 'Tue, 01 Jan 2030 00:00:12 GMT' });
      await tick();
      expect(reconnects[0]!.delayMs).toBe(12_000);
      await tick(12_000);
      expect(server.requests).toHaveLength(2);
    });

    it.each([
      ['0', '0'],
      ['a past HTTP date', 'Mon, 31 Dec 2029 23:59:00 GMT'],
    ])(
      'Retry-After %s is a floor, not a reason to hammer: the jittered backoff still applies',
      async (_name, value) => {
        jest.setSystemTime(new Date('2030-01-01T00:00:00Z'));
        const draws = [0.5, 0.75];
        const random = jest.fn(() => draws.shift() ?? 0.5);
        const { server, client } = setup({ random, reconnect: { initialDelayMs: 1000 } });
        const reconnects: ReconnectInfo[] = [];
        consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
        await tick();
        server.last.json(503, {}, { 'retry-after': value });
        await tick();
        expect(reconnects[0]).toMatchObject({ failures: 1, delayMs: 1000 }); // 0.5 × 2000
        await tick(999);
        expect(server.requests).toHaveLength(1);
        await tick(1);
        expect(server.requests).toHaveLength(2);
        server.last.json(429, {}, { 'retry-after': value });
        await tick();
        expect(reconnects[1]).toMatchObject({ failures: 2, delayMs: 3000 }); // 0.75 × 4000
        expect(random).toHaveBeenCalledTimes(2);
      },
    );

    it('Retry-After below the backoff: the backoff wins; above it: Retry-After wins', async () => {
      const draws = [0.999, 0.1];
      const { server, client } = setup({
        random: () => draws.shift() ?? 0.5,
        reconnect: { initialDelayMs: 1000, maxDelayMs: 60_000 },
      });
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      server.last.json(503, {}, { 'retry-after': '1' });
      await tick();
      expect(reconnects[0]!.delayMs).toBe(1998); // max(1000, 0.999 × 2000)
      await tick(1998);
      server.last.json(503, {}, { 'retry-after': '1' });
      await tick();
      expect(reconnects[1]!.delayMs).toBe(1000); // max(1000, 0.1 × 4000)
    });

    it.each([
      ['application/json', '{}'],
      ['text/plain', 'data: 1\n\n'],
      [null, 'data: 1\n\n'],
    ])('200 with content type %p: ProtocolError, no retry', async (type, text) => {
      const { server, client } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      const headers: Record<string, string> = type === null ? {} : { 'content-type': type };
      const response = new Response(encoder.encode(text), { status: 200, headers });
      server.last.reply(response);
      await tick(60_000);
      expect(run.error).toBeInstanceOf(ProtocolError);
      expect((run.error as Error).message).toBe(`not a 200 event stream: 200 ${type}`);
      expect(server.requests).toHaveLength(1);
    });

    it('200 text/event-stream without a body: ProtocolError, no retry', async () => {
      const { server, client } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      server.last.reply(
        new Response(null, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
      );
      await tick(60_000);
      expect(run.error).toEqual(new ProtocolError('not a 200 event stream: 200 text/event-stream'));
      expect(server.requests).toHaveLength(1);
    });

    it.each([201, 202, 203, 206])(
      '%d, even as text/event-stream: ProtocolError, no retry, the body let go, storage kept',
      async (status) => {
        const { server, client, storage } = setup();
        storage.setItem('sse-resume:t1:key', 'k');
        const onOpen = jest.fn();
        const run = consume(client.stream('t1', { onOpen }));
        await tick();
        const body = new Body();
        server.last.reply(
          new Response(body.stream, { status, headers: { 'content-type': 'text/event-stream' } }),
        );
        body.write(frame(1, {}));
        await tick(60_000);
        expect(run).toMatchObject({ events: [], finished: true, failed: true });
        expect(run.error).toEqual(new ProtocolError(`not a 200 event stream: ${status} text/event-stream`));
        expect(run.error).toBeInstanceOf(ProtocolError);
        expect(onOpen).not.toHaveBeenCalled();
        expect(body.cancels).toBe(1);
        expect(server.requests).toHaveLength(1);
        expect(storage.getItem('sse-resume:t1:key')).toBe('k');
      },
    );

    it.each([
      ['no id at all', 'event: progress\ndata: {}\n\n', '""'],
      ['an empty id', 'id\nevent: progress\ndata: {}\n\n', '""'],
      ['a word', 'id: abc\nevent: progress\ndata: {}\n\n', '"abc"'],
      ['a negative id', 'id: -1\ndata: {}\n\n', '"-1"'],
      ['a fraction', 'id: 1.5\ndata: {}\n\n', '"1.5"'],
      ['an unsafe integer', 'id: 9007199254740993\ndata: {}\n\n', '"9007199254740993"'],
      ['16 digits (a safe integer)', 'id: 1234567890123456\ndata: {}\n\n', '"1234567890123456"'],
      ['hexadecimal', 'id: 0x10\ndata: {}\n\n', '"0x10"'],
      ['an exponent', 'id: 1e3\ndata: {}\n\n', '"1e3"'],
      ['a plus sign', 'id: +1\ndata: {}\n\n', '"+1"'],
      ['a space before the digits', 'id:  1\ndata: {}\n\n', '" 1"'],
      ['a space after the digits', 'id: 1 \ndata: {}\n\n', '"1 "'],
    ])('an event with %s: ProtocolError, no retry', async (_name, text, shown) => {
      const { server, client } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      const body = server.last.stream();
      body.write(text);
      await tick(60_000);
      expect(run.error).toBeInstanceOf(ProtocolError);
      expect(run.error).toEqual(new ProtocolError(`no valid id: ${shown}`));
      expect(server.requests).toHaveLength(1);
      expect(body.open).toBe(false);
    });
  });

  it('an id of 15 digits is valid', async () => {
    const { server, client, storage } = setup();
    const stream = client.stream('t1');
    const run = consume(stream);
    await tick();
    const body = server.last.stream();
    body.write(frame(999_999_999_999_998, {}), frame(999_999_999_999_999, {}));
    await tick();
    expect(run.events.map((e) => e.id)).toEqual([999_999_999_999_998, 999_999_999_999_999]);
    expect(stream.lastEventId).toBe(999_999_999_999_999);
    expect(storage.getItem('sse-resume:t1:id')).toBe('999999999999999');
    expect(run.failed).toBe(false);
  });

  describe('idle timeout', () => {
    it('a connection silent for idleTimeoutMs is dropped and resumed', async () => {
      const { server, client } = setup({ idleTimeoutMs: 10_000, reconnect: { initialDelayMs: 1000 } });
      const reconnects: ReconnectInfo[] = [];
      const run = consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick();
      const request = server.last;
      const body = request.stream();
      await tick(4000);
      body.write(openFrame(0, 1000), frame(1, {}));
      await tick(9999);
      expect(request.signal?.aborted).toBe(false);
      await tick(1);
      expect(request.signal?.aborted).toBe(true);
      expect(body.open).toBe(false);
      expect(reconnects).toHaveLength(1);
      expect(reconnects[0]!.cause).toBeInstanceOf(IdleTimeoutError);
      expect(reconnects[0]!.cause).toBeInstanceOf(SseClientError);
      expect((reconnects[0]!.cause as Error).message).toBe('silent for 10000 ms');
      expect(reconnects[0]).toMatchObject({ failures: 0, delayMs: 1000, lastEventId: 1 });
      await tick(1000);
      expect(server.requests).toHaveLength(2);
      expect(server.last.headers.get('last-event-id')).toBe('1');
      server.last.stream().write(endFrame(2));
      await tick();
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(run.events.map((e) => e.id)).toEqual([1, 2]);
    });

    it('any byte, heartbeat comments included, keeps it alive', async () => {
      const { server, client } = setup({ idleTimeoutMs: 10_000 });
      consume(client.stream('t1'));
      await tick();
      const body = server.last.stream();
      for (let i = 0; i < 10; i++) {
        await tick(9000);
        body.write(i % 2 === 0 ? ': ping\n\n' : ':');
      }
      expect(server.requests).toHaveLength(1);
      expect(server.last.signal?.aborted).toBe(false);
    });

    it('a request that gets no answer for idleTimeoutMs is dropped and retried', async () => {
      const { server, client } = setup({ idleTimeoutMs: 10_000, reconnect: { initialDelayMs: 1000 } });
      const reconnects: ReconnectInfo[] = [];
      consume(client.stream('t1', { onReconnect: (info) => reconnects.push(info) }));
      await tick(9999);
      expect(server.requests).toHaveLength(1);
      await tick(1);
      expect(server.requests[0]!.signal?.aborted).toBe(true);
      expect(reconnects[0]?.cause).toBeInstanceOf(IdleTimeoutError);
      expect((reconnects[0]?.cause as Error | undefined)?.message).toBe('silent for 10000 ms');
      await tick(1000);
      expect(server.requests).toHaveLength(2);
    });

    it('does not run while the application holds an event; silence counts again once it pulls', async () => {
      const { server, client } = setup({ idleTimeoutMs: 10_000, reconnect: { initialDelayMs: 1000 } });
      const reconnects: ReconnectInfo[] = [];
      const stream = client.stream('t1', { onReconnect: (info) => reconnects.push(info) });
      const iterator = stream[Symbol.asyncIterator]();
      const first = iterator.next();
      await tick();
      const request = server.last;
      const body = request.stream();
      body.write(frame(1, {}), frame(2, {}));
      await expect(first).resolves.toEqual({ done: false, value: { type: 'progress', id: 1, data: {} } });
      await tick(35_000); // a slow consumer: 3.5 × idleTimeoutMs with event 1 in hand
      expect(request.signal?.aborted).toBe(false);
      expect(reconnects).toEqual([]);
      // event 2 came with the same chunk: handed out at once, and held again
      await expect(iterator.next()).resolves.toEqual({
        done: false,
        value: { type: 'progress', id: 2, data: {} },
      });
      await tick(25_000);
      expect(request.signal?.aborted).toBe(false);
      expect(body.open).toBe(true);
      // pulling again: now the connection's silence counts, from this moment
      const third = iterator.next();
      await tick(9999);
      expect(request.signal?.aborted).toBe(false);
      expect(server.requests).toHaveLength(1);
      await tick(1);
      expect(request.signal?.aborted).toBe(true);
      expect(reconnects).toHaveLength(1);
      expect(reconnects[0]!.cause).toEqual(new IdleTimeoutError('silent for 10000 ms'));
      expect(reconnects[0]).toMatchObject({ failures: 0, lastEventId: 2 });
      await tick(1000);
      expect(server.requests).toHaveLength(2);
      expect(server.last.headers.get('last-event-id')).toBe('2');
      server.last.stream().write(endFrame(3));
      await expect(third).resolves.toEqual({
        done: false,
        value: { type: 'end', id: 3, status: 'completed' },
      });
      await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
    });

    it('a slow for-await body (each event takes longer than idleTimeoutMs) causes no reconnect', async () => {
      const { server, client } = setup({ idleTimeoutMs: 1000 });
      const stream = client.stream('t1');
      const seen: number[] = [];
      const done = (async () => {
        for await (const event of stream) {
          seen.push(event.id);
          await new Promise((resolve) => setTimeout(resolve, 5000));
        }
      })();
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}), frame(2, {}), frame(3, {}));
      await tick(14_000);
      expect(seen).toEqual([1, 2, 3]);
      body.write(endFrame(4));
      await tick(10_000);
      await done;
      expect(seen).toEqual([1, 2, 3, 4]);
      expect(server.requests).toHaveLength(1);
      expect(stream.reconnects).toBe(0);
    });

    it('0 disables it', async () => {
      const { server, client } = setup({ idleTimeoutMs: 0 });
      consume(client.stream('t1'));
      await tick();
      server.last.stream();
      await tick(24 * 3600_000);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('abort signal and close()', () => {
    type Phase = (server: FakeServer, stop: () => void, start: () => void) => Promise<void>;
    const phases: Record<string, Phase> = {
      'before the start': async (server, stop, start) => {
        stop();
        start();
        await tick();
        expect(server.requests).toHaveLength(0);
      },
      'during fetch': async (server, stop, start) => {
        start();
        await tick();
        stop();
        expect(server.last.signal?.aborted).toBe(true);
      },
      'during a read': async (server, stop, start) => {
        start();
        await tick();
        const body = server.last.stream();
        body.write(openFrame(0), frame(1, {}));
        await tick();
        stop();
        await tick();
        expect(body.open).toBe(false);
      },
      'during the backoff sleep': async (server, stop, start) => {
        start();
        await tick();
        server.last.fail(new TypeError('fetch failed'));
        await tick(500);
        stop();
      },
    };

    describe.each(Object.entries(phases))('%s', (_phase, reach) => {
      it('abort(): iteration throws the signal reason, no retry', async () => {
        const { server, client } = setup();
        const controller = new AbortController();
        const reason = new Error('user left');
        const stream = client.stream('t1', { signal: controller.signal });
        let run: Run<TaskStreamEvent> | undefined;
        await reach(
          server,
          () => controller.abort(reason),
          () => (run = consume(stream)),
        );
        await tick(60_000);
        expect(run).toMatchObject({ finished: true, failed: true });
        expect(run?.error).toBe(reason);
        expect(server.requests.length).toBeLessThanOrEqual(1);
      });

      it('close(): iteration ends quietly, no retry', async () => {
        const { server, client } = setup();
        const stream = client.stream('t1');
        let run: Run<TaskStreamEvent> | undefined;
        await reach(
          server,
          () => stream.close(),
          () => (run = consume(stream)),
        );
        await tick(60_000);
        expect(run).toMatchObject({ finished: true, failed: false });
        expect(server.requests.length).toBeLessThanOrEqual(1);
      });
    });

    it('a signal aborted before the stream is made: no request at all', async () => {
      const { server, client } = setup();
      const run = consume(client.stream('t1', { signal: AbortSignal.abort() }));
      await tick();
      expect(run.error).toBeInstanceOf(DOMException);
      expect((run.error as DOMException).name).toBe('AbortError');
      expect(server.requests).toHaveLength(0);
    });

    it('close() from the loop body stops there, even with events of the same chunk left', async () => {
      const { server, client } = setup();
      const stream = client.stream('t1');
      const seen: number[] = [];
      void (async () => {
        for await (const event of stream) {
          seen.push(event.id);
          stream.close();
        }
      })();
      await tick();
      server.last.stream().write(openFrame(0) + frame(1, {}) + frame(2, {}) + frame(3, {}));
      await tick(60_000);
      expect(seen).toEqual([1]);
      expect(server.requests).toHaveLength(1);
    });

    it('abort() from the loop body throws there, even with events of the same chunk left', async () => {
      const { server, client } = setup();
      const controller = new AbortController();
      const stream = client.stream('t1', { signal: controller.signal });
      const seen: number[] = [];
      const failure = (async () => {
        for await (const event of stream) {
          seen.push(event.id);
          controller.abort(new Error('enough'));
        }
      })().then(
        () => undefined,
        (error: unknown) => error,
      );
      await tick();
      server.last.stream().write(frame(1, {}) + frame(2, {}));
      await tick();
      expect(await failure).toEqual(new Error('enough'));
      expect(seen).toEqual([1]);
    });

    it('break lets the connection go: the request is aborted and the body closed', async () => {
      const { server, client } = setup();
      const stream = client.stream('t1');
      const done = (async () => {
        for await (const event of stream) if (event.id === 1) break;
      })();
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}), frame(2, {}));
      await done;
      await tick(60_000);
      expect(server.last.signal?.aborted).toBe(true);
      expect(body.open).toBe(false);
      expect(server.requests).toHaveLength(1);
    });

    it('close() during a read cancels the body reader, even with a fetch whose abort leaves the body alone', async () => {
      const { server, client } = setup();
      const stream = client.stream('t1');
      const run = consume(stream);
      await tick();
      const request = server.last;
      const body = request.stream({ abortErrorsBody: false });
      body.write(frame(1, {}));
      await tick();
      stream.close();
      await tick();
      expect(request.signal?.aborted).toBe(true);
      expect(body.cancels).toBe(1);
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(run.events.map((e) => e.id)).toEqual([1]);
      await tick(60_000);
      expect(server.requests).toHaveLength(1);
    });

    it('an aborted signal during a read cancels the body reader, even with a fetch whose abort leaves the body alone', async () => {
      const { server, client } = setup();
      const controller = new AbortController();
      const run = consume(client.stream('t1', { signal: controller.signal }));
      await tick();
      const body = server.last.stream({ abortErrorsBody: false });
      body.write(frame(1, {}));
      await tick();
      const reason = new Error('user left');
      controller.abort(reason);
      await tick();
      expect(body.cancels).toBe(1);
      expect(run).toMatchObject({ finished: true, failed: true });
      expect(run.error).toBe(reason);
      await tick(60_000);
      expect(server.requests).toHaveLength(1);
    });

    it('an idle timeout cancels the body reader, even with a fetch whose abort leaves the body alone, and resumes', async () => {
      const { server, client } = setup({ idleTimeoutMs: 10_000, reconnect: { initialDelayMs: 1000 } });
      const run = consume(client.stream('t1'));
      await tick();
      const first = server.last;
      const body = first.stream({ abortErrorsBody: false });
      body.write(openFrame(0, 1000), frame(1, {}));
      await tick(10_000);
      expect(first.signal?.aborted).toBe(true);
      expect(body.cancels).toBe(1);
      await tick(1000);
      expect(server.requests).toHaveLength(2);
      expect(server.last.headers.get('last-event-id')).toBe('1');
      server.last.stream({ abortErrorsBody: false }).write(endFrame(2));
      await tick();
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(run.events.map((e) => e.id)).toEqual([1, 2]);
    });

    it('break cancels the body reader, even with a fetch whose abort leaves the body alone', async () => {
      const { server, client } = setup();
      const done = (async () => {
        for await (const event of client.stream('t1')) if (event.id === 1) break;
      })();
      await tick();
      const body = server.last.stream({ abortErrorsBody: false });
      body.write(frame(1, {}), frame(2, {}));
      await done;
      await tick();
      expect(body.cancels).toBe(1);
    });
  });

  describe('callbacks', () => {
    it('an exception from onOpen stops the stream with it, not retried', async () => {
      const { server, client } = setup();
      const bug = new Error('onOpen bug');
      const onReconnect = jest.fn();
      const run = consume(
        client.stream('t1', {
          onOpen: () => {
            throw bug;
          },
          onReconnect,
        }),
      );
      await tick();
      server.last.stream().write(frame(1, {}));
      await tick(60_000);
      expect(run).toMatchObject({ events: [], finished: true, failed: true });
      expect(run.error).toBe(bug);
      expect(onReconnect).not.toHaveBeenCalled();
      expect(server.requests).toHaveLength(1);
    });

    it('an exception from onOpen on a later connection stops the stream there', async () => {
      const { server, client } = setup({ reconnect: { initialDelayMs: 100 } });
      const bug = new TypeError('second open');
      let opens = 0;
      const stream = client.stream('t1', {
        onOpen: () => {
          if (++opens === 2) throw bug;
        },
      });
      const run = consume(stream);
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}));
      body.close();
      await tick(100);
      expect(server.requests).toHaveLength(2);
      server.last.stream().write(frame(2, {}));
      await tick(60_000);
      expect(run.error).toBe(bug);
      expect(run.events.map((e) => e.id)).toEqual([1]);
      expect(server.requests).toHaveLength(2);
      expect(stream.reconnects).toBe(1);
    });

    it('an exception from onReconnect stops the stream with it: no further request', async () => {
      const { server, client } = setup();
      const bug = new Error('onReconnect bug');
      const onReconnect = jest.fn(() => {
        throw bug;
      });
      const stream = client.stream('t1', { onReconnect });
      const run = consume(stream);
      await tick();
      server.last.fail(new TypeError('fetch failed'));
      await tick(60_000);
      expect(onReconnect).toHaveBeenCalledTimes(1);
      expect(run).toMatchObject({ finished: true, failed: true });
      expect(run.error).toBe(bug);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('handing out the events of a read', () => {
    it('one at a time: each id is stored as its event is handed out, and the next read waits for the last one', async () => {
      const { server, client, storage } = setup();
      const iterator = client.stream('t1')[Symbol.asyncIterator]();
      const first = iterator.next();
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}) + frame(2, {}) + frame(3, {}), frame(4, {}));
      expect(await first).toEqual({ done: false, value: { type: 'progress', id: 1, data: {} } });
      expect(storage.getItem('sse-resume:t1:id')).toBe('1');
      expect(body.queued).toBe(1); // the second chunk is not read while events of the first are left
      expect((await iterator.next()).value).toMatchObject({ id: 2 });
      expect(storage.getItem('sse-resume:t1:id')).toBe('2');
      expect((await iterator.next()).value).toMatchObject({ id: 3 });
      expect(storage.getItem('sse-resume:t1:id')).toBe('3');
      await tick();
      expect(body.queued).toBe(1);
      expect((await iterator.next()).value).toMatchObject({ id: 4 });
      expect(body.queued).toBe(0);
      expect(storage.getItem('sse-resume:t1:id')).toBe('4');
    });

    it('a break in the middle of a read: the rest is dropped, storage names the last event handed out, a reload resumes after it', async () => {
      const { server, client, storage } = setup();
      const seen: number[] = [];
      const done = (async () => {
        for await (const event of client.stream('t1')) {
          seen.push(event.id);
          if (event.id === 2) break;
        }
      })();
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}) + frame(2, {}) + frame(3, {}) + frame(4, {}));
      await done;
      expect(body.open).toBe(false);
      expect(seen).toEqual([1, 2]);
      expect(storage.getItem('sse-resume:t1:id')).toBe('2');
      const reloaded = new SseResumeClient({ baseUrl: 'http://test/', fetch: server.fetch, storage });
      const run = consume(reloaded.stream('t1'));
      await tick();
      expect(server.last.headers.get('last-event-id')).toBe('2');
      server.last.stream().write(frame(3, {}) + endFrame(4));
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([3, 4]);
    });

    it('the iterator is its own async iterable, so a for await over it works', async () => {
      const { server, client } = setup();
      const iterator = client.stream('t1')[Symbol.asyncIterator]();
      expect(iterator[Symbol.asyncIterator]()).toBe(iterator);
      const seen: number[] = [];
      const done = (async () => {
        for await (const event of iterator) {
          seen.push(event.id);
        }
      })();
      await tick();
      server.last.stream().write(frame(1, {}) + endFrame(2));
      await done;
      expect(seen).toEqual([1, 2]);
    });

    it('after return(), next() is done even with events of the read left', async () => {
      const { server, client, storage } = setup();
      const iterator = client.stream('t1')[Symbol.asyncIterator]();
      const first = iterator.next();
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}) + frame(2, {}) + frame(3, {}));
      expect((await first).value).toMatchObject({ id: 1 });
      await expect(iterator.return(undefined)).resolves.toEqual({ done: true, value: undefined });
      await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
      expect(storage.getItem('sse-resume:t1:id')).toBe('1');
      expect(body.open).toBe(false);
    });

    it('next() called again before the last call settled: every event once, in order, across reads', async () => {
      const { server, client } = setup();
      const iterator = client.stream('t1')[Symbol.asyncIterator]();
      const pending = [iterator.next(), iterator.next(), iterator.next(), iterator.next(), iterator.next()];
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}) + frame(2, {}));
      await tick();
      body.write(frame(2, {}) + frame(3, {}), frame(4, {}) + endFrame(5));
      const results = await Promise.all(pending);
      expect(results.map((r) => r.value?.id)).toEqual([1, 2, 3, 4, 5]);
      await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
    });

    it('an invalid id after valid ones of the same read: those are handed out first, then the ProtocolError', async () => {
      const { server, client, storage } = setup();
      const run = consume(client.stream('t1'));
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}) + frame(2, {}) + 'id: x\ndata: {}\n\n' + frame(3, {}));
      await tick(60_000);
      expect(run.events.map((e) => e.id)).toEqual([1, 2]);
      expect(run.error).toEqual(new ProtocolError('no valid id: "x"'));
      expect(storage.getItem('sse-resume:t1:id')).toBe('2');
      expect(body.open).toBe(false);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('storage', () => {
    it('keeps the key and the last id; a new client on the same storage (a reload) resumes from them', async () => {
      const { server, client, storage } = setup();
      consume(client.stream('t1', { resumeKey: 'k1' }));
      expect(storage.getItem('sse-resume:t1:key')).toBe('k1');
      await tick();
      server.last.stream().write(frame(1, {}), frame(2, {}));
      await tick();
      expect(storage.getItem('sse-resume:t1:id')).toBe('2');

      const reloaded = new SseResumeClient({ baseUrl: 'http://test/', fetch: server.fetch, storage });
      const stream = reloaded.stream('t1');
      expect(stream.resumeKey).toBe('k1');
      expect(stream.lastEventId).toBe(2);
      const run = consume(stream);
      await tick();
      expect(server.last.headers.get('x-resume-key')).toBe('k1');
      expect(server.last.headers.get('last-event-id')).toBe('2');
      server.last.stream().write(frame(2, {}), frame(3, {}), endFrame(4));
      await tick();
      expect(run.events.map((e) => e.id)).toEqual([3, 4]);
      expect(storage.getItem('sse-resume:t1:key')).toBeNull();
      expect(storage.getItem('sse-resume:t1:id')).toBeNull();
    });

    it('a storage whose every call throws never breaks the stream', async () => {
      const quota = new Error('QuotaExceededError');
      const storage: ResumeStorage = {
        getItem: () => {
          throw new Error('SecurityError');
        },
        setItem: () => {
          throw quota;
        },
        removeItem: () => {
          throw quota;
        },
      };
      const { server, client } = setup({ storage });
      const stream = client.stream('t1', { resumeKey: 'k1' });
      expect(stream.resumeKey).toBe('k1');
      const run = consume(stream);
      await tick();
      const body = server.last.stream();
      body.write(frame(1, {}));
      body.close();
      await tick(2000);
      expect(server.last.headers.get('last-event-id')).toBe('1');
      expect(server.last.headers.get('x-resume-key')).toBe('k1');
      server.last.stream().write(endFrame(2));
      await tick();
      expect(run).toMatchObject({ finished: true, failed: false });
      expect(run.events.map((e) => e.id)).toEqual([1, 2]);
    });
  });

  it('cancel() deletes the task with the stream key', async () => {
    const { server, client } = setup();
    const stream = client.stream('t1', { resumeKey: 'k1' });
    const cancelled = stream.cancel();
    await tick();
    expect(server.last).toMatchObject({ method: 'DELETE', url: 'http://test/tasks/t1' });
    expect(server.last.headers.get('x-resume-key')).toBe('k1');
    server.last.reply(new Response(null, { status: 202 }));
    await expect(cancelled).resolves.toBe(true);
  });

  describe('property: any events, any cuts', () => {
    type Step = { type: 'progress' | 'log' | 'gap'; width: number; text: string };

    it('yields every id exactly once, in order, then end', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              type: fc.constantFrom('progress' as const, 'log' as const, 'gap' as const),
              width: fc.nat(3),
              text: fc.string({ unit: 'binary', maxLength: 6 }),
            }),
            { maxLength: 25 },
          ),
          fc.array(fc.nat(), { maxLength: 10 }),
          fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
          fc.nat(3),
          async (steps: Step[], cuts: number[], sizes: number[], repeats: number) => {
            // what the task emitted, with its ids
            const emitted: Array<{ frame: string; expected: TaskStreamEvent }> = [];
            let id = 0;
            for (const step of steps) {
              if (step.type === 'gap') {
                const from = id + 1;
                id += 1 + step.width;
                emitted.push({ frame: gapFrame(from, id), expected: { type: 'gap', id, from, to: id } });
              } else {
                id++;
                emitted.push({
                  frame: frame(id, step.text, step.type),
                  expected: { type: step.type, id, data: step.text },
                });
              }
            }
            id++;
            emitted.push({ frame: endFrame(id), expected: { type: 'end', id, status: 'completed' } });

            const { server, client } = setup({ reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
            let connection = 0;
            server.handler = (request) => {
              const header = request.headers.get('last-event-id');
              const after = header === null ? 0 : Number(header);
              const replay = emitted.filter((e) => e.expected.id > after - repeats);
              const bytes = encoder.encode(openFrame(after, 10) + replay.map((e) => e.frame).join(''));
              const cut = cuts[connection];
              const sent = cut === undefined ? bytes : bytes.slice(0, cut % (bytes.length + 1));
              const body = request.stream();
              for (let at = 0, i = connection; at < sent.length; i++) {
                const size = sizes[i % sizes.length]!;
                body.write(sent.slice(at, at + size));
                at += size;
              }
              body.close();
              connection++;
            };
            const stream = client.stream('t1');
            const run = consume(stream);
            for (let i = 0; i < 100 && !run.finished; i++) await tick(1000);
            expect(run).toMatchObject({ finished: true, failed: false });
            expect(run.events).toStrictEqual(emitted.map((e) => e.expected));
            expect(stream.lastEventId).toBe(id);
          },
        ),
        { numRuns: 150 },
      );
    });
  });
});
