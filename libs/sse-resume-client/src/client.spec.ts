import { SseResumeClient, type SseResumeClientOptions } from './client.js';
import {
  ProtocolError,
  TaskBadRequestError,
  TaskForbiddenError,
  TaskHttpError,
  TaskNotFoundError,
  TaskExpiredError,
} from './errors.js';
import { memoryStorage, type ResumeStorage } from './storage.js';
import type { TaskEndEvent, TaskGapEvent, TaskStreamEvent } from './types.js';

interface Events {
  progress: { done: number };
}
interface Result {
  url: string;
}

/** A request as the fake `fetch` saw it. */
interface Sent {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly credentials: RequestInit['credentials'];
  readonly body: unknown;
  readonly signal: AbortSignal | undefined;
}

type Answer = (sent: Sent) => Response;

const encoder = new TextEncoder();

/**
 * A `fetch` answering each request with the next of `answers`; with none left, it never
 * answers (until the request is aborted, then it rejects with the signal's reason, as fetch does).
 */
function fakeFetch(...answers: Answer[]) {
  const sent: Sent[] = [];
  const fetch: typeof globalThis.fetch = (input, init = {}) => {
    const request: Sent = {
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: init.method ?? 'GET',
      headers: new Headers(init.headers),
      credentials: init.credentials,
      body: init.body,
      signal: init.signal ?? undefined,
    };
    sent.push(request);
    const { signal } = request;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const answer = answers.shift();
    if (answer) return Promise.resolve(answer(request));
    return new Promise<Response>((_resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  };
  return { fetch, sent };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });

const empty =
  (status: number): Answer =>
  () =>
    new Response(null, { status });

/** 200 `text/event-stream` sending `frames`; `open` keeps it going until the request is aborted. */
const events =
  (frames: string[], open = false): Answer =>
  ({ signal }) => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const frame of frames) controller.enqueue(encoder.encode(frame));
        if (!open) controller.close();
        else signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  };

