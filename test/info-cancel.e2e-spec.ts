import { setTimeout as sleep } from 'node:timers/promises';
import {
  cancelTask,
  createTask,
  getInfo,
  openStream,
  readStream,
  waitForInfo,
  type CreatedTask,
  type TaskInfoBody,
} from './utils/api';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const INFO_KEYS = ['createdAt', 'expiresAt', 'lastEventId', 'status', 'subscribers', 'taskId', 'updatedAt'];
const DEFAULT_TTL_MS = 3_600_000;

describe.each(ADAPTERS)('GET /tasks/:taskId (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let baseUrl: string;

  beforeAll(async () => {
    server = await startApp(adapter);
    baseUrl = server.baseUrl;
  });
  afterAll(() => server.close());

  it('200 {taskId, status, createdAt, updatedAt, expiresAt, lastEventId, subscribers} of a running task', async () => {
    const task = await createTask(baseUrl, { steps: 3, intervalMs: 60_000 });
    const info = await getInfo(baseUrl, task.taskId, task.resumeKey);
    expect(info.status).toBe(200);
    expect(info.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(info.json).sort()).toEqual(INFO_KEYS);
    expect(info.json).toEqual({
      taskId: task.taskId,
      status: 'running',
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
      expiresAt: null,
      lastEventId: 0,
      subscribers: 0,
    });
    await cancelTask(baseUrl, task.taskId, task.resumeKey);
  });

  it('subscribers counts the open streams of the task', async () => {
    const task = await createTask(baseUrl, { steps: 1_000, intervalMs: 20 });
    const count = async () => (await getInfo(baseUrl, task.taskId, task.resumeKey)).json.subscribers;
    const a = openStream(baseUrl, task.streamUrl);
    const b = openStream(baseUrl, task.streamUrl, { 'Last-Event-ID': '0' });
    await Promise.all([a, b].map((s) => s.waitForFrames((frames) => frames.length >= 1, 'the open frame')));
    expect(await count()).toBe(2);
    await a.close();
    await waitForInfo(baseUrl, task, (info) => info.json.subscribers === 1, 'one subscriber left');
    await b.close();
    await waitForInfo(baseUrl, task, (info) => info.json.subscribers === 0, 'no subscriber left');
    await cancelTask(baseUrl, task.taskId, task.resumeKey);
  });

  it('a finished task: status completed, lastEventId = the end event, expiresAt = updatedAt + TTL', async () => {
    const task = await createTask(baseUrl, { steps: 4, intervalMs: 0 });
    const info = await waitForInfo(baseUrl, task, (i) => i.json.status === 'completed', 'completion');
    expect(info.json.lastEventId).toBe(5);
    expect(info.json.subscribers).toBe(0);
    expect(Date.parse(info.json.expiresAt!) - Date.parse(info.json.updatedAt)).toBe(DEFAULT_TTL_MS);
    expect(Date.parse(info.json.updatedAt)).toBeGreaterThanOrEqual(Date.parse(info.json.createdAt));
  });

  it('a failed task: status failed with its error', async () => {
    const task = await createTask(baseUrl, { steps: 4, intervalMs: 0, failAt: 2 });
    const info = await waitForInfo(baseUrl, task, (i) => i.json.status !== 'running', 'the end');
    expect(info.json).toMatchObject({ status: 'failed', lastEventId: 2, error: 'failed at step 2' });
  });

  it('404 JSON for an unknown task, 403 JSON for a wrong or missing key', async () => {
    const task = await createTask(baseUrl, { steps: 1, intervalMs: 0 });
    const unknown = await getInfo(baseUrl, 'no-such-task', task.resumeKey);
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ statusCode: 404, code: 'TASK_NOT_FOUND' });
    for (const key of [undefined, '', 'wrong', task.resumeKey.slice(1)]) {
      const response = await getInfo(baseUrl, task.taskId, key);
      expect({ key, status: response.status }).toEqual({ key, status: 403 });
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json).toMatchObject({ statusCode: 403, code: 'RESUME_KEY_INVALID' });
    }
  });
});

