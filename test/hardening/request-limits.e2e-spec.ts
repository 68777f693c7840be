import { cancelTask, createTask, getInfo, readStream, requestJson } from '../utils/api';
import { eventFrames, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code?: string;
}

/**
 * Issue 10, minor items: request inputs at and past their limits answer the same JSON on
 * Express and Fastify, and a stray empty `?key=` cannot hide the key sent in the header.
 */
describe.each(ADAPTERS)('request limits (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  beforeAll(async () => {
    server = await startApp(adapter, { HEARTBEAT_MS: '60000' });
  });
  afterAll(() => server.close());

  it('an empty ?key= does not override a correct x-resume-key header', async () => {
    const task = await createTask(server.baseUrl, { steps: 2, intervalMs: 0 });
    const stream = await readStream(server.baseUrl, `/tasks/${task.taskId}/events?key=`, {
      'x-resume-key': task.resumeKey,
    });
    expect(stream.status).toBe(200);
    expect(eventFrames(parseFrames(stream.text).frames).map((f) => f.event)).toEqual([
      'progress',
      'progress',
      'end',
    ]);
    const info = await requestJson(server.baseUrl, 'GET', `/tasks/${task.taskId}?key=`, {
      headers: { 'x-resume-key': task.resumeKey },
    });
    expect(info.status).toBe(200);
  });

  it('a 100 KB Last-Event-ID answers 431 with a JSON body', async () => {
    const task = await createTask(server.baseUrl, { steps: 1, intervalMs: 0 });
    const response = await requestJson<ErrorBody>(server.baseUrl, 'GET', `/tasks/${task.taskId}/events`, {
      headers: { 'x-resume-key': task.resumeKey, 'Last-Event-ID': '1'.repeat(100_000) },
    });
    expect(response.status).toBe(431);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json).toEqual({
      statusCode: 431,
      error: 'Request Header Fields Too Large',
      message: 'the request line and headers exceed 16 KiB',
    });
  });

  it('a 60 KB task id answers 431 JSON, the same on both adapters', async () => {
    const response = await requestJson<ErrorBody>(
      server.baseUrl,
      'GET',
      `/tasks/${'a'.repeat(60_000)}/events`,
    );
    expect(response.status).toBe(431);
    expect(response.json.statusCode).toBe(431);
  });

  it.each([200, 5_000])('a %i-character task id answers 404 JSON, its message cut short', async (length) => {
    const id = 'b'.repeat(length);
    for (const path of [`/tasks/${id}/events?key=k`, `/tasks/${id}?key=k`]) {
      const response = await requestJson<ErrorBody>(server.baseUrl, 'GET', path);
      expect(response.status).toBe(404);
      expect(response.json).toMatchObject({ statusCode: 404, code: 'TASK_NOT_FOUND' });
      expect(response.json.message).toBe(`task ${'b'.repeat(64)}... (${length} characters) not found`);
    }
  });

  it('a task of 100 000 events of 1 MiB does not stall other requests (issue 10, item 2)', async () => {
    const task = await createTask(server.baseUrl, { steps: 100_000, intervalMs: 0, payloadBytes: 1_048_576 });
    try {
      // Before backpressure, the task held the event loop for 100 events (100 MiB) at a time:
      // each answer found it 100 events further. Now other requests get a turn between events.
      const seen: number[] = [];
      for (let i = 0; i < 8; i++) {
        const info = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
        expect(info.status).toBe(200);
        seen.push(info.json.lastEventId);
      }
      const steps = seen.slice(1).map((id, i) => id - seen[i]!);
      expect(Math.max(...steps)).toBeLessThan(50);
    } finally {
      expect((await cancelTask(server.baseUrl, task.taskId, task.resumeKey)).status).toBe(202);
    }
  });
});
