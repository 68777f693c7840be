import {
  Controller,
  type INestApplication,
  Module,
  Param,
  Post,
  Sse,
  type MessageEvent,
} from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseResumeExceptionFilter,
  SseResumeModule,
  SseTaskService,
} from '@app/sse-resume';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import { cancelTask, createTask, openStream, readStream, requestJson, waitForInfo } from '../utils/api';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';
import { deleteKeys, TEST_REDIS_URL } from '@app/sse-resume/testing/redis';

interface ErrorBody {
  statusCode: number;
  error?: string;
  message: string | string[];
  code?: string;
}

function expectJsonError(
  response: { status: number; headers: Record<string, string>; json: unknown },
  status: number,
  code?: string,
): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json as ErrorBody;
  expect(body.statusCode).toBe(status);
  expect(body.message).toBeDefined();
  if (code !== undefined) expect(body.code).toBe(code);
}

/**
 * Guarantee 3: every limit answers with a clear status and JSON body, through the example
 * app where it is reachable (TASK_MAX, MAX_SUBSCRIBERS_PER_TASK, the body limit, history
 * bytes), and through a small app of its own for maxEventBytes (the demo's payload stops
 * below it). Unit-level coverage of the same limits: sse-task.service.spec.ts,
 * sse-resume-exception.filter.spec.ts, response-sink.spec.ts.
 */
describe.each(ADAPTERS)('limits through the example app (%s)', (adapter: Adapter) => {
  describe('TASK_MAX=2, TASK_TTL_MS=500', () => {
    let server: RunningApp;
    beforeAll(async () => {
      server = await startApp(adapter, { TASK_MAX: '2', TASK_TTL_MS: '500' });
    });
    afterAll(() => server.close());

    it('503 JSON TOO_MANY_TASKS with Retry-After beyond the limit; room again once a finished task expires', async () => {
      const tasks = [
        await createTask(server.baseUrl, { steps: 1_000, intervalMs: 1_000 }),
        await createTask(server.baseUrl, { steps: 1_000, intervalMs: 1_000 }),
      ];
      const refused = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body: '{}' });
      expectJsonError(refused, 503, 'TOO_MANY_TASKS');
      expect(refused.json.message).toMatch(/task limit \(2\)/);
      // Nothing finished yet: the store suggests its default wait.
      expect(refused.headers['retry-after']).toBe('5');
      // A cancelled task is still held (resumable) until its TTL passes; Retry-After says when.
      expect((await cancelTask(server.baseUrl, tasks[0]!.taskId, tasks[0]!.resumeKey)).status).toBe(202);
      const stillFull = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body: '{}' });
      expectJsonError(stillFull, 503, 'TOO_MANY_TASKS');
      expect(stillFull.headers['retry-after']).toBe('1');
      await new Promise((resolve) => setTimeout(resolve, 600));
      const created = await requestJson(server.baseUrl, 'POST', '/tasks', {
        body: '{"steps":1,"intervalMs":0}',
      });
      expect(created.status).toBe(201);
      await cancelTask(server.baseUrl, tasks[1]!.taskId, tasks[1]!.resumeKey);
    });
  });

  describe('MAX_SUBSCRIBERS_PER_TASK=2', () => {
    let server: RunningApp;
    beforeAll(async () => {
      server = await startApp(adapter, { MAX_SUBSCRIBERS_PER_TASK: '2' });
    });
    afterAll(() => server.close());

    it('429 JSON TOO_MANY_SUBSCRIBERS with Retry-After before any stream starts; room again when one leaves', async () => {
      const task = await createTask(server.baseUrl, { steps: 1_000, intervalMs: 50 });
      const open = [openStream(server.baseUrl, task.streamUrl), openStream(server.baseUrl, task.streamUrl)];
      await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 2, 'two subscribers');
      const third = await readStream(server.baseUrl, task.streamUrl);
      expect(third.status).toBe(429);
      expect(third.headers['content-type']).toMatch(/^application\/json/);
      expect(third.headers['retry-after']).toBe('5');
      expect(JSON.parse(third.text)).toMatchObject({ statusCode: 429, code: 'TOO_MANY_SUBSCRIBERS' });
      await open[0]!.close();
      await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 1, 'one subscriber');
      const again = openStream(server.baseUrl, task.streamUrl);
      await again.waitForFrames((frames) => frames.length >= 1, 'the open frame');
      expect(again.head?.status).toBe(200);
      await Promise.all([again.close(), open[1]!.close()]);
      await cancelTask(server.baseUrl, task.taskId, task.resumeKey);
    });
  });

  describe('MAX_STREAMS=2', () => {
    let server: RunningApp;
    beforeAll(async () => {
      server = await startApp(adapter, { MAX_STREAMS: '2' });
    });
    afterAll(() => server.close());

    it('503 JSON TOO_MANY_STREAMS with Retry-After once the instance serves 2 streams (any tasks); room again when one leaves', async () => {
      const [a, b] = [
        await createTask(server.baseUrl, { steps: 1_000, intervalMs: 50 }),
        await createTask(server.baseUrl, { steps: 1_000, intervalMs: 50 }),
      ];
      const open = [openStream(server.baseUrl, a.streamUrl), openStream(server.baseUrl, b.streamUrl)];
      await Promise.all(open.map((stream) => stream.waitForFrames((frames) => frames.length >= 1, 'open')));
      const third = await readStream(server.baseUrl, a.streamUrl);
      expect(third.status).toBe(503);
      expect(third.headers['content-type']).toMatch(/^application\/json/);
      expect(third.headers['retry-after']).toBe('2');
      expect(JSON.parse(third.text)).toMatchObject({ statusCode: 503, code: 'TOO_MANY_STREAMS' });
      await open[0]!.close();
      await waitForInfo(server.baseUrl, a, (info) => info.json.subscribers === 0, 'the stream of a left');
      const again = openStream(server.baseUrl, a.streamUrl);
      await again.waitForFrames((frames) => frames.length >= 1, 'the open frame');
      expect(again.head?.status).toBe(200);
      await Promise.all([again.close(), open[1]!.close()]);
      await cancelTask(server.baseUrl, a.taskId, a.resumeKey);
      await cancelTask(server.baseUrl, b.taskId, b.resumeKey);
    });
  });

  describe('defaults', () => {
    let server: RunningApp;
    beforeAll(async () => {
      server = await startApp(adapter);
    });
    afterAll(() => server.close());

    it('413 JSON for a body over 16 KiB, and the server goes on', async () => {
      const body = JSON.stringify({ steps: 1, pad: 'x'.repeat(17 * 1024) });
      const response = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body });
      expectJsonError(response, 413);
      expect((await requestJson(server.baseUrl, 'POST', '/tasks', { body: '{"steps":1}' })).status).toBe(201);
    });

    it('historyBytes (8 MiB): events of 1 MiB push the oldest out; a client from the start gets `gap`, then the rest', async () => {
      const task = await createTask(server.baseUrl, { steps: 12, intervalMs: 0, payloadBytes: 1_048_576 });
      await waitForInfo(server.baseUrl, task, (info) => info.json.status === 'completed', 'the task to end');
      const response = await readStream(server.baseUrl, task.streamUrl);
      const events = eventFrames(parseFrames(response.text).frames);
      const gap = events[0]!;
      expect(gap.event).toBe('gap');
      const { from, to } = dataOf<{ from: number; to: number }>(gap);
      expect(from).toBe(1);
      expect(idOf(gap)).toBe(to);
      // 8 MiB hold 7 events of 1 MiB + their JSON, plus the end.
      expect(to).toBe(5);
      expect(events.slice(1).map(idOf)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
      expect(events.at(-1)!.event).toBe('end');
    });
  });
});

