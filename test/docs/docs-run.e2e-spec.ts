import { type DynamicModule, type INestApplication, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SseResumeModule } from '@app/sse-resume';
import { listenOnLoopback } from '@app/sse-resume/testing/nest-app';
import { dataOf, eventFrames, idOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { readStream, requestJson } from '../utils/api';
import { compiledBlocks, ROOT } from './doc-blocks';

/**
 * The server code of the Quick start and the recipes, run: each group's files (as
 * docs-code.e2e-spec.ts compiles them, `nest-sse-resume` pointed at the library's source)
 * make an Express app on a loopback port, driven over HTTP as the docs describe it.
 */
const LIBRARY = join(ROOT, 'libs/sse-resume/src');

interface Started {
  url: string;
  close(): Promise<void>;
}

let dir: string;

beforeAll(() => {
  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  dir = mkdtempSync(join(ROOT, 'test-artifacts', 'docs-run-'));
  for (const block of compiledBlocks().blocks.filter((b) => !b.browser)) {
    const path = join(dir, block.group, block.file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, block.code.replace(/from 'nest-sse-resume'/g, `from ${JSON.stringify(LIBRARY)}`));
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What the docs file `group/file` exports as `name` (a module or controller class by default). */
function load<T = Type>(group: string, file: string, name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exports = require(join(dir, group, file)) as Record<string, T>;
  if (exports[name] === undefined) throw new Error(`${group}/${file} exports no ${name}`);
  return exports[name];
}

async function run(module: Type | DynamicModule): Promise<Started> {
  const app: INestApplication = await NestFactory.create(module, { logger: false });
  app.enableShutdownHooks();
  const listening = await listenOnLoopback(app);
  return {
    url: listening.url,
    close: async () => {
      listening.destroySockets();
      await app.close();
    },
  };
}

function events(text: string): { frames: SseFrame[]; ids: number[]; end: unknown } {
  const frames = eventFrames(parseFrames(text).frames);
  const end = frames.find((frame) => frame.event === 'end');
  return { frames, ids: frames.map(idOf), end: end && dataOf(end) };
}

const cookieOf = (setCookie: string | undefined): string => (setCookie ?? '').split(';')[0]!;

describe('the docs, run', () => {
  let app: Started | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('Quick start: POST /exports sets the cookie; the stream has every chunk, then the url', async () => {
    app = await run(load('quick-start', 'app.module.ts', 'AppModule'));
    const started = await requestJson<{ taskId: string }>(app.url, 'POST', '/exports', {
      body: JSON.stringify({ chunks: ['ab', 'cd', 'ef'] }),
    });
    expect(started.status).toBe(201);
    const { taskId } = started.json;
    expect(started.headers['set-cookie']).toContain(`; Path=/exports/${taskId};`);
    const stream = await readStream(app.url, `/exports/${taskId}/events`, {
      Cookie: cookieOf(started.headers['set-cookie']),
    });
    const { frames, ids, end } = events(stream.text);
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(frames.slice(0, 3).map((frame) => dataOf(frame))).toEqual(
      [1, 2, 3].map((done) => ({ done, total: 3 })),
    );
    expect(end).toEqual({ status: 'completed', result: { url: '/downloads/export.csv' } });
  });

  it('AI token streaming: token events that add up to the answer in `end`; the plain form too', async () => {
    @Module({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot()],
      controllers: [load('recipe-ai', 'chat.controller.ts', 'ChatController')],
    })
    class ChatModule {}
    app = await run(ChatModule);
    const asked = await requestJson<{ taskId: string; resumeKey: string }>(app.url, 'POST', '/chats', {
      body: JSON.stringify({ prompt: 'hello there' }),
    });
    const { taskId, resumeKey } = asked.json;
    const stream = await readStream(app.url, `/chats/${taskId}/events`, { 'x-resume-key': resumeKey });
    const { frames, end } = events(stream.text);
    const tokens = frames
      .filter((frame) => frame.event === 'token')
      .map((frame) => dataOf<{ text: string }>(frame));
    expect(tokens.map((token) => token.text).join('')).toBe('You asked: hello there ');
    expect(end).toEqual({ status: 'completed', result: { text: 'You asked: hello there ' } });

    const plain = await requestJson<{ taskId: string; resumeKey: string }>(app.url, 'POST', '/chats/plain', {
      body: JSON.stringify({ prompt: 'hi' }),
    });
    const plainStream = await readStream(app.url, `/chats/${plain.json.taskId}/events`, {
      'x-resume-key': plain.json.resumeKey,
    });
    const plainRun = events(plainStream.text);
    expect(plainRun.frames.filter((f) => f.event === 'progress').map((f) => dataOf(f))).toEqual([
      { text: 'You ' },
      { text: 'asked: ' },
      { text: 'hi ' },
    ]);
    expect(plainRun.end).toEqual({ status: 'completed' });
  });

  it('file export: progress, the path in `end`, the file for the cookie holder only', async () => {
    app = await run(load('recipe-export', 'reports.module.ts', 'ReportsModule'));
    const started = await requestJson<{ taskId: string }>(app.url, 'POST', '/reports', {
      body: JSON.stringify({ rows: 2_500 }),
    });
    const { taskId } = started.json;
    const cookie = cookieOf(started.headers['set-cookie']);
    const stream = await readStream(app.url, `/reports/${taskId}/events`, { Cookie: cookie });
    const { frames, end } = events(stream.text);
    expect(frames.filter((f) => f.event === 'progress').map((f) => dataOf(f))).toEqual([
      { rows: 1_000, total: 2_500 },
      { rows: 2_000, total: 2_500 },
      { rows: 2_500, total: 2_500 },
    ]);
    const result = (end as { status: string; result: { path: string; bytes: number } }).result;
    expect(result.path).toBe(`reports/${taskId}/file`);
    const file = await requestJson(app.url, 'GET', `/${result.path}`, { headers: { Cookie: cookie } });
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toMatch(/^text\/csv/);
    expect(file.headers['content-disposition']).toBe('attachment; filename="report.csv"');
    expect(Buffer.byteLength(file.text)).toBe(result.bytes);
    expect(file.text.split('\n')).toHaveLength(2_502); // header, 2 500 rows, final newline
    expect((await requestJson(app.url, 'GET', `/${result.path}`)).status).toBe(403);
    const reportFile = load<(id: string) => string>('recipe-export', 'report-writer.ts', 'reportFile');
    rmSync(reportFile(taskId), { force: true });
  });

  it('auth: the guard runs first, then key and owner: 401 without a user, 403 for another user', async () => {
    app = await run(load('recipe-auth', 'jobs.module.ts', 'JobsModule'));
    const ann = { Authorization: 'Bearer token-of-ann' };
    const bob = { Authorization: 'Bearer token-of-bob' };
    expect((await requestJson(app.url, 'POST', '/jobs')).status).toBe(401);
    const started = await requestJson<{ taskId: string; resumeKey: string }>(app.url, 'POST', '/jobs', {
      headers: ann,
    });
    expect(started.status).toBe(201);
    const { taskId, resumeKey } = started.json;
    const key = { 'x-resume-key': resumeKey };
    const own = await readStream(app.url, `/jobs/${taskId}/events`, { ...ann, ...key });
    expect(events(own.text).ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(events(own.text).end).toEqual({ status: 'completed', result: { done: true } });
    const stolen = await requestJson<{ code: string }>(app.url, 'GET', `/jobs/${taskId}/events`, {
      headers: { ...bob, ...key },
    });
    expect([stolen.status, stolen.json.code]).toEqual([403, 'ACCESS_DENIED']);
    expect((await requestJson(app.url, 'GET', `/jobs/${taskId}/events`, { headers: key })).status).toBe(401);
    expect(
      (await requestJson(app.url, 'GET', `/jobs/${taskId}`, { headers: { ...ann, ...key } })).status,
    ).toBe(200);
    expect((await requestJson(app.url, 'GET', `/jobs/${taskId}`, { headers: ann })).status).toBe(403); // no key
    expect(
      (await requestJson(app.url, 'DELETE', `/jobs/${taskId}`, { headers: { ...bob, ...key } })).status,
    ).toBe(403);
  });
});
