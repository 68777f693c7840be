import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Injectable,
  Logger,
  type NestInterceptor,
  Param,
  type MessageEvent,
  ServiceUnavailableException,
  Sse,
  UseInterceptors,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { asyncScheduler, finalize, mergeMap, Observable, observeOn, of, throwError, timer } from 'rxjs';
import type { TaskContext } from '../interfaces/task-context.interface';
import { SseResumeInterceptor } from './sse-resume.interceptor';
import { LastEventId, ResumeKey, SseResume } from '../sse-resume.decorators';
import { SseTaskService } from '../sse-task.service';
import { deferred, nextTurn, waitForMs } from '../testing/async';
import { openStream, rawRequest } from '../testing/raw-http';
import { type Adapter, startTestApp, type TestApp } from '../testing/nest-app';
import { TaskStreamController } from '../testing/stream-controller';
import { fieldsOf, parseFrames } from '../testing/sse';

/** Records when Nest's request pipeline around a stream is over (its interceptor chain completes). */
@Injectable()
class PipelineSpy implements NestInterceptor {
  static finished = 0;
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(finalize(() => PipelineSpy.finished++));
  }
}

/** `@SseResume()` routes that the library claims (nest-sse-route.ts), beside the task streams. */
@Controller('claimed')
class ClaimedController {
  constructor(private readonly tasks: SseTaskService) {}

  /** `@SseResume()` written above `@Sse()` (applied after it): claimed when decorated. */
  @SseResume()
  @Sse(':taskId/above')
  above(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  @Sse(':taskId/spied')
  @UseInterceptors(PipelineSpy)
  @SseResume()
  spied(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey });
  }

  /** Not a library stream: Nest's own writer sends it, as on any `@Sse()` route. */
  @Sse(':taskId/plain')
  @SseResume()
  plain(): Observable<MessageEvent> {
    return of({ data: 'x' }, { data: { y: 1 }, type: 'custom' });
  }

  /** Emits later than Nest's head timer would run: Nest still writes it, ids and all. */
  @Sse(':taskId/later')
  @SseResume()
  later(): Observable<MessageEvent> {
    return timer(20).pipe(mergeMap(() => of({ data: 'late' })));
  }

  @Sse(':taskId/fails')
  @SseResume()
  fails(): Observable<MessageEvent> {
    return throwError(() => new ServiceUnavailableException('not now'));
  }
}

/** Routes beyond the test app's task streams ({@link TaskStreamController}). */
@Controller('tasks')
class StreamController {
  /** Fails after Nest sent the head (its head timer runs before this one). */
  @Sse('late-error')
  @UseInterceptors(SseResumeInterceptor)
  lateError(): Observable<MessageEvent> {
    return timer(20).pipe(mergeMap(() => throwError(() => new Error('internal: connection pool exhausted'))));
  }

  /** Fails before the head: Nest answers with the status. */
  @Sse('early-error')
  @UseInterceptors(SseResumeInterceptor)
  earlyError(): Observable<MessageEvent> {
    return throwError(() => new ServiceUnavailableException('not now'));
  }

  /** Not a library stream: the interceptor must pass it through untouched. */
  @Sse('plain')
  @UseInterceptors(SseResumeInterceptor)
  plain(): Observable<MessageEvent> {
    return of({ data: 'x' }, { data: { y: 1 }, type: 'custom' });
  }
}

const OPEN = 'id: 0\nretry: 2000\n\n';
const frame = (type: string, id: number, data: string) => `event: ${type}\nid: ${id}\ndata: ${data}\n\n`;

async function finishedTask(tasks: SseTaskService, count: number) {
  const started = await tasks.start(async (ctx: TaskContext) => {
    for (let i = 1; i <= count; i++) await ctx.emit({ i, text: 'caf\u00e9 \u20ac' });
    return 'ok';
  });
  for (let i = 0; i < 1_000 && (await tasks.getTaskInfo(started.taskId)).status === 'running'; i++)
    await nextTurn();
  return started;
}

