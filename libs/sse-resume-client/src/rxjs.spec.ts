import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { SseResumeClient } from './client.js';
import { TaskNotFoundError } from './errors.js';
import { taskEvents$ } from './rxjs.js';
import { memoryStorage } from './storage.js';
import type { TaskStreamEvent } from './types.js';

interface Events {
  progress: { done: number };
}

const encoder = new TextEncoder();

/** An event-stream body the test writes to; by default the request's abort errors it, as with fetch. */
class Body {
  readonly stream: ReadableStream<Uint8Array>;
  cancels = 0;
  open = true;
  private controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(signal: AbortSignal | undefined, abortErrorsBody: boolean) {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.open = false;
        this.cancels++;
      },
    });
    if (abortErrorsBody) {
      signal?.addEventListener('abort', () => {
        if (!this.open) return;
        this.open = false;
        this.controller.error(signal.reason);
      });
    }
  }

  write(text: string): void {
    this.controller.enqueue(encoder.encode(text));
  }

  close(): void {
    this.open = false;
    this.controller.close();
  }
}

interface Received {
  readonly signal: AbortSignal | undefined;
  readonly headers: Headers;
  readonly body: Body | undefined;
}

/** A client whose `fetch` answers with `answer` (a Response, or an event stream the test writes). */
function setup(answer: 'stream' | 'stream, abort leaves the body' | (() => Response) = 'stream') {
  const requests: Received[] = [];
  const fetch: typeof globalThis.fetch = (_input, init = {}) => {
    const signal = init.signal ?? undefined;
    let body: Body | undefined;
    let response: Response;
    if (typeof answer === 'function') response = answer();
    else {
      body = new Body(signal, answer === 'stream');
      response = new Response(body.stream, { headers: { 'content-type': 'text/event-stream' } });
    }
    requests.push({ signal, headers: new Headers(init.headers), body });
    return Promise.resolve(response);
  };
  const client = new SseResumeClient({ baseUrl: 'http://h/', fetch, storage: memoryStorage() });
  return { client, requests };
}

const frame = (id: number, data: unknown, type = 'progress'): string =>
  `event: ${type}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;

const tick = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] }));
afterEach(() => jest.useRealTimers());

describe('taskEvents$', () => {
  it('emits every event and completes after end', async () => {
    const { client, requests } = setup();
    const seen: Array<TaskStreamEvent<Events>> = [];
    let completed = false;
    taskEvents$<Events>(client, 't1').subscribe({
      next: (event) => seen.push(event),
      complete: () => (completed = true),
    });
    await tick();
    requests[0]!.body!.write(frame(1, { done: 1 }));
    await tick();
    expect(seen).toEqual([{ type: 'progress', id: 1, data: { done: 1 } }]);
    expect(completed).toBe(false);
    requests[0]!.body!.write(frame(2, { status: 'completed' }, 'end'));
    await tick();
    expect(seen[1]).toEqual({ type: 'end', id: 2, status: 'completed' });
    expect(completed).toBe(true);
  });

  it('completes without a value on 204', async () => {
    const { client } = setup(() => new Response(null, { status: 204 }));
    await expect(lastValueFrom(taskEvents$(client, 't1').pipe(toArray()))).resolves.toEqual([]);
  });

  it('errors with the typed error', async () => {
    const { client } = setup(
      () =>
        new Response(JSON.stringify({ statusCode: 404, message: 'no task', code: 'TASK_NOT_FOUND' }), {
          status: 404,
        }),
    );
    const error = await firstValueFrom(taskEvents$(client, 't1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskNotFoundError);
    expect(error).toMatchObject({ code: 'TASK_NOT_FOUND', message: '404: no task' });
  });

  it('unsubscribe closes the stream: the request is aborted, nothing more is emitted or retried', async () => {
    const { client, requests } = setup();
    const next = jest.fn();
    const error = jest.fn();
    const complete = jest.fn();
    const subscription = taskEvents$(client, 't1').subscribe({ next, error, complete });
    await tick();
    const body = requests[0]!.body!;
    body.write(frame(1, {}));
    await tick();
    subscription.unsubscribe();
    await tick(60_000);
    expect(requests[0]!.signal?.aborted).toBe(true);
    expect(body.open).toBe(false);
    expect(requests).toHaveLength(1);
    expect(next).toHaveBeenCalledTimes(1);
    expect(error).not.toHaveBeenCalled();
    expect(complete).not.toHaveBeenCalled();
  });

  it('take(1) lets the connection go: the body reader is cancelled', async () => {
    const { client, requests } = setup('stream, abort leaves the body');
    const first = firstValueFrom(taskEvents$(client, 't1').pipe(take(1)));
    await tick();
    const body = requests[0]!.body!;
    body.write(frame(1, {}) + frame(2, {}));
    await expect(first).resolves.toMatchObject({ id: 1 });
    await tick();
    expect(requests[0]!.signal?.aborted).toBe(true);
    expect(body.cancels).toBe(1);
  });

  it('each subscription opens its own stream, with the options given', async () => {
    const { client, requests } = setup();
    const events$ = taskEvents$(client, 't1', { lastEventId: 7, resumeKey: 'k' });
    const a = events$.subscribe();
    const b = events$.subscribe();
    await tick();
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      expect(request.headers.get('last-event-id')).toBe('7');
      expect(request.headers.get('x-resume-key')).toBe('k');
    }
    a.unsubscribe();
    b.unsubscribe();
  });

  it('subscribing nothing opens nothing', async () => {
    const { client, requests } = setup();
    taskEvents$(client, 't1');
    await tick();
    expect(requests).toHaveLength(0);
  });
});