describe.each(ADAPTERS)('DELETE /tasks/:taskId (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let baseUrl: string;

  beforeAll(async () => {
    server = await startApp(adapter);
    baseUrl = server.baseUrl;
  });
  afterAll(() => server.close());

  it('202; every open stream ends with `end` status cancelled; the task stops', async () => {
    const task = await createTask(baseUrl, { steps: 10_000, intervalMs: 10 });
    const fromStart = openStream(baseUrl, task.streamUrl);
    await fromStart.waitForFrames((frames) => eventFrames(frames).length >= 3, '3 events');
    const resumed = openStream(baseUrl, task.streamUrl, { 'Last-Event-ID': '2' });
    await resumed.waitForFrames((frames) => eventFrames(frames).length >= 1, 'a resumed event');

    const response = await cancelTask(baseUrl, task.taskId, task.resumeKey);
    expect(response.status).toBe(202);
    expect(response.json).toEqual({ taskId: task.taskId, status: 'cancelled' });

    const [a, b] = await Promise.all([fromStart.done, resumed.done]);
    for (const stream of [a, b]) {
      expect(stream.endedBy).toBe('complete');
      const events = eventFrames(parseFrames(stream.text).frames);
      const end = events[events.length - 1]!;
      expect(end.event).toBe('end');
      expect(dataOf(end)).toEqual({ status: 'cancelled', error: 'Cancelled by the client' });
      const ids = events.map(idOf);
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0]! + i));
    }
    const endIdOf = (text: string) => idOf(eventFrames(parseFrames(text).frames).pop()!);
    expect(endIdOf(a.text)).toBe(endIdOf(b.text));

    const info = await waitForInfo(baseUrl, task, (i) => i.json.subscribers === 0, 'streams closed');
    expect(info.json).toMatchObject({ status: 'cancelled', lastEventId: endIdOf(a.text) });
    await sleep(50); // several task intervals: nothing more is emitted
    expect((await getInfo(baseUrl, task.taskId, task.resumeKey)).json.lastEventId).toBe(endIdOf(a.text));

    // Replays still end with the cancelled end event; at the end there is nothing left (204).
    const replay = await readStream(baseUrl, task.streamUrl);
    expect(dataOf(eventFrames(parseFrames(replay.text).frames).pop()!)).toMatchObject({
      status: 'cancelled',
    });
    const atEnd = await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': String(endIdOf(a.text)) });
    expect(atEnd.status).toBe(204);
  });

  it('403 with a wrong or missing key, and nothing is cancelled: the task runs on and completes', async () => {
    const task = await createTask(baseUrl, { steps: 15, intervalMs: 10 });
    const stream = openStream(baseUrl, task.streamUrl);
    await stream.waitForFrames((frames) => eventFrames(frames).length >= 1, 'an event');
    for (const key of ['wrong', undefined, '', `${task.resumeKey}x`]) {
      const response = await cancelTask(baseUrl, task.taskId, key);
      expect({ key, status: response.status }).toEqual({ key, status: 403 });
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json).toMatchObject({ statusCode: 403, code: 'RESUME_KEY_INVALID' });
    }
    const other = await createTask(baseUrl, { steps: 1, intervalMs: 0 });
    expect((await cancelTask(baseUrl, task.taskId, other.resumeKey)).status).toBe(403);

    const done = await stream.done;
    const events = eventFrames(parseFrames(done.text).frames);
    expect(events.map(idOf)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(dataOf(events[15]!)).toEqual({ status: 'completed', result: { steps: 15 } });
    const info = await getInfo(baseUrl, task.taskId, task.resumeKey);
    expect(info.json.status).toBe('completed');
  });

  it('404 JSON for an unknown task', async () => {
    const response = await cancelTask(baseUrl, 'no-such-task', 'whatever');
    expect(response.status).toBe(404);
    expect(response.json).toMatchObject({ statusCode: 404, code: 'TASK_NOT_FOUND' });
  });

  it('409 JSON when the task has already ended (completed, or cancelled twice)', async () => {
    const task = await createTask(baseUrl, { steps: 1, intervalMs: 0 });
    await waitForInfo(baseUrl, task, (i) => i.json.status === 'completed', 'completion');
    const late = await cancelTask(baseUrl, task.taskId, task.resumeKey);
    expect(late.status).toBe(409);
    expect(late.json).toMatchObject({ statusCode: 409, code: 'TASK_NOT_RUNNING' });

    const running: CreatedTask = await createTask(baseUrl, { steps: 100, intervalMs: 60_000 });
    expect((await cancelTask(baseUrl, running.taskId, running.resumeKey)).status).toBe(202);
    expect((await cancelTask(baseUrl, running.taskId, running.resumeKey)).status).toBe(409);
    const info = await getInfo(baseUrl, running.taskId, running.resumeKey);
    expect(info.json).toMatchObject<Partial<TaskInfoBody>>({ status: 'cancelled', lastEventId: 1 });
  });
});