describe('TASK_MAX with the Redis store counts tasks held: running + finished within TTL (express)', () => {
  const prefix = `e2e-limits:${process.pid}:${Date.now()}:`;
  let server: RunningApp;
  beforeAll(async () => {
    server = await startApp('express', {
      TASK_MAX: '1',
      TASK_TTL_MS: '1000',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
    });
  });
  afterAll(async () => {
    await server.close();
    await deleteKeys(prefix);
  });

  it('503 JSON with Retry-After while one runs, and while it is finished within its TTL; room once it expires', async () => {
    const task = await createTask(server.baseUrl, { steps: 1_000, intervalMs: 1_000 });
    const refused = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body: '{}' });
    expectJsonError(refused, 503, 'TOO_MANY_TASKS');
    expect(refused.headers['retry-after']).toBe('5');
    expect((await cancelTask(server.baseUrl, task.taskId, task.resumeKey)).status).toBe(202);
    await waitForInfo(server.baseUrl, task, (info) => info.json.status === 'cancelled', 'the cancel');
    // Finished, it still holds its slot until its TTL has passed; Retry-After says when that is.
    const held = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body: '{}' });
    expectJsonError(held, 503, 'TOO_MANY_TASKS');
    expect(held.headers['retry-after']).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const created = await createTask(server.baseUrl, { steps: 1, intervalMs: 0 });
    await waitForInfo(server.baseUrl, created, (info) => info.json.status === 'completed', 'the task to end');
  });
});

// ---- maxEventBytes: not reachable through the demo task (its payload stops at 1 MiB) ----------

@Controller('big')
class BigEventController {
  constructor(private readonly tasks: SseTaskService) {}

  /** Emits one event of `size` characters (a JSON string of size + 2 bytes). */
  @Post(':size')
  start(@Param('size') size: string) {
    return this.tasks.start(async ({ emit }) => {
      await emit('small');
      await emit('x'.repeat(Number(size)));
      return 'unreachable when the event is too large';
    });
  }

  @Sse(':taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    SseResumeModule.forRoot({ maxEventBytes: 1_000, historyBytes: 10_000 }),
  ],
  controllers: [BigEventController],
})
class BigEventModule {}

describe('maxEventBytes=1000 (a small app of its own)', () => {
  let app: INestApplication;
  let baseUrl: string;
  beforeAll(async () => {
    app = await NestFactory.create(BigEventModule, { logger: false });
    app.useGlobalFilters(new SseResumeExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it.each([
    [998, 'completed'],
    [999, 'failed'],
  ])(
    'an event of %i characters (+2 quotes): the task ends %s, with the reason in the end event',
    async (size, status) => {
      const created = await requestJson<{ taskId: string; resumeKey: string }>(
        baseUrl,
        'POST',
        `/big/${size}`,
      );
      expect(created.status).toBe(201);
      const { taskId, resumeKey } = created.json;
      const response = await readStream(baseUrl, `/big/${taskId}/events?key=${resumeKey}`);
      const events = eventFrames(parseFrames(response.text).frames);
      const end = dataOf<{ status: string; error?: string }>(events.at(-1)!);
      expect(end.status).toBe(status);
      if (status === 'failed') {
        // The too-large event was refused: nothing of it was stored or sent.
        expect(events.map((frame) => frame.event)).toEqual(['progress', 'end']);
        expect(end.error).toBe('invalid event: data is 1001 bytes, more than maxEventBytes (1000)');
      } else {
        expect(events.map((frame) => frame.event)).toEqual(['progress', 'progress', 'end']);
      }
    },
  );
});
