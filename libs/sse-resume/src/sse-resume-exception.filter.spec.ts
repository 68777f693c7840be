import { Controller, Get, type INestApplication, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { StoreUnavailableError, TaskNotFoundError, TooManyTasksError } from './errors';
import { SseResumeExceptionFilter } from './sse-resume-exception.filter';
import { deferred, waitForMs } from './testing/async';
import { openStream, rawRequest } from './testing/raw-http';
import { type Adapter, startTestApp, type TestApp } from './testing/nest-app';
import { TaskStreamController } from './testing/stream-controller';

@Controller()
class FailingController {
  @Get('tasks-full')
  tasksFull(): never {
    throw new TooManyTasksError(10, 42);
  }

  @Get('store-down')
  storeDown(): never {
    throw new StoreUnavailableError('connection refused');
  }

  @Get('not-found')
  notFound(): never {
    throw new TaskNotFoundError('t1');
  }
}

const useFilter = (app: INestApplication) =>
  app.useGlobalFilters(new SseResumeExceptionFilter(app.get(HttpAdapterHost).httpAdapter));

describe.each<Adapter>(['express', 'fastify'])('SseResumeExceptionFilter (%s)', (adapter) => {
  let testApp: TestApp;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    testApp = await startTestApp(
      adapter,
      [FailingController, TaskStreamController],
      { maxSubscribersPerTask: 1 },
      useFilter,
    );
  });

  afterAll(async () => {
    await testApp.close();
    jest.restoreAllMocks();
  });

  it.each([
    ['/tasks-full', 503, '42', 'TOO_MANY_TASKS'],
    ['/store-down', 503, '5', 'STORE_UNAVAILABLE'],
  ])('%s answers %i with Retry-After %s and the usual JSON body', async (path, status, retryAfter, code) => {
    const reply = await rawRequest(`${testApp.url}${path}`);
    expect(reply.status).toBe(status);
    expect(reply.headers['retry-after']).toBe(retryAfter);
    expect(JSON.parse(reply.text)).toEqual({
      statusCode: status,
      error: 'Service Unavailable',
      message: expect.any(String),
      code,
    });
  });

  it('adds no Retry-After to errors that a retry cannot cure', async () => {
    const reply = await rawRequest(`${testApp.url}/not-found`);
    expect(reply.status).toBe(404);
    expect(reply.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(reply.text)).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'task t1 not found',
      code: 'TASK_NOT_FOUND',
    });
  });

  it('answers a stream beyond maxSubscribersPerTask with 429 and Retry-After, before any stream starts', async () => {
    const release = deferred();
    const started = await testApp.tasks.start(() => release.promise);
    const streamUrl = `${testApp.url}/tasks/${started.taskId}/events?key=${started.resumeKey}`;
    const first = await openStream(streamUrl);
    await waitForMs(() => first.frames().length === 1 && testApp.tasks.stats.openStreams === 1);
    const second = await rawRequest(streamUrl);
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('5');
    expect(JSON.parse(second.text)).toMatchObject({ statusCode: 429, code: 'TOO_MANY_SUBSCRIBERS' });
    release.resolve();
    await first.closed;
    expect(first.ended).toBe(true);
  });
});
