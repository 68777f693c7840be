import {
  createTask,
  getInfo,
  openStream,
  readStream,
  requestJson,
  waitForInfo,
  type CreatedTask,
} from './utils/api';
import type { RawResponse } from '@app/sse-resume/testing/raw-http';
import {
  commentFrames,
  dataOf,
  eventFrames,
  idOf,
  parseFrames,
  type SseFrame,
} from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

interface ErrorBody {
  statusCode: number;
  message: string;
  code: string;
}

const progressLines = (id: number, total: number): string[] => [
  'event: progress',
  `id: ${id}`,
  `data: ${JSON.stringify({ step: id, total, message: `step ${id} of ${total}` })}`,
];

function framesOf(response: RawResponse): { frames: SseFrame[]; rest: string } {
  return parseFrames(response.text);
}

/** Asserts an SSE head: 200, text/event-stream, no-cache + no-transform, X-Accel-Buffering: no. */
function expectSseHead(response: Pick<RawResponse, 'status' | 'headers'>): void {
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
  expect(response.headers['cache-control']).toContain('no-cache');
  expect(response.headers['cache-control']).toContain('no-transform');
  expect(response.headers['x-accel-buffering']).toBe('no');
}

/** Asserts an error answered as JSON (never as an SSE stream). */
function expectJsonError(response: RawResponse, status: number, code?: string): ErrorBody {
  expect({ status: response.status, contentType: response.headers['content-type'] }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/json/),
  });
  const body = JSON.parse(response.text) as ErrorBody;
  expect(body.statusCode).toBe(status);
  if (code !== undefined) expect(body.code).toBe(code);
  return body;
}

async function completedTask(baseUrl: string, steps: number): Promise<CreatedTask> {
  const task = await createTask(baseUrl, { steps, intervalMs: 0 });
  await waitForInfo(baseUrl, task, (info) => info.json.status === 'completed', 'the task to complete');
  return task;
}