const frame = (id: number, data: unknown, type = 'progress'): string =>
  `event: ${type}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
const endFrame = (id: number, result?: unknown): string => frame(id, { status: 'completed', result }, 'end');

const tick = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const event of iterable) seen.push(event);
  return seen;
}

function setup(answers: Answer[], options: SseResumeClientOptions = {}) {
  const { fetch, sent } = fakeFetch(...answers);
  const storage = memoryStorage();
  const client = new SseResumeClient({ baseUrl: 'http://h/api', fetch, storage, ...options });
  return { client, sent, storage };
}

/** Runs `body` with browser globals (`location`, `document`, `sessionStorage`) defined. */
async function inBrowser(
  page: string,
  body: (sessionStorage: ResumeStorage) => Promise<void>,
): Promise<void> {
  const sessionStorage = memoryStorage();
  const globals = globalThis as Record<string, unknown>;
  globals.location = { href: page };
  globals.document = { baseURI: page };
  globals.sessionStorage = sessionStorage;
  try {
    await body(sessionStorage);
  } finally {
    delete globals.location;
    delete globals.document;
    delete globals.sessionStorage;
  }
}

beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] }));
afterEach(() => jest.useRealTimers());

describe('SseResumeClient', () => {
  describe('construction and routes', () => {
    it('without baseUrl outside a browser: TypeError', () => {
      expect(() => new SseResumeClient({ fetch: fakeFetch().fetch })).toThrow(
        new TypeError('SseResumeClient: baseUrl is required outside a browser'),
      );
    });

    it('checks the reconnect options at once', () => {
      expect(() => new SseResumeClient({ baseUrl: 'http://h/', reconnect: { factor: 0.5 } })).toThrow(
        RangeError,
      );
    });

    it.each([
      ['http://h/api', 'http://h/api/'],
      ['http://h/api/', 'http://h/api/'],
      ['http://h', 'http://h/'],
      [new URL('http://h/a/b'), 'http://h/a/b/'],
    ])('baseUrl %p: the default routes under %s', async (baseUrl, root) => {
      const { client, sent } = setup(
        [json(201, { taskId: 't 1/x', resumeKey: 'k' }), empty(202), json(200, {}), empty(204)],
        { baseUrl },
      );
      const stream = await client.start({});
      await client.cancel('t 1/x');
      await client.info('t 1/x');
      await drain(stream);
      expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual([
        `POST ${root}tasks`,
        `DELETE ${root}tasks/t%201%2Fx`,
        `GET ${root}tasks/t%201%2Fx`,
        `GET ${root}tasks/t%201%2Fx/events`,
      ]);
    });

    it('custom routes', async () => {
      const { client, sent } = setup(
        [json(200, { taskId: 't1', resumeKey: 'k' }), empty(202), json(200, {}), empty(204)],
        {
          routes: { start: 'jobs/new', events: (id) => `jobs/${id}/feed`, task: (id) => `jobs/${id}` },
        },
      );
      const stream = await client.start({});
      await client.cancel('t1');
      await client.info('t1');
      await drain(stream);
      expect(sent.map((s) => s.url)).toEqual([
        'http://h/api/jobs/new',
        'http://h/api/jobs/t1',
        'http://h/api/jobs/t1',
        'http://h/api/jobs/t1/feed',
      ]);
      expect(sent[0]!.headers.get('x-resume-cookie-path')).toBe('/api/jobs/new');
    });

    it('in a browser: routes relative to the page, kept in sessionStorage', async () => {
      await inBrowser('http://page/app/index.html', async (sessionStorage) => {
        const { fetch, sent } = fakeFetch(json(201, { taskId: 't1', resumeKey: 'k' }));
        const client = new SseResumeClient({ fetch });
        await client.start({});
        expect(sent[0]!.url).toBe('http://page/app/tasks');
        expect(sessionStorage.getItem('sse-resume:t1:key')).toBe('k');
      });
    });

    it('in a browser, a relative baseUrl is relative to the page', async () => {
      await inBrowser('http://page/app/index.html', async () => {
        const { fetch, sent } = fakeFetch(empty(204), empty(204));
        await drain(new SseResumeClient({ baseUrl: '/api', fetch }).stream('t1'));
        await drain(new SseResumeClient({ baseUrl: 'v2', fetch }).stream('t1'));
        expect(sent.map((s) => s.url)).toEqual([
          'http://page/api/tasks/t1/events',
          'http://page/app/v2/tasks/t1/events',
        ]);
      });
    });

    it('storagePrefix names the entries', async () => {
      const { client, storage } = setup([json(201, { taskId: 't1', resumeKey: 'k' })], {
        storagePrefix: 'app:',
      });
      await client.start({});
      expect(storage.getItem('app:t1:key')).toBe('k');
    });
  });

  describe('headers and credentials', () => {
    it('headers (an object) and credentials go with every request', async () => {
      const { client, sent } = setup(
        [json(201, { taskId: 't1', resumeKey: 'k' }), empty(202), json(200, {}), empty(204)],
        { headers: { authorization: 'Bearer x' }, credentials: 'include' },
      );
      const stream = await client.start({});
      await client.cancel('t1');
      await client.info('t1');
      await drain(stream);
      expect(sent.map((s) => [s.headers.get('authorization'), s.credentials])).toEqual(
        Array(4).fill(['Bearer x', 'include']),
      );
      expect(sent[3]!.headers.get('accept')).toBe('text/event-stream');
    });

    it('headers (a function) are asked for each request; credentials default to same-origin', async () => {
      let n = 0;
      const { client, sent } = setup(
        [json(201, { taskId: 't1', resumeKey: 'k' }), events([frame(1, {})]), empty(204)],
        { headers: () => ({ authorization: `Bearer ${++n}` }), reconnect: { initialDelayMs: 10 } },
      );
      const stream = await client.start({});
      const done = drain(stream);
      await tick(100);
      await done;
      expect(sent.map((s) => [s.headers.get('authorization'), s.credentials])).toEqual([
        ['Bearer 1', 'same-origin'],
        ['Bearer 2', 'same-origin'],
        ['Bearer 3', 'same-origin'],
      ]);
    });
  });

  describe('start()', () => {
    it('posts the body as JSON with the path it posts to, keeps the key, returns the stream', async () => {
      const { client, sent, storage } = setup([
        json(201, { taskId: 't1', resumeKey: 'k1' }),
        events([frame(1, { done: 1 }), endFrame(2, { url: '/r' })]),
      ]);
      const stream = await client.start<Events, Result>({ steps: 3 });
      expect(sent[0]).toMatchObject({ method: 'POST', body: '{"steps":3}', credentials: 'same-origin' });
      expect(Object.fromEntries(sent[0]!.headers)).toEqual({
        'content-type': 'application/json',
        accept: 'application/json',
        'x-resume-cookie-path': '/api/tasks',
      });
      expect(stream.taskId).toBe('t1');
      expect(stream.resumeKey).toBe('k1');
      expect(client.resumeKeyOf('t1')).toBe('k1');
      expect(storage.getItem('sse-resume:t1:key')).toBe('k1');
      const received: TaskStreamEvent<Events, Result>[] = await drain(stream);
      expect(received).toEqual([
        { type: 'progress', id: 1, data: { done: 1 } },
        { type: 'end', id: 2, status: 'completed', result: { url: '/r' } },
      ]);
      expect(sent[1]!.headers.get('x-resume-key')).toBe('k1');
      expect(client.resumeKeyOf('t1')).toBeUndefined();
    });

    it.each([
      [400, TaskBadRequestError, {}, undefined],
      [403, TaskForbiddenError, {}, undefined],
      [429, TaskHttpError, { 'retry-after': '5' }, 5000],
      [503, TaskHttpError, { 'retry-after': '30' }, 30_000],
      [503, TaskHttpError, {}, undefined],
    ])('%d: %p, retryAfterMs %p, not retried', async (status, Type, headers, _retry) => {
      const retryAfterMs = _retry;
      const body = { statusCode: status, error: 'E', message: 'refused', code: 'CODE' };
      const { client, sent } = setup([json(status, body, headers)]);
      const error = await client.start({}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Type);
      expect(error).toMatchObject({
        status,
        code: 'CODE',
        message: `${status}: refused`,
        body,
        retryAfterMs,
      });
      await tick(60_000);
      expect(sent).toHaveLength(1);
    });

    it('Retry-After as an HTTP date', async () => {
      jest.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const { client } = setup([json(429, {}, { 'retry-after': 'Tue, 01 Jan 2030 00:01:00 GMT' })]);
      await expect(client.start({})).rejects.toMatchObject({ status: 429, retryAfterMs: 60_000 });
    });

    it.each([{ resumeKey: 'k' }, { taskId: 't1' }, { taskId: 1, resumeKey: 'k' }, null])(
      'an answer %p: ProtocolError',
      async (answer) => {
        const { client } = setup([json(201, answer)]);
        await expect(client.start({})).rejects.toEqual(
          new ProtocolError('the start route did not answer { taskId, resumeKey }'),
        );
      },
    );

    it.each([
      ['an empty body', ''],
      ['HTML', '<html>proxy login</html>'],
    ])('an answer that is not JSON (%s): ProtocolError', async (_name, text) => {
      const { client } = setup([() => new Response(text, { status: 200 })]);
      await expect(client.start({})).rejects.toEqual(
        new ProtocolError('the start route did not answer { taskId, resumeKey }'),
      );
    });

    it('its signal aborts the post', async () => {
      const { client } = setup([]);
      const controller = new AbortController();
      const started = client.start({}, { signal: controller.signal });
      controller.abort(new Error('stop'));
      await expect(started).rejects.toThrow('stop');
    });
  });

  describe('cancel() and info()', () => {
    it.each([
      [202, true],
      [200, true],
      [409, false],
    ])('cancel: %d → %p', async (status, expected) => {
      const { client, sent } = setup([status === 200 ? json(200, {}) : empty(status)]);
      await expect(client.cancel('t1')).resolves.toBe(expected);
      expect(sent[0]!.method).toBe('DELETE');
    });

    it.each([
      [404, TaskNotFoundError],
      [410, TaskExpiredError],
      [403, TaskForbiddenError],
      [500, TaskHttpError],
    ])('cancel: %d → %p', async (status, Type) => {
      const { client } = setup([json(status, { statusCode: status, message: 'no', code: 'C' })]);
      const error = await client.cancel('t1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Type);
      expect(error).toMatchObject({ status, code: 'C', message: `${status}: no` });
    });

    it('send the stored key, or the one given, or none', async () => {
      const { client, sent } = setup([
        json(201, { taskId: 't1', resumeKey: 'stored' }),
        empty(202),
        json(200, { status: 'running' }),
        empty(202),
        empty(202),
      ]);
      await client.start({});
      await client.cancel('t1');
      await expect(client.info('t1')).resolves.toEqual({ status: 'running' });
      await client.cancel('t1', { resumeKey: 'given' });
      client.forget('t1');
      await client.cancel('t1');
      expect(sent.slice(1).map((s) => s.headers.get('x-resume-key'))).toEqual([
        'stored',
        'stored',
        'given',
        null,
      ]);
      expect(sent[2]).toMatchObject({ method: 'GET' });
      expect(sent[2]!.headers.get('accept')).toBe('application/json');
    });

    it('info: a refusal is typed', async () => {
      const { client } = setup([
        json(403, { statusCode: 403, message: 'bad key', code: 'RESUME_KEY_INVALID' }),
      ]);
      await expect(client.info('t1')).rejects.toMatchObject({
        constructor: TaskForbiddenError,
        code: 'RESUME_KEY_INVALID',
        message: '403: bad key',
      });
    });

    it('forget() drops the key and the last id', async () => {
      const { client, storage } = setup([]);
      storage.setItem('sse-resume:t1:key', 'k');
      storage.setItem('sse-resume:t1:id', '4');
      expect(client.resumeKeyOf('t1')).toBe('k');
      client.forget('t1');
      expect(storage.getItem('sse-resume:t1:key')).toBeNull();
      expect(storage.getItem('sse-resume:t1:id')).toBeNull();
      expect(client.resumeKeyOf('t1')).toBeUndefined();
    });
  });

  describe('subscribe()', () => {
    it('calls onEvent, then onGap or onEnd, in order; done resolves to the end event', async () => {
      const { client } = setup([
        events([frame(1, { done: 1 }), frame(3, { from: 2, to: 3 }, 'gap'), endFrame(4, { url: '/r' })]),
      ]);
      const calls: string[] = [];
      const subscription = client.subscribe<Events, Result>('t1', {
        onEvent: (event) => calls.push(`event ${event.type} ${event.id}`),
        onGap: (gap: TaskGapEvent) => calls.push(`gap ${gap.from}-${gap.to}`),
        onEnd: (end: TaskEndEvent<Result>) => calls.push(`end ${end.status} ${end.result?.url}`),
        onError: (error) => calls.push(`error ${String(error)}`),
      });
      await expect(subscription.done).resolves.toEqual({
        type: 'end',
        id: 4,
        status: 'completed',
        result: { url: '/r' },
      });
      expect(calls).toEqual([
        'event progress 1',
        'event gap 3',
        'gap 2-3',
        'event end 4',
        'end completed /r',
      ]);
      expect(subscription.stream.taskId).toBe('t1');
    });

    it('a typed failure: onError, and done rejects with it', async () => {
      const { client } = setup([json(404, { statusCode: 404, message: 'gone', code: 'TASK_NOT_FOUND' })]);
      const onError = jest.fn();
      const subscription = client.subscribe('t1', { onError });
      const error = await subscription.done.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskNotFoundError);
      expect(onError.mock.calls).toEqual([[error]]);
    });

    it('close(): done resolves undefined, no onError', async () => {
      const { client, sent } = setup([events([frame(1, {})], true)]);
      const onEvent = jest.fn();
      const onError = jest.fn();
      const subscription = client.subscribe('t1', { onEvent, onError });
      await tick();
      expect(onEvent).toHaveBeenCalledTimes(1);
      subscription.close();
      await expect(subscription.done).resolves.toBeUndefined();
      expect(onError).not.toHaveBeenCalled();
      expect(sent[0]!.signal?.aborted).toBe(true);
    });

    it('close() from onEvent: no later onEvent, even for events of the same chunk', async () => {
      const { client } = setup([events([frame(1, {}) + frame(2, {}) + endFrame(3)], true)]);
      const seen: number[] = [];
      const subscription = client.subscribe('t1', {
        onEvent: (event) => {
          seen.push(event.id);
          subscription.close();
        },
      });
      await expect(subscription.done).resolves.toBeUndefined();
      expect(seen).toEqual([1]);
    });

    it('204 (the task ended before): done resolves undefined', async () => {
      const { client } = setup([empty(204)]);
      const onEvent = jest.fn();
      await expect(client.subscribe('t1', { onEvent }).done).resolves.toBeUndefined();
      expect(onEvent).not.toHaveBeenCalled();
    });

    it('a failure whose done nobody awaits is no unhandled rejection (Jest would fail the test)', async () => {
      const { client } = setup([json(410, { statusCode: 410, message: 'expired' })]);
      const onError = jest.fn();
      client.subscribe('t1', { onError });
      await tick(10);
      expect(onError).toHaveBeenCalledWith(expect.any(TaskExpiredError));
    });

    it('a throwing handler stops the stream: onError gets its error, done rejects with it', async () => {
      const { client, sent } = setup([events([frame(1, {}), frame(2, {})], true)]);
      const bug = new Error('handler bug');
      const onError = jest.fn();
      const subscription = client.subscribe('t1', {
        onEvent: () => {
          throw bug;
        },
        onError,
      });
      await expect(subscription.done).rejects.toBe(bug);
      expect(onError).toHaveBeenCalledWith(bug);
      expect(sent[0]!.signal?.aborted).toBe(true);
    });
  });
});
