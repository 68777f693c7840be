import { randomUUID } from 'node:crypto';
import {
  SseResumeClient,
  TaskBadRequestError,
  TaskExpiredError,
  TaskForbiddenError,
  TaskHttpError,
  TaskNotFoundError,
} from '../../libs/sse-resume-client/src';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';
import { collect, type DemoEvents, type DemoResult, demoProblems } from './helpers';

/**
 * `SseResumeClient`'s typed outcomes against the example app: a stream resumed after its end
 * (204), unknown task (404), wrong key (403), expired task (410), a bad start body (400), a
 * start refused for lack of room (503 with Retry-After). Each error is thrown by the
 * iterator at once (no retry), with the library's code.
 */
const RECONNECT = { initialDelayMs: 0, honorServerRetry: false, maxDelayMs: 50, maxRetries: 3 };
const TTL_MS = 400;

describe.each(ADAPTERS)('typed outcomes (%s)', (adapter: Adapter) => {
  const servers: RunningApp[] = [];
  let server: RunningApp;
  let client: SseResumeClient;
  beforeAll(async () => {
    server = await startApp(adapter, { TASK_TTL_MS: String(TTL_MS) });
    servers.push(server);
    client = new SseResumeClient({ baseUrl: server.baseUrl, reconnect: RECONNECT });
  });
  afterAll(() => Promise.all(servers.map((app) => app.close())));

  /** A demo task streamed to its end; returns its id, key and end id. */
  async function finishedTask(steps = 3) {
    const stream = await client.start<DemoEvents, DemoResult>({ steps, intervalMs: 0 });
    const events = await collect(stream);
    expect(demoProblems(events, steps)).toEqual([]);
    return { taskId: stream.taskId, resumeKey: stream.resumeKey, endId: events.at(-1)!.id };
  }

  /** What iterating the stream throws (fails the test if it finishes instead). */
  async function thrown(iterate: () => Promise<unknown>): Promise<unknown> {
    try {
      await iterate();
    } catch (error) {
      return error;
    }
    throw new Error('the stream finished without an error');
  }

  it('204 after the end id: iteration finishes without an event, once', async () => {
    const task = await finishedTask();
    const reconnects: unknown[] = [];
    const stream = client.stream(task.taskId, {
      resumeKey: task.resumeKey,
      lastEventId: task.endId,
      onReconnect: (info) => reconnects.push(info),
    });
    expect(await collect(stream)).toEqual([]);
    expect(stream.end).toBeUndefined();
    expect(reconnects).toEqual([]);
    // The same through the callback API: `done` resolves to undefined.
    const subscription = client.subscribe(
      task.taskId,
      {},
      { resumeKey: task.resumeKey, lastEventId: task.endId },
    );
    await expect(subscription.done).resolves.toBeUndefined();
  });

  it('404 TaskNotFoundError for an unknown task', async () => {
    const stream = client.stream(randomUUID(), { resumeKey: 'whatever' });
    const error = await thrown(() => collect(stream));
    expect(error).toBeInstanceOf(TaskNotFoundError);
    expect(error).toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
    expect(stream.reconnects).toBe(0);
  });

  it('403 TaskForbiddenError for a wrong key, on the stream and on info/cancel', async () => {
    const running = await client.start({ steps: 1_000, intervalMs: 1_000 });
    try {
      const stream = client.stream(running.taskId, { resumeKey: 'not-the-key' });
      const error = await thrown(() => collect(stream));
      expect(error).toBeInstanceOf(TaskForbiddenError);
      expect(error).toMatchObject({ status: 403, code: 'RESUME_KEY_INVALID' });
      expect(stream.reconnects).toBe(0);
      await expect(client.info(running.taskId, { resumeKey: 'not-the-key' })).rejects.toBeInstanceOf(
        TaskForbiddenError,
      );
      await expect(client.cancel(running.taskId, { resumeKey: 'not-the-key' })).rejects.toMatchObject({
        status: 403,
        code: 'RESUME_KEY_INVALID',
      });
    } finally {
      await expect(client.cancel(running.taskId, { resumeKey: running.resumeKey })).resolves.toBe(true);
    }
  });

  it('410 TaskExpiredError once a finished task passed its TTL', async () => {
    const task = await finishedTask(1);
    const info = await client.info<{ expiresAt: string }>(task.taskId, { resumeKey: task.resumeKey });
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Date.parse(info.expiresAt) - Date.now()) + 30),
    );
    const stream = client.stream(task.taskId, { resumeKey: task.resumeKey });
    const error = await thrown(() => collect(stream));
    expect(error).toBeInstanceOf(TaskExpiredError);
    expect(error).toMatchObject({ status: 410, code: 'TASK_EXPIRED' });
    expect(stream.reconnects).toBe(0);
  });

  it('400 TaskBadRequestError for a bad start body', async () => {
    const error = await thrown(() => client.start({ steps: -1 }));
    expect(error).toBeInstanceOf(TaskBadRequestError);
    expect(error).toMatchObject({ status: 400, message: expect.stringMatching(/steps must be an integer/) });
  });

  it('503 TOO_MANY_TASKS from start(): a TaskHttpError with retryAfterMs', async () => {
    const full = await startApp(adapter, { TASK_MAX: '1' });
    servers.push(full);
    const limited = new SseResumeClient({ baseUrl: full.baseUrl, reconnect: RECONNECT });
    const running = await limited.start({ steps: 1_000, intervalMs: 1_000 });
    const error = await thrown(() => limited.start({ steps: 1, intervalMs: 0 }));
    expect(error).toBeInstanceOf(TaskHttpError);
    expect((error as object).constructor).toBe(TaskHttpError);
    expect(error).toMatchObject({
      status: 503,
      code: 'TOO_MANY_TASKS',
      retryAfterMs: 5_000,
      message: expect.stringMatching(/^503: .*task limit \(1\)/),
    });
    await expect(running.cancel()).resolves.toBe(true);
  });
});