describe.each(ADAPTERS)('GET /tasks/:taskId/events (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let baseUrl: string;

  beforeAll(async () => {
    server = await startApp(adapter);
    baseUrl = server.baseUrl;
  });
  afterAll(() => server.close());

  describe('wire format', () => {
    it('open frame with retry:, progress frames id 1..n with exact lines, end id n+1, then the response ends', async () => {
      const task = await createTask(baseUrl, { steps: 5, intervalMs: 0 });
      const response = await readStream(baseUrl, task.streamUrl);
      expectSseHead(response);
      expect(response.endedBy).toBe('complete');
      const { frames, rest } = framesOf(response);
      expect(rest).toBe('');
      expect(frames[0]!.lines).toEqual(['id: 0', 'retry: 2000']);
      const events = frames.slice(1);
      expect(events.map((frame) => frame.lines)).toEqual([
        progressLines(1, 5),
        progressLines(2, 5),
        progressLines(3, 5),
        progressLines(4, 5),
        progressLines(5, 5),
        ['event: end', 'id: 6', 'data: {"status":"completed","result":{"steps":5}}'],
      ]);
      // The body is nothing but these frames (Nest's single leading "\n" aside).
      expect(response.text.replace(/^\n/, '')).toBe(
        frames.map((frame) => frame.lines.join('\n') + '\n\n').join(''),
      );
    });

    it("sends the head of Nest's @Sse(), header for header and in order", async () => {
      const task = await createTask(baseUrl, { steps: 1, intervalMs: 0 });
      const response = await readStream(baseUrl, task.streamUrl);
      expect(response.statusLine).toBe('HTTP/1.1 200 OK');
      expect(Object.entries(response.headers).filter(([name]) => name !== 'date')).toEqual([
        ...(adapter === 'express' ? [['x-powered-by', 'Express']] : []),
        ['content-type', 'text/event-stream'],
        ['connection', 'keep-alive'],
        ['cache-control', 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform'],
        ['pragma', 'no-cache'],
        ['expires', '0'],
        ['x-accel-buffering', 'no'],
        ['transfer-encoding', 'chunked'],
      ]);
    });

    it('a live stream gets every id in order with no gaps, then end', async () => {
      const task = await createTask(baseUrl, { steps: 30, intervalMs: 5 });
      const response = await readStream(baseUrl, task.streamUrl);
      expectSseHead(response);
      const events = eventFrames(framesOf(response).frames);
      expect(events.map(idOf)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
      expect(events.slice(0, 30).every((frame) => frame.event === 'progress')).toBe(true);
      expect(events[30]!.event).toBe('end');
      expect(dataOf(events[30]!)).toEqual({ status: 'completed', result: { steps: 30 } });
    });

    it('several streams of one task get the same frames', async () => {
      const task = await createTask(baseUrl, { steps: 20, intervalMs: 5 });
      const [a, b] = await Promise.all([
        readStream(baseUrl, task.streamUrl),
        readStream(baseUrl, task.streamUrl),
      ]);
      expect(eventFrames(framesOf(a).frames).map((frame) => frame.lines)).toEqual(
        eventFrames(framesOf(b).frames).map((frame) => frame.lines),
      );
      expect(eventFrames(framesOf(a).frames)).toHaveLength(21);
    });

    it('streams joining at random moments of a fast task each get every id once (replay → live handoff)', async () => {
      const steps = 3_000;
      const task = await createTask(baseUrl, { steps, intervalMs: 0 });
      const joined: { from: number; connection: ReturnType<typeof openStream> }[] = [];
      for (let i = 0; i < 12; i++) {
        // Half from the start, half resumed from a random event that already exists.
        const last = (await getInfo(baseUrl, task.taskId, task.resumeKey)).json.lastEventId;
        const from = i % 2 === 0 ? 0 : Math.floor(Math.random() * (last + 1));
        const headers: Record<string, string> = from === 0 ? {} : { 'Last-Event-ID': String(from) };
        joined.push({ from, connection: openStream(baseUrl, task.streamUrl, headers) });
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
      }
      for (const { from, connection } of joined) {
        const response = await connection.done;
        expect(response.status).toBe(200);
        const ids = eventFrames(connection.frames()).map(idOf);
        expect({ from, first: ids[0], last: ids[ids.length - 1], count: ids.length }).toEqual({
          from,
          first: from + 1,
          last: steps + 1,
          count: steps + 1 - from,
        });
        expect(ids.every((id, k) => id === from + 1 + k)).toBe(true);
      }
    });

    it('a finished task is replayed in full until it expires', async () => {
      const task = await completedTask(baseUrl, 4);
      const response = await readStream(baseUrl, task.streamUrl);
      expectSseHead(response);
      expect(eventFrames(framesOf(response).frames).map((frame) => `${frame.event}:${frame.id}`)).toEqual([
        'progress:1',
        'progress:2',
        'progress:3',
        'progress:4',
        'end:5',
      ]);
    });

    it('the key also works as the x-resume-key header', async () => {
      const task = await completedTask(baseUrl, 1);
      const response = await readStream(baseUrl, `/tasks/${task.taskId}/events`, {
        'X-Resume-Key': task.resumeKey,
      });
      expectSseHead(response);
      expect(eventFrames(framesOf(response).frames).map(idOf)).toEqual([1, 2]);
    });
  });

  describe('resume point', () => {
    let task: CreatedTask; // 10 progress events + end (id 11), finished

    beforeAll(async () => {
      task = await completedTask(baseUrl, 10);
    });

    const ids = (response: RawResponse) => eventFrames(framesOf(response).frames).map(idOf);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    it('from the start without Last-Event-ID or ?lastEventId=', async () => {
      const response = await readStream(baseUrl, task.streamUrl);
      expect(framesOf(response).frames[0]!.lines).toEqual(['id: 0', 'retry: 2000']);
      expect(ids(response)).toEqual(range(1, 11));
    });

    it('after the Last-Event-ID header; the open frame repeats it', async () => {
      const response = await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': '4' });
      expectSseHead(response);
      expect(framesOf(response).frames[0]!.lines).toEqual(['id: 4', 'retry: 2000']);
      expect(ids(response)).toEqual(range(5, 11));
    });

    it('the header name is case-insensitive; 0 means from the start', async () => {
      expect(ids(await readStream(baseUrl, task.streamUrl, { 'last-event-id': '9' }))).toEqual([10, 11]);
      expect(ids(await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': '0' }))).toEqual(range(1, 11));
    });

    it('after ?lastEventId= when there is no header', async () => {
      const response = await readStream(baseUrl, `${task.streamUrl}&lastEventId=7`);
      expect(framesOf(response).frames[0]!.lines).toEqual(['id: 7', 'retry: 2000']);
      expect(ids(response)).toEqual(range(8, 11));
    });

    it('the header wins over ?lastEventId=', async () => {
      const response = await readStream(baseUrl, `${task.streamUrl}&lastEventId=8`, { 'Last-Event-ID': '3' });
      expect(ids(response)).toEqual(range(4, 11));
    });

    it('a live stream resumed mid-task continues exactly after the last id seen', async () => {
      const live = await createTask(baseUrl, { steps: 40, intervalMs: 5 });
      const first = openStream(baseUrl, live.streamUrl);
      await first.waitForFrames((frames) => eventFrames(frames).length >= 5, '5 events');
      await first.close();
      const seen = eventFrames(first.frames()).map(idOf);
      const last = seen[seen.length - 1]!;
      const second = await readStream(baseUrl, live.streamUrl, { 'Last-Event-ID': String(last) });
      expect([...seen, ...ids(second)]).toEqual(range(1, 41));
    });

    it.each<[string, string]>([
      ['letters', 'abc'],
      ['a negative number', '-1'],
      ['a fraction', '1.5'],
      ['an exponent', '1e9999'],
      ['hex', '0x10'],
      ['a plus sign', '+1'],
      ['5000 digits', '9'.repeat(5000)],
      ['beyond the safe integers', '9007199254740993'],
    ])('400 JSON for a malformed resume point: %s', async (_name, value) => {
      const viaHeader = await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': value });
      expectJsonError(viaHeader, 400, 'INVALID_RESUME_POINT');
      const viaQuery = await readStream(
        baseUrl,
        `${task.streamUrl}&lastEventId=${encodeURIComponent(value)}`,
      );
      expectJsonError(viaQuery, 400, 'INVALID_RESUME_POINT');
    });

    it('400 JSON for a resume point after the last event of a running task', async () => {
      const running = await createTask(baseUrl, { steps: 2, intervalMs: 60_000 });
      const response = await readStream(baseUrl, running.streamUrl, { 'Last-Event-ID': '5' });
      expectJsonError(response, 400, 'INVALID_RESUME_POINT');
      await requestJson(baseUrl, 'DELETE', `/tasks/${running.taskId}?key=${running.resumeKey}`);
    });

    it.each([11, 12, 1_000_000])(
      '204 without a body when the resume point is at or past the end (%i)',
      async (id) => {
        for (const response of [
          await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': String(id) }),
          await readStream(baseUrl, `${task.streamUrl}&lastEventId=${id}`),
        ]) {
          expect(response.status).toBe(204);
          expect(response.headers['content-type'] ?? '').not.toMatch(/event-stream/);
          expect(response.body).toHaveLength(0);
        }
      },
    );

    it('a resume point just before the end gets only the end event', async () => {
      const response = await readStream(baseUrl, task.streamUrl, { 'Last-Event-ID': '10' });
      expect(eventFrames(framesOf(response).frames).map((frame) => frame.lines)).toEqual([
        ['event: end', 'id: 11', 'data: {"status":"completed","result":{"steps":10}}'],
      ]);
    });
  });

  describe('errors are JSON, never SSE', () => {
    let task: CreatedTask;

    beforeAll(async () => {
      task = await completedTask(baseUrl, 1);
    });

    it('404 for an unknown task', async () => {
      const body = expectJsonError(
        await readStream(baseUrl, `/tasks/00000000-0000-4000-8000-000000000000/events?key=${task.resumeKey}`),
        404,
        'TASK_NOT_FOUND',
      );
      expect(body.message).toEqual(expect.any(String));
      expectJsonError(await readStream(baseUrl, '/tasks/nope/events'), 404, 'TASK_NOT_FOUND');
    });

    it('403 for a wrong, missing, empty or other task key', async () => {
      const other = await createTask(baseUrl, { steps: 1, intervalMs: 0 });
      for (const query of [`?key=${task.resumeKey}x`, '', '?key=', `?key=${other.resumeKey}`]) {
        expectJsonError(
          await readStream(baseUrl, `/tasks/${task.taskId}/events${query}`),
          403,
          'RESUME_KEY_INVALID',
        );
      }
    });

    it('403 for a wrong key even with a resume point past the end (no 204 leak)', async () => {
      const response = await readStream(baseUrl, `/tasks/${task.taskId}/events?key=wrong`, {
        'Last-Event-ID': '2',
      });
      expectJsonError(response, 403, 'RESUME_KEY_INVALID');
    });
  });
});

describe.each(ADAPTERS)('GET /tasks/:taskId/events with TASK_HISTORY_LIMIT=5 (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let task: CreatedTask; // 20 progress + end (21); history keeps 17..21

  beforeAll(async () => {
    server = await startApp(adapter, { TASK_HISTORY_LIMIT: '5' });
    task = await completedTask(server.baseUrl, 20);
  });
  afterAll(() => server.close());

  const eventsOf = async (headers: Record<string, string>) =>
    eventFrames(framesOf(await readStream(server.baseUrl, task.streamUrl, headers)).frames);

  it('a resume point older than the history gets `event: gap` {"from","to"}, then the rest', async () => {
    const events = await eventsOf({ 'Last-Event-ID': '2' });
    expect(events[0]!.lines).toEqual(['event: gap', 'id: 16', 'data: {"from":3,"to":16}']);
    expect(events.slice(1).map((frame) => `${frame.event}:${frame.id}`)).toEqual([
      'progress:17',
      'progress:18',
      'progress:19',
      'progress:20',
      'end:21',
    ]);
  });

  it('from the start: gap from 1', async () => {
    const events = await eventsOf({});
    expect(dataOf(events[0]!)).toEqual({ from: 1, to: 16 });
    expect(events.map(idOf)).toEqual([16, 17, 18, 19, 20, 21]);
  });

  it('no gap when the history still reaches the resume point', async () => {
    expect((await eventsOf({ 'Last-Event-ID': '16' })).map((frame) => `${frame.event}:${frame.id}`)).toEqual([
      'progress:17',
      'progress:18',
      'progress:19',
      'progress:20',
      'end:21',
    ]);
    expect((await eventsOf({ 'Last-Event-ID': '18' })).map(idOf)).toEqual([19, 20, 21]);
  });

  it('GET /tasks/:id still reports the last event id', async () => {
    const info = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
    expect(info.json.lastEventId).toBe(21);
  });
});

describe.each(ADAPTERS)('heartbeat with HEARTBEAT_MS=200 (%s)', (adapter: Adapter) => {
  const HEARTBEAT_MS = 200;
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter, { HEARTBEAT_MS: String(HEARTBEAT_MS) });
  });
  afterAll(() => server.close());

  it('an idle stream gets a `: ping` comment at least every HEARTBEAT_MS; comments take no id', async () => {
    const task = await createTask(server.baseUrl, { steps: 1, intervalMs: 1_200 });
    const connection = openStream(server.baseUrl, task.streamUrl);
    const response = await connection.done;
    expectSseHead(response);
    const { frames } = framesOf(response);
    const pings = commentFrames(frames);
    expect(pings.length).toBeGreaterThanOrEqual(4);
    for (const ping of pings) expect(ping.lines).toEqual([': ping']);
    expect(eventFrames(frames).map((frame) => `${frame.event}:${frame.id}`)).toEqual(['progress:1', 'end:2']);
    // No silence longer than the heartbeat period (plus scheduling slack on a busy machine).
    const times = connection.chunks.map((chunk) => chunk.at);
    const silences = times.slice(1).map((at, i) => at - times[i]!);
    expect(Math.max(...silences)).toBeLessThanOrEqual(HEARTBEAT_MS + 200);
  });
});

