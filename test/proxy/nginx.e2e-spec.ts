import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants, gunzipSync } from 'node:zlib';
import type { RawHttpConnection } from '@app/sse-resume/testing/raw-http';
import {
  commentFrames,
  dataOf,
  eventFrames,
  idOf,
  parseFrames,
  type SseFrame,
} from '@app/sse-resume/testing/sse';
import { type CreatedTask, createTask, openStream, readStream, requestJson } from '../utils/api';
import { killChildApp, startChildApp, type ChildApp } from '../utils/child-app';
import { findNginx, NGINX_SITE_CONF, type RunningNginx, startNginx } from '../utils/nginx';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

/**
 * docs/nginx/sse-resume.conf, the config of the README's "Behind a reverse proxy", in a
 * private nginx (the distribution's package) in front of the example app: only its ports and
 * log directory are replaced (test/utils/nginx.ts).
 */
const HEARTBEAT_MS = 150;

/** The frames of a body that nginx gzipped, as far as it arrived (a partial stream inflates too). */
function gunzipped(body: Buffer): string {
  if (body.length === 0) return '';
  return gunzipSync(body, { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
}

/** Event ids in order, and the `end` event's data. */
function summary(frames: SseFrame[]): { ids: number[]; types: string[]; end: unknown } {
  const events = eventFrames(frames);
  const end = events.find((frame) => frame.event === 'end');
  return {
    ids: events.map(idOf),
    types: [...new Set(events.map((frame) => frame.event!))],
    end: end === undefined ? undefined : dataOf(end),
  };
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (!findNginx()) {
  // A missing nginx is a failure, not a skip: `.ci/run` installs it, so must a developer.
  describe('nginx in front of the example app', () => {
    it('needs nginx', () => {
      throw new Error('nginx is missing: apt-get update && apt-get install -y nginx');
    });
  });
} else {
  describe.each(ADAPTERS)('nginx in front of the example app (%s)', (adapter: Adapter) => {
    let app: RunningApp;
    let nginx: RunningNginx;
    const keys: string[] = [];

    beforeAll(async () => {
      app = await startApp(adapter, { HEARTBEAT_MS: String(HEARTBEAT_MS) });
      nginx = await startNginx({ upstreamPort: app.port });
    });

    afterAll(async () => {
      await nginx?.stop();
      await app?.close();
    });

    async function start(path: string, body: object): Promise<{ task: CreatedTask; setCookie: string }> {
      const response = await requestJson<CreatedTask>(nginx.url, 'POST', path, {
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      keys.push(response.json.resumeKey);
      return { task: response.json, setCookie: response.headers['set-cookie'] ?? '' };
    }

    it('streams a task at the root: every event once, then end, then a complete chunked body', async () => {
      const { task } = await start('/tasks', { steps: 20, intervalMs: 10 });
      const response = await readStream(nginx.url, `/tasks/${task.taskId}/events`, {
        'x-resume-key': task.resumeKey,
      });
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/event-stream');
      expect(response.endedBy).toBe('complete');
      const { ids, end } = summary(parseFrames(response.text).frames);
      expect(ids).toEqual(range(1, 21));
      expect(end).toEqual({ status: 'completed', result: { steps: 20 } });
      // What turns nginx's buffering off for streams only (nginx does not pass it on).
      const direct = await readStream(app.baseUrl, `/tasks/${task.taskId}/events`, {
        'x-resume-key': task.resumeKey,
      });
      expect(direct.headers['x-accel-buffering']).toBe('no');
      expect(response.headers['x-accel-buffering']).toBeUndefined();
    });

    it('under /sse/: the cookie is scoped to /sse/tasks/<id> (X-Forwarded-Prefix) and carries the key', async () => {
      const { task, setCookie } = await start('/sse/tasks', { steps: 5, intervalMs: 10 });
      expect(setCookie).toContain(`Path=/sse/tasks/${task.taskId};`);
      const cookie = setCookie.split(';')[0]!;
      const response = await readStream(nginx.url, `/sse/tasks/${task.taskId}/events`, { Cookie: cookie });
      expect(response.status).toBe(200);
      expect(response.endedBy).toBe('complete');
      expect(summary(parseFrames(response.text).frames).ids).toEqual(range(1, 6));
      // A client that names its path itself (the client package does) gets the same.
      const named = await requestJson(nginx.url, 'POST', '/sse/tasks', {
        body: '{"steps":1,"intervalMs":0}',
        headers: { 'x-resume-cookie-path': '/sse/tasks' },
      });
      expect(named.headers['set-cookie']).toMatch(/; Path=\/sse\/tasks\/[^;/]+;/);
      keys.push((named.json as CreatedTask).resumeKey);
      // At the root, nginx drops a client's own X-Forwarded-Prefix.
      const spoofed = await requestJson<CreatedTask>(nginx.url, 'POST', '/tasks', {
        body: '{"steps":1,"intervalMs":0}',
        headers: { 'X-Forwarded-Prefix': '/elsewhere' },
      });
      expect(spoofed.headers['set-cookie']).toContain(`; Path=/tasks/${spoofed.json.taskId};`);
      keys.push(spoofed.json.resumeKey);
    });

    it('gzip: compressed, yet every event and heartbeat arrives while the task runs', async () => {
      const { task } = await start('/tasks', { steps: 3, intervalMs: 1_000 });
      const connection = openStream(nginx.url, `/sse/tasks/${task.taskId}/events`, {
        'x-resume-key': task.resumeKey,
        'Accept-Encoding': 'gzip',
      });
      const framesSoFar = (c: RawHttpConnection): SseFrame[] => parseFrames(gunzipped(c.body)).frames;
      // Event 1 comes ~1 s in, event 2 ~2 s in: seen in between, it was not held back.
      await connection.waitFor((c) => summary(framesSoFar(c)).ids.includes(1), 'event 1', 5_000);
      expect(summary(framesSoFar(connection)).ids).toEqual([1]);
      expect(connection.head?.headers['content-encoding']).toBe('gzip');
      // Heartbeats (every 150 ms on an idle stream) pass through between two events.
      await connection.waitFor(
        (c) => commentFrames(framesSoFar(c)).length >= 3 && !summary(framesSoFar(c)).ids.includes(2),
        'heartbeats before event 2',
        5_000,
      );
      const response = await connection.done;
      expect(response.endedBy).toBe('complete');
      const frames = parseFrames(gunzipped(response.body)).frames;
      expect(summary(frames).ids).toEqual(range(1, 4));
      expect(commentFrames(frames).every((frame) => frame.comments[0] === 'ping')).toBe(true);
    });

    it('the access log has paths without query strings and no resume key', async () => {
      // An old client with ?key= in the URL: nginx still passes it on, but never logs it.
      const { task } = await start('/tasks', { steps: 2, intervalMs: 0 });
      const response = await readStream(nginx.url, `/tasks/${task.taskId}/events?key=${task.resumeKey}`);
      expect(summary(parseFrames(response.text).frames).ids).toEqual(range(1, 3));
      await sleep(50); // nginx writes the line when the request is finalized
      const log = nginx.accessLog();
      expect(log).toContain(`"GET /tasks/${task.taskId}/events HTTP/1.1" 200 `);
      expect(log).toContain('"POST /sse/tasks HTTP/1.1" 201 ');
      expect(log).not.toContain('key=');
      expect(log).not.toContain('?');
      expect(keys.length).toBeGreaterThanOrEqual(5);
      for (const key of keys) expect(log).not.toContain(key);
    });
  });

  describe('nginx: the app crashes mid-stream, nginx reloads', () => {
    let child: ChildApp | undefined;
    let documented: RunningNginx | undefined;
    let http10: RunningNginx | undefined;

    afterEach(async () => {
      await documented?.stop();
      await http10?.stop();
      await killChildApp(child);
      documented = http10 = child = undefined;
    });

    it('a crash cuts the client off (no last chunk), so it resumes; with nginx defaults it looks like a clean end', async () => {
      child = await startChildApp({ HEARTBEAT_MS: String(HEARTBEAT_MS) });
      const upstreamPort = Number(new URL(child.url).port);
      documented = await startNginx({ upstreamPort });
      // nginx's defaults: HTTP/1.0 to the app, whose close-delimited body then ends "normally".
      http10 = await startNginx({
        upstreamPort,
        edit: (conf) =>
          conf.replace(/^\s*proxy_http_version 1\.1;\n|^\s*proxy_set_header Connection "";\n/gm, ''),
      });
      const task = await createTask(documented.url, { steps: 200, intervalMs: 50 });
      const headers = { 'x-resume-key': task.resumeKey };
      const streams = [
        openStream(documented.url, `/tasks/${task.taskId}/events`, headers),
        openStream(http10.url, `/tasks/${task.taskId}/events`, headers),
      ];
      for (const stream of streams) {
        await stream.waitForFrames((frames) => eventFrames(frames).length >= 3, '3 events', 10_000);
      }
      child.child.kill('SIGKILL');
      await child.exited;
      const [cut, clean] = await Promise.all(streams.map((stream) => stream.done));
      for (const response of [cut!, clean!]) {
        expect(response.status).toBe(200);
        expect(summary(parseFrames(response.text).frames).end).toBeUndefined(); // the task never ended
      }
      // The documented config: the body is cut short, as the client must see it.
      expect(cut!.endedBy).toBe('fin');
      expect(documented.errorLog()).toContain('upstream prematurely closed connection');
      // Without proxy_http_version 1.1 the client gets a well-formed end of the body.
      expect(clean!.endedBy).toBe('complete');
    });

    it('a reload ends open streams after worker_shutdown_timeout; the client resumes on the new workers', async () => {
      expect(readFileSync(NGINX_SITE_CONF, 'utf8')).toMatch(/^#\s+worker_shutdown_timeout \d+s;$/m);
      child = await startChildApp({ HEARTBEAT_MS: String(HEARTBEAT_MS) });
      documented = await startNginx({
        upstreamPort: Number(new URL(child.url).port),
        workerShutdownTimeout: '1s',
      });
      const task = await createTask(documented.url, { steps: 40, intervalMs: 100 });
      const headers = { 'x-resume-key': task.resumeKey };
      const first = openStream(documented.url, `/tasks/${task.taskId}/events`, headers);
      await first.waitForFrames((frames) => eventFrames(frames).length >= 2, '2 events', 10_000);
      const reloadedAt = Date.now();
      await documented.reload();
      const cut = await first.done;
      const heldMs = Date.now() - reloadedAt;
      expect(cut.endedBy).toBe('fin');
      expect(heldMs).toBeGreaterThanOrEqual(900); // the old worker kept serving it for the timeout
      expect(heldMs).toBeLessThan(5_000);
      const before = summary(parseFrames(cut.text).frames).ids;
      const rest = await readStream(documented.url, `/tasks/${task.taskId}/events`, {
        ...headers,
        'Last-Event-ID': String(before[before.length - 1]),
      });
      expect(rest.endedBy).toBe('complete');
      expect([...before, ...summary(parseFrames(rest.text).frames).ids]).toEqual(range(1, 41));
    });
  });
}
