import { request as httpRequest } from 'node:http';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { readStream, requestJson, type CreatedTask, type TaskInfoBody } from './utils/api';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

/**
 * `@ResumeCookie()` on `POST /tasks` of the example app: the cookie it sets is enough for
 * the stream, status and cancel routes, so no key has to go into a URL.
 */

interface Started {
  status: number;
  /** Each Set-Cookie line apart (node:http; the raw test client joins repeated headers). */
  setCookie: string[];
  body: CreatedTask;
}

function postTask(baseUrl: string, headers: Record<string, string> = {}, body = {}): Promise<Started> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}/tasks`,
      { method: 'POST', headers: { 'Content-Type': 'application/json', Connection: 'close', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            setCookie: res.headers['set-cookie'] ?? [],
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as CreatedTask,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `name=value`, what a browser sends back in `Cookie`. */
const pairOf = (setCookie: string): string => setCookie.split(';', 1)[0]!;
const pathOf = (setCookie: string): string | undefined => /; Path=([^;]*)/.exec(setCookie)?.[1];

/** RFC 6265 path-match: whether a browser sends a cookie of `cookiePath` with a request to `path`. */
function pathMatches(cookiePath: string, path: string): boolean {
  if (path === cookiePath) return true;
  if (!path.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || path[cookiePath.length] === '/';
}

describe.each(ADAPTERS)('resume cookie (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let baseUrl: string;

  beforeAll(async () => {
    server = await startApp(adapter);
    baseUrl = server.baseUrl;
  });
  afterAll(() => server.close());

  const start = async (body: { steps?: number; intervalMs?: number } = {}, headers = {}) => {
    const started = await postTask(baseUrl, headers, body);
    expect(started.status).toBe(201);
    expect(started.setCookie).toHaveLength(1);
    return { task: started.body, setCookie: started.setCookie[0]!, cookie: pairOf(started.setCookie[0]!) };
  };
  const info = (taskId: string, headers: Record<string, string>) =>
    requestJson<TaskInfoBody>(baseUrl, 'GET', `/tasks/${taskId}`, { headers });
  const cancel = (taskId: string, headers: Record<string, string>) =>
    requestJson(baseUrl, 'DELETE', `/tasks/${taskId}`, { headers });

  it('POST /tasks sets sse-resume-<taskId>=<resumeKey>; Path=/tasks/<taskId>; Max-Age=86400; HttpOnly; SameSite=Strict', async () => {
    const { task, setCookie } = await start({ steps: 1, intervalMs: 0 });
    expect(setCookie).toBe(
      `sse-resume-${task.taskId}=${task.resumeKey}; Path=/tasks/${task.taskId}; Max-Age=86400; HttpOnly; SameSite=Strict`,
    );
    // The body is unchanged: a contract for outside clients.
    expect(Object.keys(task).sort()).toEqual(['resumeKey', 'streamUrl', 'taskId']);
    expect(task.streamUrl).toBe(`/tasks/${task.taskId}/events?key=${task.resumeKey}`);
    // The path covers the task's stream, status and cancel routes, and nothing else.
    const path = pathOf(setCookie)!;
    expect(pathMatches(path, `/tasks/${task.taskId}/events`)).toBe(true);
    expect(pathMatches(path, `/tasks/${task.taskId}`)).toBe(true);
    expect(pathMatches(path, '/tasks')).toBe(false);
    expect(pathMatches(path, `/tasks/${task.taskId}0`)).toBe(false);
  });

  it('a stream with only the cookie (no key in the URL or a header) streams every event to end', async () => {
    const { task, cookie } = await start({ steps: 3, intervalMs: 0 });
    const response = await readStream(baseUrl, `/tasks/${task.taskId}/events`, {
      Cookie: `theme=dark; ${cookie}`,
    });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = eventFrames(parseFrames(response.text).frames);
    expect(events.map((frame) => [frame.event, idOf(frame)])).toEqual([
      ['progress', 1],
      ['progress', 2],
      ['progress', 3],
      ['end', 4],
    ]);
    expect(dataOf(events[3]!)).toMatchObject({ status: 'completed' });
  });

  it('GET and DELETE /tasks/:taskId with only the cookie', async () => {
    const { task, cookie } = await start({ steps: 3, intervalMs: 60_000 });
    const running = await info(task.taskId, { Cookie: cookie });
    expect(running.status).toBe(200);
    expect(running.json).toMatchObject({ taskId: task.taskId, status: 'running' });
    const cancelled = await cancel(task.taskId, { Cookie: cookie });
    expect(cancelled.status).toBe(202);
    expect(cancelled.json).toEqual({ taskId: task.taskId, status: 'cancelled' });
    expect((await info(task.taskId, { Cookie: cookie })).json).toMatchObject({ status: 'cancelled' });
  });

  it("another task's cookie gives 403, even with that task's key under this task's name", async () => {
    const a = await start({ steps: 1, intervalMs: 0 });
    const b = await start({ steps: 1, intervalMs: 0 });
    for (const cookie of [a.cookie, `sse-resume-${b.task.taskId}=${a.task.resumeKey}`]) {
      for (const response of [
        await info(b.task.taskId, { Cookie: cookie }),
        await cancel(b.task.taskId, { Cookie: cookie }),
        await readStream(baseUrl, `/tasks/${b.task.taskId}/events`, { Cookie: cookie }),
      ]) {
        expect({ status: response.status, body: JSON.parse(response.text) as unknown }).toEqual({
          status: 403,
          body: expect.objectContaining({ code: 'RESUME_KEY_INVALID' }),
        });
      }
    }
    // Both cookies sent (as a browser would for two tasks under one path): each route reads its own.
    const both = `${a.cookie}; ${b.cookie}`;
    expect((await info(a.task.taskId, { Cookie: both })).status).toBe(200);
    expect((await info(b.task.taskId, { Cookie: both })).status).toBe(200);
  });

  it('the x-resume-key header wins over a wrong cookie, ?key= over both; a wrong header is not rescued by the cookie', async () => {
    const { task } = await start({ steps: 1, intervalMs: 0 });
    const wrongCookie = `sse-resume-${task.taskId}=wrong`;
    const rightCookie = `sse-resume-${task.taskId}=${task.resumeKey}`;
    expect((await info(task.taskId, { Cookie: wrongCookie, 'x-resume-key': task.resumeKey })).status).toBe(
      200,
    );
    const stream = await readStream(baseUrl, `/tasks/${task.taskId}/events`, {
      Cookie: wrongCookie,
      'x-resume-key': task.resumeKey,
    });
    expect(stream.status).toBe(200);
    expect(
      (
        await requestJson(baseUrl, 'GET', `/tasks/${task.taskId}?key=${task.resumeKey}`, {
          headers: { Cookie: wrongCookie },
        })
      ).status,
    ).toBe(200);
    expect((await info(task.taskId, { Cookie: rightCookie, 'x-resume-key': 'wrong' })).status).toBe(403);
  });

  it('x-resume-cookie-path: /sse/tasks scopes the cookie to /sse/tasks/<taskId> (a path-stripping proxy)', async () => {
    const { task, setCookie } = await start(
      { steps: 1, intervalMs: 0 },
      { 'x-resume-cookie-path': '/sse/tasks' },
    );
    expect(setCookie).toBe(
      `sse-resume-${task.taskId}=${task.resumeKey}; Path=/sse/tasks/${task.taskId}; Max-Age=86400; HttpOnly; SameSite=Strict`,
    );
    const trailing = await start({ steps: 1, intervalMs: 0 }, { 'x-resume-cookie-path': '/sse/tasks/' });
    expect(pathOf(trailing.setCookie)).toBe(`/sse/tasks/${trailing.task.taskId}`);
  });

  it.each([
    ['a path that does not end with the one the server saw', '/sse/other'],
    ['a longer last segment', '/sse/mytasks'],
    ['a relative path', 'sse/tasks'],
    ['an attribute injection', '/x; Domain=evil.example; Path=/tasks'],
    ['a list', '/a,/sse/tasks'],
    ['a space', '/my sse/tasks'],
    ['a path over 1024 characters', `/${'a'.repeat(1024)}/tasks`],
  ])('an invalid x-resume-cookie-path (%s) is ignored: Path=/tasks/<taskId>', async (_case, header) => {
    const { task, setCookie } = await start({ steps: 1, intervalMs: 0 }, { 'x-resume-cookie-path': header });
    expect(pathOf(setCookie)).toBe(`/tasks/${task.taskId}`);
    expect(setCookie).not.toMatch(/Domain/);
  });

  it('X-Forwarded-Prefix, when valid, prefixes the path; Secure only over HTTPS', async () => {
    const prefixed = await start({ steps: 1, intervalMs: 0 }, { 'X-Forwarded-Prefix': '/sse' });
    expect(pathOf(prefixed.setCookie)).toBe(`/sse/tasks/${prefixed.task.taskId}`);
    const invalid = await start({ steps: 1, intervalMs: 0 }, { 'X-Forwarded-Prefix': 'sse;x' });
    expect(pathOf(invalid.setCookie)).toBe(`/tasks/${invalid.task.taskId}`);
    // The example app does not trust proxies: a forwarded https is not HTTPS.
    const forwarded = await start({ steps: 1, intervalMs: 0 }, { 'X-Forwarded-Proto': 'https' });
    expect(forwarded.setCookie).not.toMatch(/Secure/);
  });
});