function expectedBody(count: number, after = 0): string {
  let body = `\nid: ${after}\nretry: 2000\n\n`;
  for (let i = after + 1; i <= count; i++)
    body += frame('progress', i, JSON.stringify({ i, text: 'caf\u00e9 \u20ac' }));
  if (after <= count) body += frame('end', count + 1, '{"status":"completed","result":"ok"}');
  return body;
}

describe.each<Adapter>(['express', 'fastify'])('@SseResume() over HTTP (%s)', (adapter) => {
  let testApp: TestApp;
  let tasks: SseTaskService;
  let url: string;
  let warn: jest.SpyInstance;

  beforeAll(async () => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    testApp = await startTestApp(adapter, [TaskStreamController, StreamController], {
      maxPendingBytes: 64 * 1024,
      historyBytes: 64 * 1024 * 1024,
    });
    ({ tasks, url } = testApp);
  });

  afterAll(async () => {
    await testApp.close();
    jest.restoreAllMocks();
  });

  it('answers 200 text/event-stream with the exact frames: open, events, end', async () => {
    const started = await finishedTask(tasks, 3);
    const reply = await rawRequest(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(reply.headers['cache-control']).toContain('no-transform');
    expect(reply.headers['x-accel-buffering']).toBe('no');
    expect(reply.text).toBe(expectedBody(3));
  });

  it("writes byte for byte what Nest's own pipeline writes for the same stream", async () => {
    const started = await finishedTask(tasks, 5);
    const ours = await rawRequest(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
    const nests = await rawRequest(`${url}/tasks/${started.taskId}/nest-events?key=${started.resumeKey}`);
    expect(ours.text).toBe(nests.text);
    expect(ours.text).toBe(expectedBody(5));
  });

  it('resumes after Last-Event-ID (header first, else ?lastEventId)', async () => {
    const started = await finishedTask(tasks, 4);
    const base = `${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`;
    expect((await rawRequest(base, { headers: { 'Last-Event-ID': '2' } })).text).toBe(expectedBody(4, 2));
    expect((await rawRequest(`${base}&lastEventId=3`)).text).toBe(expectedBody(4, 3));
    expect((await rawRequest(`${base}&lastEventId=1`, { headers: { 'last-event-id': '4' } })).text).toBe(
      expectedBody(4, 4),
    );
  });

  it('takes the key from the x-resume-key header too', async () => {
    const started = await finishedTask(tasks, 1);
    const reply = await rawRequest(`${url}/tasks/${started.taskId}/events`, {
      headers: { 'x-resume-key': started.resumeKey },
    });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(expectedBody(1));
  });

  it('streams live events as they happen, then ends the response after end', async () => {
    const release = deferred();
    let context: TaskContext | undefined;
    const started = await tasks.start(async (ctx) => {
      context = ctx;
      await release.promise;
      return 'live';
    });
    const client = await openStream(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
    expect(client.status).toBe(200);
    await waitForMs(() => client.text === `\n${OPEN}`, 'the open frame');
    await context!.emit('first');
    await waitForMs(() => client.frames().length === 2, 'the first event');
    await context!.emit({ second: true }, { event: 'stage' });
    release.resolve();
    await client.closed;
    expect(client.ended).toBe(true);
    expect(client.text).toBe(
      `\n${OPEN}${frame('progress', 1, '"first"')}${frame('stage', 2, '{"second":true}')}${frame(
        'end',
        3,
        '{"status":"completed","result":"live"}',
      )}`,
    );
    await waitForMs(() => tasks.stats.openStreams === 0, 'the stream to close');
  });

  describe('answers errors with their status and JSON body, before any stream starts', () => {
    const cases: [
      string,
      (taskId: string, key: string) => [string, Record<string, string>?],
      number,
      string,
    ][] = [
      ['an unknown task', (_id, key) => [`/tasks/nope/events?key=${key}`], 404, 'TASK_NOT_FOUND'],
      ['a wrong key', (id) => [`/tasks/${id}/events?key=wrong`], 403, 'RESUME_KEY_INVALID'],
      ['no key', (id) => [`/tasks/${id}/events`], 403, 'RESUME_KEY_INVALID'],
      [
        'a malformed Last-Event-ID',
        (id, key) => [`/tasks/${id}/events?key=${key}`, { 'Last-Event-ID': 'abc' }],
        400,
        'INVALID_RESUME_POINT',
      ],
      [
        'a repeated lastEventId',
        (id, key) => [`/tasks/${id}/events?key=${key}&lastEventId=1&lastEventId=2`],
        400,
        'INVALID_RESUME_POINT',
      ],
    ];

    it.each(cases)('%s: %i', async (_name, request, status, code) => {
      const started = await finishedTask(tasks, 1);
      const [path, headers] = request(started.taskId, started.resumeKey);
      const reply = await rawRequest(`${url}${path}`, { headers });
      expect(reply.status).toBe(status);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(reply.text)).toEqual({
        statusCode: status,
        error: expect.any(String),
        message: expect.any(String),
        code,
      });
    });

    it("a resume point ahead of a running task's last event: 400", async () => {
      const release = deferred();
      const started = await tasks.start(() => release.promise);
      const reply = await rawRequest(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`, {
        headers: { 'Last-Event-ID': '1' },
      });
      release.resolve();
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.text)).toMatchObject({ statusCode: 400, code: 'INVALID_RESUME_POINT' });
    });

    it('a resume point at or past the end: 204 with no body and no stream headers', async () => {
      const started = await finishedTask(tasks, 2);
      for (const lastEventId of ['3', '99']) {
        const reply = await rawRequest(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`, {
          headers: { 'Last-Event-ID': lastEventId },
        });
        expect(reply.status).toBe(204);
        expect(reply.text).toBe('');
        expect(reply.headers['content-type'] ?? '').not.toMatch(/event-stream/);
      }
    });
  });

  it('ends a stream that fails after the head without a frame (no `event: error`, no id, no error text)', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const reply = await rawRequest(`${url}/tasks/late-error`);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('\n');
    expect(error).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringContaining('failed after its response head') }),
      expect.stringContaining('connection pool exhausted'),
    );
  });

  it('passes an error before the head to Nest, which answers with its status', async () => {
    const reply = await rawRequest(`${url}/tasks/early-error`);
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.text)).toMatchObject({ statusCode: 503, message: 'not now' });
  });

  it('passes streams that are not library streams through untouched', async () => {
    const reply = await rawRequest(`${url}/tasks/plain`);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('\nid: 1\ndata: x\n\nevent: custom\nid: 2\ndata: {"y":1}\n\n');
  });

  it('closes the stream when the client goes, and the task runs on', async () => {
    const release = deferred();
    let context: TaskContext | undefined;
    const started = await tasks.start(async (ctx) => {
      context = ctx;
      await release.promise;
    });
    const client = await openStream(`${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
    await waitForMs(() => client.frames().length === 1);
    await waitForMs(() => tasks.stats.openStreams >= 1);
    void client.close();
    await waitForMs(() => tasks.stats.openStreams === 0, 'the server to notice');
    expect(context!.signal.aborted).toBe(false);
    expect(await context!.emit('still running')).toBe(1);
    release.resolve();
  });

  it('drops a client that stops reading past maxPendingBytes; it resumes from history and misses nothing', async () => {
    const total = 800;
    const payload = 'p'.repeat(16 * 1024);
    let context: TaskContext | undefined;
    const release = deferred();
    const started = await tasks.start(async (ctx) => {
      context = ctx;
      await release.promise;
      return 'survived';
    });
    const streamUrl = `${url}/tasks/${started.taskId}/events?key=${started.resumeKey}`;
    const slow = await openStream(streamUrl);
    await waitForMs(() => slow.frames().length === 1, 'the open frame');
    slow.pause();
    for (let i = 1; i <= total && !slow.aborted; i++) {
      void context!.emit({ i, payload });
      if (i % 20 === 0) {
        await nextTurn();
        await nextTurn();
      }
    }
    await waitForMs(() => tasks.stats.openStreams === 0, 'the server to drop the slow client', 10_000);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({
        message: expect.stringMatching(/^subscriber is not reading/),
        taskId: started.taskId,
        subscriberId: expect.any(String),
      }),
    );
    expect(context!.signal.aborted).toBe(false);
    for (let i = (await tasks.getTaskInfo(started.taskId)).lastEventId + 1; i <= total; i++) {
      void context!.emit({ i, payload });
    }
    release.resolve();
    slow.resume();
    await slow.closed;
    expect(slow.ended).toBe(false);

    // Resume like EventSource: from the last complete frame's id.
    const got = parseFrames(slow.text)
      .frames.map(fieldsOf)
      .filter((f) => f.event !== undefined);
    const lastId = Number(got[got.length - 1]?.id ?? 0);
    expect(lastId).toBeLessThan(total);
    const rest = await rawRequest(streamUrl, { headers: { 'Last-Event-ID': String(lastId) } });
    const more = parseFrames(rest.text)
      .frames.map(fieldsOf)
      .filter((f) => f.event !== undefined);
    const ids = [...got, ...more].map((f) => Number(f.id));
    expect(ids).toEqual(Array.from({ length: total + 1 }, (_, i) => i + 1));
    expect(more[more.length - 1]).toMatchObject({
      event: 'end',
      data: '{"status":"completed","result":"survived"}',
    });
  }, 30_000);
});

describe('@SseResume() over HTTP: history, heartbeats and expiry (express)', () => {
  let testApp: TestApp | undefined;

  afterEach(async () => {
    await testApp?.close();
    testApp = undefined;
  });

  it('sends the gap event when history no longer reaches back', async () => {
    testApp = await startTestApp('express', [TaskStreamController, StreamController], { historyLimit: 3 });
    const started = await finishedTask(testApp.tasks, 5);
    const reply = await rawRequest(`${testApp.url}/tasks/${started.taskId}/events?key=${started.resumeKey}`, {
      headers: { 'Last-Event-ID': '1' },
    });
    expect(reply.text).toBe(
      `\nid: 1\nretry: 2000\n\n${frame('gap', 3, '{"from":2,"to":3}')}${expectedBody(5, 3).slice(
        '\nid: 3\nretry: 2000\n\n'.length,
      )}`,
    );
  });

  it('sends heartbeat comments on an idle stream, without ids', async () => {
    testApp = await startTestApp('express', [TaskStreamController, StreamController], { heartbeatMs: 60 });
    const release = deferred();
    let context: TaskContext | undefined;
    const started = await testApp.tasks.start(async (ctx) => {
      context = ctx;
      await release.promise;
    });
    const client = await openStream(`${testApp.url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
    await waitForMs(() => client.text.includes(': ping\n\n'), 'a heartbeat');
    await context!.emit('after');
    await waitForMs(() => client.text.includes('"after"'), 'the event');
    release.resolve();
    await client.closed;
    expect(client.text.startsWith(`\n${OPEN}: ping\n\n`)).toBe(true);
    const frames = client.frames().map(fieldsOf);
    for (const f of frames.filter((x) => x.comments.length > 0)) {
      expect(f).toEqual({ comments: ['ping'] });
    }
    expect(frames.filter((f) => f.event !== undefined).map((f) => f.id)).toEqual(['1', '2']);
  });

  it('answers 410 with the JSON body for an expired task', async () => {
    testApp = await startTestApp('express', [TaskStreamController, StreamController], {
      ttl: 30,
      expiredRetentionMs: 60_000,
    });
    const started = await finishedTask(testApp.tasks, 1);
    const streamUrl = `${testApp.url}/tasks/${started.taskId}/events?key=${started.resumeKey}`;
    await new Promise((resolve) => setTimeout(resolve, 40));
    const gone = await rawRequest(streamUrl);
    expect(gone.status).toBe(410);
    expect(JSON.parse(gone.text)).toEqual({
      statusCode: 410,
      error: 'Gone',
      message: `task ${started.taskId} has expired`,
      code: 'TASK_EXPIRED',
    });
    // The key is still checked first.
    expect((await rawRequest(streamUrl.replace(started.resumeKey, 'wrong'))).status).toBe(403);
  });
});