describe.each(ADAPTERS)('expiry with TASK_TTL_MS=400 (%s)', (adapter: Adapter) => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter, { TASK_TTL_MS: '400' });
  });
  afterAll(() => server.close());

  it('410 JSON on every endpoint once the TTL passed; 403 still wins for a wrong key', async () => {
    const task = await completedTask(server.baseUrl, 1);
    const info = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
    expect(info.json.expiresAt).not.toBeNull();
    const expiresAt = Date.parse(info.json.expiresAt!);
    expect(expiresAt - Date.parse(info.json.updatedAt)).toBe(400);
    // The store expires lazily on access (and on its eviction job): wait just past the TTL.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 20));

    expectJsonError(await readStream(server.baseUrl, task.streamUrl), 410, 'TASK_EXPIRED');
    const infoAfter = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
    expect(infoAfter.status).toBe(410);
    expect(infoAfter.headers['content-type']).toMatch(/^application\/json/);
    const cancel = await requestJson<ErrorBody>(
      server.baseUrl,
      'DELETE',
      `/tasks/${task.taskId}?key=${task.resumeKey}`,
    );
    expect(cancel.status).toBe(410);
    expect(cancel.json.code).toBe('TASK_EXPIRED');
    expectJsonError(
      await readStream(server.baseUrl, `/tasks/${task.taskId}/events?key=wrong`),
      403,
      'RESUME_KEY_INVALID',
    );
  });
});
