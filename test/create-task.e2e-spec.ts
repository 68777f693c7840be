import { cancelTask, createTask, openStream, readStream, requestJson, type CreatedTask } from './utils/api';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

interface ErrorBody {
  statusCode: number;
  message: string | string[];
}

/** Contract: POST /tasks. */
describe.each(ADAPTERS)('POST /tasks (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  const started: CreatedTask[] = [];

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterAll(async () => {
    // Long-running tasks created here must not keep running.
    await Promise.all(started.map((task) => cancelTask(server.baseUrl, task.taskId, task.resumeKey)));
    await server.close();
  });

  const post = (body: string, headers?: Record<string, string>) =>
    requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', { body, headers });

  it('201 {taskId, resumeKey, streamUrl} with streamUrl = /tasks/{taskId}/events?key={resumeKey}', async () => {
    const response = await post(JSON.stringify({ steps: 1, intervalMs: 0 }));
    expect(response.status).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json as unknown as CreatedTask;
    expect(Object.keys(body).sort()).toEqual(['resumeKey', 'streamUrl', 'taskId']);
    expect(body.taskId).toEqual(expect.any(String));
    expect(body.taskId.length).toBeGreaterThan(0);
    expect(body.resumeKey.length).toBeGreaterThanOrEqual(16);
    // The key is put in the URL unescaped, so it must be URL-safe as it is.
    expect(encodeURIComponent(body.resumeKey)).toBe(body.resumeKey);
    expect(encodeURIComponent(body.taskId)).toBe(body.taskId);
    expect(body.streamUrl).toBe(`/tasks/${body.taskId}/events?key=${body.resumeKey}`);

    const other = await createTask(server.baseUrl, { steps: 1, intervalMs: 0 });
    expect(other.taskId).not.toBe(body.taskId);
    expect(other.resumeKey).not.toBe(body.resumeKey);
  });

  it('{} is valid: steps 10, intervalMs 500, payloadBytes 0 by default', async () => {
    const response = await post('{}');
    expect(response.status).toBe(201);
    const task = response.json as unknown as CreatedTask;
    started.push(task);
    const t0 = Date.now();
    const stream = await readStreamUntilFirstEvent(task);
    const first = dataOf<{ step: number; total: number; payload?: string }>(stream);
    expect(first).toEqual({ step: 1, total: 10, message: 'step 1 of 10' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400); // the default 500 ms interval, with timer slack
  });

  async function readStreamUntilFirstEvent(task: CreatedTask) {
    const connection = openStream(server.baseUrl, task.streamUrl);
    await connection.waitForFrames((frames) => eventFrames(frames).length >= 1, 'the first event');
    await connection.close();
    return eventFrames(connection.frames())[0]!;
  }

  it.each([
    ['smallest values', { steps: 1, intervalMs: 0, payloadBytes: 0, failAt: 0 }],
    ['largest values', { steps: 100_000, intervalMs: 60_000, payloadBytes: 1_048_576, failAt: 100_000 }],
  ])('accepts the range limits (%s)', async (_name, body) => {
    const response = await post(JSON.stringify(body));
    expect(response.status).toBe(201);
    started.push(response.json as unknown as CreatedTask);
  });

  it.each<[string, string]>([
    // wrong types
    ['steps as a string', '{"steps":"5"}'],
    ['steps true', '{"steps":true}'],
    ['steps null', '{"steps":null}'],
    ['steps an array', '{"steps":[5]}'],
    ['steps an object', '{"steps":{}}'],
    ['intervalMs as a string', '{"intervalMs":"10"}'],
    ['payloadBytes as a string', '{"payloadBytes":"1"}'],
    ['failAt as a string', '{"failAt":"3"}'],
    ['durable as a string', '{"durable":"true"}'],
    ['steps not an integer', '{"steps":1.5}'],
    ['failAt not an integer', '{"failAt":2.5}'],
    ['steps 1e400 (Infinity)', '{"steps":1e400}'],
    // out of range
    ['steps 0', '{"steps":0}'],
    ['steps -1', '{"steps":-1}'],
    ['steps 100001', '{"steps":100001}'],
    ['intervalMs -1', '{"intervalMs":-1}'],
    ['intervalMs 60001', '{"intervalMs":60001}'],
    ['payloadBytes -1', '{"payloadBytes":-1}'],
    ['payloadBytes 1048577', '{"payloadBytes":1048577}'],
    // unknown properties, including names every object inherits
    ['an unknown property', '{"steps":1,"foo":1}'],
    ['toString', '{"toString":1}'],
    ['constructor', '{"constructor":1}'],
    ['__proto__', '{"__proto__":{"steps":1}}'],
    // not JSON
    ['not JSON', 'nope'],
    ['truncated JSON', '{"steps":1'],
    ['a trailing comma', '{"steps":1,}'],
    // JSON that is not an object
    ['an array', '[]'],
    ['an array of objects', '[{"steps":1}]'],
    ['a string', '"steps"'],
    ['a number', '5'],
    ['null', 'null'],
    ['true', 'true'],
    // empty
    ['an empty body', ''],
    ['whitespace only', '   '],
  ])('400 JSON for %s', async (_name, body) => {
    const response = await post(body);
    expect({ status: response.status, text: response.text }).toEqual({
      status: 400,
      text: expect.any(String),
    });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json.statusCode).toBe(400);
    expect(response.json.message).toBeDefined();
  });

  it('400 JSON without a body or Content-Type at all', async () => {
    const response = await requestJson<ErrorBody>(server.baseUrl, 'POST', '/tasks', {
      headers: { 'Content-Length': '0' },
    });
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json.statusCode).toBe(400);
  });

  it('names every problem of an invalid body', async () => {
    const response = await post('{"steps":0,"intervalMs":"x","bogus":true}');
    expect(response.status).toBe(400);
    expect(response.json.message).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown property bogus'),
        expect.stringContaining('steps'),
        expect.stringContaining('intervalMs'),
      ]),
    );
  });

  it('413 (or 400) JSON for an oversized body', async () => {
    const body = JSON.stringify({ steps: 1, pad: 'x'.repeat(64 * 1024) });
    const response = await post(body);
    expect([413, 400]).toContain(response.status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json.statusCode).toBe(response.status);
  });

  it('failAt: the task ends with status failed and error "failed at step N"', async () => {
    const task = await createTask(server.baseUrl, { steps: 5, intervalMs: 0, failAt: 3 });
    const response = await readStream(server.baseUrl, task.streamUrl);
    const events = eventFrames(parseFrames(response.text).frames);
    expect(events.map((frame) => [frame.event, idOf(frame)])).toEqual([
      ['progress', 1],
      ['progress', 2],
      ['end', 3],
    ]);
    expect(dataOf(events[2]!)).toEqual({ status: 'failed', error: 'failed at step 3' });
  });

  it('payloadBytes: every progress event carries a payload string of that length', async () => {
    const task = await createTask(server.baseUrl, { steps: 3, intervalMs: 0, payloadBytes: 1000 });
    const response = await readStream(server.baseUrl, task.streamUrl);
    const progress = eventFrames(parseFrames(response.text).frames).filter(
      (frame) => frame.event === 'progress',
    );
    expect(progress).toHaveLength(3);
    for (const frame of progress) {
      const data = dataOf<{ payload: string }>(frame);
      expect(data.payload).toBe('x'.repeat(1000));
    }
  });

  it('payloadBytes at its maximum (1 MiB) streams intact', async () => {
    const task = await createTask(server.baseUrl, { steps: 2, intervalMs: 0, payloadBytes: 1_048_576 });
    const response = await readStream(server.baseUrl, task.streamUrl);
    const events = eventFrames(parseFrames(response.text).frames);
    expect(events.map((frame) => frame.event)).toEqual(['progress', 'progress', 'end']);
    for (const frame of events.slice(0, 2)) {
      expect(dataOf<{ payload: string }>(frame).payload).toHaveLength(1_048_576);
    }
  });
});