/** What the interceptor and its sink rely on in Nest's `@Sse()` pipeline (12.x): pinned here. */
@Injectable()
class HeadTimingInterceptor implements NestInterceptor {
  static seen: { timerArmedBefore?: boolean; atSubscribe?: boolean; timerArmedAfter?: boolean } = {};

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const res = rawResponseOf(context.switchToHttp().getResponse());
    return new Observable<unknown>((subscriber) => {
      const seen: typeof HeadTimingInterceptor.seen = {};
      HeadTimingInterceptor.seen = seen;
      // Nest subscribed to the interceptors' result a microtask ago (the chain starts from a
      // promise) and armed its head timer then: even this timer, armed first thing, runs after it.
      setTimeout(() => (seen.timerArmedBefore = res.headersSent), 0);
      const inner = next.handle().subscribe({
        // Keeps back the message marked `keep`, as the library keeps its open message.
        next: (value) => ((value as { keep?: boolean }).keep ? undefined : subscriber.next(value)),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      seen.atSubscribe = res.headersSent;
      // As ResponseSink arms its first wait for the head.
      setTimeout(() => (seen.timerArmedAfter = res.headersSent), 0);
      return () => inner.unsubscribe();
    });
  }
}

function rawResponseOf(response: unknown): ServerResponse {
  return ((response as { raw?: ServerResponse }).raw ?? response) as ServerResponse;
}

@Controller()
class NestPipelineController {
  @Sse('pipeline')
  @UseInterceptors(HeadTimingInterceptor)
  pipeline(): Observable<MessageEvent> {
    return timer(30).pipe(
      mergeMap(() => of({ data: 'kept', keep: true } as MessageEvent, { id: '7', data: 'sent' })),
    );
  }
}

describe.each<Adapter>(['express', 'fastify'])(
  "Nest's @Sse() pipeline, as the library relies on it (%s)",
  (adapter) => {
    let server: TestApp;
    beforeAll(async () => {
      server = await startTestApp(adapter, [NestPipelineController]);
    });
    afterAll(() => server.close());

    it('writes only what an interceptor passes on (the open message handing over the subscription)', async () => {
      const reply = await rawRequest(`${server.url}/pipeline`);
      expect(reply.text).toBe('\nid: 7\ndata: sent\n\n');
    });

    it('commits the head from a setTimeout(0) armed before an interceptor is subscribed', async () => {
      await rawRequest(`${server.url}/pipeline`);
      expect(HeadTimingInterceptor.seen).toEqual({
        timerArmedBefore: true,
        atSubscribe: false,
        timerArmedAfter: true,
      });
    });
  },
);

@Controller('piped')
class PipedStreamController {
  constructor(private readonly tasks: SseTaskService) {}

  /** An operator that delays every message, the open message included, to a later turn. */
  @Sse(':taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId }).pipe(observeOn(asyncScheduler));
  }
}

describe('an async operator between stream() and @SseResume()', () => {
  it("keeps the stream on Nest's writer, with every id once and in order, and throws nothing", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const server = await startTestApp('express', [PipedStreamController]);
    try {
      const started = await finishedTask(server.tasks, 5);
      const reply = await rawRequest(`${server.url}/piped/${started.taskId}/events?key=${started.resumeKey}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(expectedBody(5));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await server.close();
    }
  });
});

describe.each<Adapter>(['express', 'fastify'])(
  'a route @SseResume() claimed: the library owns the response (%s)',
  (adapter) => {
    let testApp: TestApp;
    let tasks: SseTaskService;
    let url: string;

    beforeAll(async () => {
      testApp = await startTestApp(adapter, [TaskStreamController, ClaimedController]);
      ({ tasks, url } = testApp);
    });

    afterAll(() => testApp.close());

    async function runningTask() {
      const release = deferred();
      let context: TaskContext | undefined;
      const started = await tasks.start(async (ctx) => {
        context = ctx;
        await release.promise;
      });
      return { ...started, release, emit: (data: unknown) => context!.emit(data) };
    }

    it("sends the very head Nest's @Sse() sends: status, headers and their order", async () => {
      const task = await runningTask();
      const query = `?key=${task.resumeKey}`;
      const ours = await openStream(`${url}/tasks/${task.taskId}/events${query}`);
      const nests = await openStream(`${url}/tasks/${task.taskId}/nest-events${query}`);
      await ours.waitFor((c) => c.frames().length === 1, 'the open frame');
      await nests.waitFor((c) => c.frames().length === 1, 'the open frame');
      const { date: _ours, ...ourHeaders } = ours.head!.headers;
      const { date: _nests, ...nestHeaders } = nests.head!.headers;
      expect(ours.head!.statusLine).toBe(nests.head!.statusLine);
      expect(Object.entries(ourHeaders)).toEqual(Object.entries(nestHeaders));
      expect(ours.text).toBe(nests.text);
      await Promise.all([ours.close(), nests.close()]);
      task.release.resolve();
    });

    it('streams the same way when @SseResume() is written above @Sse()', async () => {
      const started = await finishedTask(tasks, 3);
      const reply = await rawRequest(`${url}/claimed/${started.taskId}/above?key=${started.resumeKey}`);
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(expectedBody(3));
    });

    it("lets Nest's request pipeline end once the stream is open, and still streams live events", async () => {
      const task = await runningTask();
      const finishedBefore = PipelineSpy.finished;
      const client = await openStream(`${url}/claimed/${task.taskId}/spied?key=${task.resumeKey}`);
      await client.waitFor((c) => c.frames().length === 1, 'the open frame');
      await waitForMs(() => PipelineSpy.finished === finishedBefore + 1, "Nest's pipeline to end");
      await task.emit('live');
      await client.waitFor((c) => c.frames().length === 2, 'the live event');
      expect(fieldsOf(client.frames()[1]!)).toMatchObject({ id: '1', data: '"live"' });
      await client.close();
      await waitForMs(() => tasks.stats.openStreams === 0, 'the stream to be released');
      task.release.resolve();
    });

    it('ends the response itself after the end event', async () => {
      const task = await runningTask();
      const client = await openStream(`${url}/tasks/${task.taskId}/events?key=${task.resumeKey}`);
      await client.waitFor((c) => c.frames().length === 1, 'the open frame');
      task.release.resolve();
      const reply = await client.done;
      expect(reply.endedBy).toBe('complete');
      expect(reply.text).toBe(`\nid: 0\nretry: 2000\n\n${frame('end', 1, '{"status":"completed"}')}`);
      await waitForMs(() => tasks.stats.openStreams === 0, 'the stream to be released');
    });

    it("hands a stream that is not the library's to Nest's writer: the same bytes as a plain @Sse()", async () => {
      const task = await runningTask();
      const query = `?key=${task.resumeKey}`;
      const reply = await rawRequest(`${url}/claimed/${task.taskId}/plain${query}`);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(reply.text).toBe('\nid: 1\ndata: x\n\nevent: custom\nid: 2\ndata: {"y":1}\n\n');
      const later = await rawRequest(`${url}/claimed/${task.taskId}/later${query}`);
      expect(later.text).toBe('\nid: 1\ndata: late\n\n');
      task.release.resolve();
    });

    it('answers an error before the stream opens with its status and JSON body', async () => {
      const task = await runningTask();
      const reply = await rawRequest(`${url}/claimed/${task.taskId}/fails?key=${task.resumeKey}`);
      expect(reply.status).toBe(503);
      expect(JSON.parse(reply.text)).toMatchObject({ statusCode: 503, message: 'not now' });
      task.release.resolve();
    });

    it('answers HEAD with the head only, as Nest does, and keeps no stream open', async () => {
      const task = await runningTask();
      const reply = await rawRequest(`${url}/tasks/${task.taskId}/events?key=${task.resumeKey}`, {
        method: 'HEAD',
      });
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(reply.text).toBe('');
      await waitForMs(() => tasks.stats.openStreams === 0, 'the stream to be released');
      task.release.resolve();
    });
  },
);
