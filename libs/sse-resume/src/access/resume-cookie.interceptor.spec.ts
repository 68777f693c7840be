import {
  Controller,
  Get,
  Header,
  type ExecutionContext,
  type INestApplication,
  Param,
  Post,
  Res,
} from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { request as httpRequest } from 'node:http';
import { lastValueFrom, of } from 'rxjs';
import { ResumeCookie, ResumeKey, TaskAccess } from '../sse-resume.decorators';
import { SseResumeModule } from '../sse-resume.module';
import { SseTaskService } from '../sse-task.service';
import { type Adapter, listenOnLoopback } from '../testing/nest-app';
import {
  cookiePath,
  DEFAULT_RESUME_COOKIE_MAX_AGE_MS,
  RESUME_COOKIE_OPTIONS,
  ResumeCookieInterceptor,
  resolveResumeCookieOptions,
} from './resume-cookie.interceptor';
import type { ResumeRequest } from './sse-resume.request';

const TASK = 'b3c1f0de-7a55-4e5e-8d6f-2f1b0c9a7e11';
const defaults = resolveResumeCookieOptions();

describe('resolveResumeCookieOptions', () => {
  it('defaults: 24 h, Secure when HTTPS, key left in the body, path by the rules', () => {
    expect(DEFAULT_RESUME_COOKIE_MAX_AGE_MS).toBe(86_400_000);
    expect(defaults).toEqual({ path: undefined, maxAgeSeconds: 86_400, secure: 'auto', keyInBody: true });
  });

  it('rounds maxAgeMs up to seconds', () => {
    expect(resolveResumeCookieOptions({ maxAgeMs: 1 }).maxAgeSeconds).toBe(1);
    expect(resolveResumeCookieOptions({ maxAgeMs: 1_500 }).maxAgeSeconds).toBe(2);
  });

  it.each([
    [{ maxAgeMs: 0 }, 'maxAgeMs must be a positive number of ms, got 0'],
    [{ maxAgeMs: -1 }, 'maxAgeMs'],
    [{ maxAgeMs: Number.POSITIVE_INFINITY }, 'maxAgeMs'],
    [{ maxAgeMs: '1000' }, 'maxAgeMs'],
    [{ secure: 'yes' }, "secure must be true, false or 'auto', got yes"],
    [{ keyInBody: 'no' }, 'keyInBody must be a boolean'],
    [{ path: '/tasks' }, 'path must be a function'],
  ])('throws at decoration time on %p', (options, message) => {
    expect(() => resolveResumeCookieOptions(options as never)).toThrow(`@ResumeCookie(): ${message}`);
    expect(() => ResumeCookie(options as never)).toThrow(message);
  });
});

describe('@ResumeCookie()', () => {
  class Routes {
    @ResumeCookie({ keyInBody: false })
    start(): void {}
  }

  it('puts its resolved options and its interceptor on the handler', () => {
    expect(new Reflector().get(RESUME_COOKIE_OPTIONS, Routes.prototype.start)).toEqual({
      ...defaults,
      keyInBody: false,
    });
    expect(Reflect.getMetadata(INTERCEPTORS_METADATA, Routes.prototype.start)).toEqual([
      ResumeCookieInterceptor,
    ]);
  });
});

describe('cookiePath', () => {
  const request = (url: string, headers: ResumeRequest['headers'] = {}) => ({ url, headers });

  it('is the request path (no query, no trailing slash) + / + the task id', () => {
    expect(cookiePath(TASK, request('/tasks'), defaults)).toBe(`/tasks/${TASK}`);
    expect(cookiePath(TASK, request('/tasks/?steps=3'), defaults)).toBe(`/tasks/${TASK}`);
    expect(cookiePath(TASK, request('/'), defaults)).toBe(`/${TASK}`);
    expect(cookiePath(TASK, { originalUrl: '/api/tasks', url: '/tasks', headers: {} }, defaults)).toBe(
      `/api/tasks/${TASK}`,
    );
  });

  it('takes x-resume-cookie-path when it is safe and ends with the request path', () => {
    const path = (header: string | string[], url = '/tasks') =>
      cookiePath(TASK, request(url, { 'x-resume-cookie-path': header }), defaults);
    expect(path('/sse/tasks')).toBe(`/sse/tasks/${TASK}`);
    expect(path('/sse/tasks/')).toBe(`/sse/tasks/${TASK}`);
    expect(path('/tasks')).toBe(`/tasks/${TASK}`);
    expect(path('/a/b/c/tasks', '/tasks?x=1')).toBe(`/a/b/c/tasks/${TASK}`);
    expect(path('/anything', '/')).toBe(`/anything/${TASK}`);
    // Ignored: not ending with the request path (at a segment), unsafe, too long, repeated.
    expect(path('/sse/other')).toBe(`/tasks/${TASK}`);
    expect(path('/sse/mytasks')).toBe(`/tasks/${TASK}`);
    expect(path('/sse/tasks/x')).toBe(`/tasks/${TASK}`);
    expect(path('sse/tasks')).toBe(`/tasks/${TASK}`);
    expect(path('/sse;/tasks')).toBe(`/tasks/${TASK}`);
    expect(path('/x; Domain=evil.example; /tasks')).toBe(`/tasks/${TASK}`);
    expect(path('/sse /tasks')).toBe(`/tasks/${TASK}`);
    expect(path(`/${'a'.repeat(1000)}/tasks`)).toBe(`/tasks/${TASK}`);
    expect(path(['/sse/tasks', '/sse/tasks'])).toBe(`/tasks/${TASK}`);
  });

  it('else prefixes a safe X-Forwarded-Prefix', () => {
    const path = (prefix: string, extra: ResumeRequest['headers'] = {}) =>
      cookiePath(TASK, request('/tasks', { 'x-forwarded-prefix': prefix, ...extra }), defaults);
    expect(path('/sse')).toBe(`/sse/tasks/${TASK}`);
    expect(path('/sse/')).toBe(`/sse/tasks/${TASK}`);
    expect(path('/')).toBe(`/tasks/${TASK}`);
    expect(path('sse')).toBe(`/tasks/${TASK}`);
    expect(path('/a,/b')).toBe(`/tasks/${TASK}`);
    expect(path('/sse', { 'x-resume-cookie-path': '/edge/tasks' })).toBe(`/edge/tasks/${TASK}`);
    expect(path('/sse', { 'x-resume-cookie-path': '/edge/nope' })).toBe(`/sse/tasks/${TASK}`);
  });

  it('percent-encodes what is unsafe in the request path', () => {
    expect(cookiePath(TASK, request('/t;x,y'), defaults)).toBe(`/t%3Bx%2Cy/${TASK}`);
  });

  it('the path option overrides every rule, and must return a safe path', () => {
    const options = resolveResumeCookieOptions({ path: (taskId) => `/custom/${taskId}` });
    const headers = { 'x-resume-cookie-path': '/sse/tasks', 'x-forwarded-prefix': '/p' };
    expect(cookiePath(TASK, request('/tasks', headers), options)).toBe(`/custom/${TASK}`);
    const seen: unknown[] = [];
    const spy = resolveResumeCookieOptions({ path: (taskId, req) => (seen.push(taskId, req), '/') });
    const req = request('/tasks');
    expect(cookiePath(TASK, req, spy)).toBe('/');
    expect(seen).toEqual([TASK, req]);
    const bad = resolveResumeCookieOptions({ path: () => '/a; Domain=evil.example' });
    expect(() => cookiePath(TASK, req, bad)).toThrow(
      '@ResumeCookie(): the path option returned "/a; Domain=evil.example", not a safe cookie path',
    );
    const notString = resolveResumeCookieOptions({ path: () => 42 as unknown as string });
    expect(() => cookiePath(TASK, req, notString)).toThrow('returned 42');
  });
});

describe('ResumeCookieInterceptor (without a server)', () => {
  const appendHeader = jest.fn();
  const interceptor = new ResumeCookieInterceptor(new Reflector(), {
    httpAdapter: { appendHeader },
  } as unknown as HttpAdapterHost);

  class Routes {
    @ResumeCookie()
    start(): void {}
  }

  const context = (type = 'http', request: object = { url: '/tasks', headers: {} }) =>
    ({
      getType: () => type,
      getHandler: () => Routes.prototype.start,
      getClass: () => Routes,
      switchToHttp: () => ({ getRequest: () => request, getResponse: () => 'response' }),
    }) as unknown as ExecutionContext;

  beforeEach(() => appendHeader.mockReset());

  it('appends the cookie through the adapter and passes the body on', async () => {
    const body = { taskId: TASK, resumeKey: 'k', streamUrl: '/x' };
    await expect(lastValueFrom(interceptor.intercept(context(), { handle: () => of(body) }))).resolves.toBe(
      body,
    );
    expect(appendHeader).toHaveBeenCalledWith(
      'response',
      'Set-Cookie',
      `sse-resume-${TASK}=k; Path=/tasks/${TASK}; Max-Age=86400; HttpOnly; SameSite=Strict`,
    );
  });

  it.each([
    [undefined, 'undefined'],
    [null, 'null'],
    ['text', 'string'],
    [{ taskId: TASK }, 'an object with keys [taskId]'],
    [{ taskId: 1, resumeKey: 'k' }, 'an object with keys [taskId, resumeKey]'],
    [{ taskId: TASK, resumeKey: '' }, 'an object with keys [taskId, resumeKey]'],
  ])('throws a clear Error when the handler returns %p', async (value, got) => {
    await expect(
      lastValueFrom(interceptor.intercept(context(), { handle: () => of(value) })),
    ).rejects.toThrow(
      '@ResumeCookie(): the handler must return an object with a string taskId and resumeKey ' +
        `(what SseTaskService.start() resolves to), got ${got}`,
    );
    expect(appendHeader).not.toHaveBeenCalled();
  });

  it('leaves non-HTTP contexts alone', async () => {
    await expect(
      lastValueFrom(interceptor.intercept(context('rpc'), { handle: () => of('anything') })),
    ).resolves.toBe('anything');
    expect(appendHeader).not.toHaveBeenCalled();
  });
});

interface NativeResponse {
  append?: (name: string, value: string) => void;
  header?: (name: string, value: string) => void;
  raw?: { setHeader(name: string, value: string[]): void };
  setHeader?: (name: string, value: string[]) => void;
}

@Controller('jobs')
class JobsController {
  constructor(private readonly tasks: SseTaskService) {}

  @Post()
  @ResumeCookie()
  start(): Promise<unknown> {
    return this.tasks.start(async () => 'done');
  }

  @Post('hidden')
  @ResumeCookie({ keyInBody: false, maxAgeMs: 1_500, secure: true })
  async hidden(): Promise<unknown> {
    const started = await this.tasks.start(async () => 'done');
    return { ...started, extra: 'kept' };
  }

  @Post('custom')
  @ResumeCookie({ path: (taskId) => `/custom/${taskId}`, secure: false })
  custom(): Promise<unknown> {
    return this.tasks.start(async () => 'done');
  }

  /** Cookies set before the interceptor's: by `@Header()` and by the handler, natively. */
  @Post('others')
  @Header('Set-Cookie', 'hdr=1')
  @ResumeCookie()
  others(@Res({ passthrough: true }) res: NativeResponse): Promise<unknown> {
    if (typeof res.append === 'function') res.append('Set-Cookie', 'fw=1');
    else res.header!('set-cookie', 'fw=1');
    return this.tasks.start(async () => 'done');
  }

  /** A cookie set on the Node response only (as a middleware would). */
  @Post('raw')
  @ResumeCookie()
  raw(@Res({ passthrough: true }) res: NativeResponse): Promise<unknown> {
    if (res.raw) res.raw.setHeader('Set-Cookie', ['raw=1']);
    else res.setHeader!('Set-Cookie', ['raw=1']);
    return this.tasks.start(async () => 'done');
  }

  @Post('bad')
  @ResumeCookie()
  bad(): unknown {
    return { id: 'not a started task' };
  }

  @Get(':taskId')
  @TaskAccess()
  info(@Param('taskId') taskId: string, @ResumeKey() key: string | undefined): unknown {
    return { taskId, key: key ?? null };
  }

  @Get('by/:job')
  @TaskAccess({ taskIdParam: 'job' })
  byJob(@ResumeKey() key: string | undefined): unknown {
    return { key: key ?? null };
  }
}

interface Reply {
  status: number;
  setCookie: string[];
  body: Record<string, unknown>;
}

/** node:http keeps each Set-Cookie line apart (the raw test client joins repeated headers). */
function send(url: string, method: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { Connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          setCookie: res.headers['set-cookie'] ?? [],
          body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Trusts the proxy's X-Forwarded-Proto, so that a test can play an HTTPS request. */
async function startApp(adapter: Adapter): Promise<{ url: string; close(): Promise<void> }> {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({})],
    controllers: [JobsController],
  }).compile();
  moduleRef.useLogger(false);
  let app: INestApplication;
  if (adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = moduleRef.createNestApplication(new FastifyAdapter({ trustProxy: true }), { logger: false });
  } else {
    app = moduleRef.createNestApplication({ logger: false });
    (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set(
      'trust proxy',
      true,
    );
  }
  const listening = await listenOnLoopback(app);
  return {
    url: listening.url,
    close: async () => {
      listening.destroySockets();
      await app.close();
    },
  };
}

describe.each<Adapter>(['express', 'fastify'])('@ResumeCookie() over HTTP (%s)', (adapter) => {
  let server: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterAll(() => server.close());

  const post = (path: string, headers: Record<string, string> = {}) =>
    send(server.url + path, 'POST', headers);
  const ours = (reply: Reply) => reply.setCookie.filter((line) => line.startsWith('sse-resume-'));

  it('sets the cookie of the task it started: name, value, Path, Max-Age, HttpOnly, SameSite=Strict', async () => {
    const reply = await post('/jobs');
    expect(reply.status).toBe(201);
    const { taskId, resumeKey } = reply.body as { taskId: string; resumeKey: string };
    expect(reply.setCookie).toEqual([
      `sse-resume-${taskId}=${resumeKey}; Path=/jobs/${taskId}; Max-Age=86400; HttpOnly; SameSite=Strict`,
    ]);
  });

  it("Secure 'auto': only when the request came over HTTPS as the framework sees it", async () => {
    expect(ours(await post('/jobs'))[0]).not.toMatch(/Secure/);
    expect(ours(await post('/jobs', { 'X-Forwarded-Proto': 'http' }))[0]).not.toMatch(/Secure/);
    expect(ours(await post('/jobs', { 'X-Forwarded-Proto': 'https' }))[0]).toMatch(
      /; SameSite=Strict; Secure$/,
    );
  });

  it('secure: true always, false never; the path option; keyInBody: false takes the key out of the body', async () => {
    const hidden = await post('/jobs/hidden');
    expect(hidden.status).toBe(201);
    expect(Object.keys(hidden.body).sort()).toEqual(['extra', 'taskId']);
    expect(ours(hidden)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^sse-resume-${hidden.body.taskId as string}=[A-Za-z0-9_-]{43}; Path=/jobs/hidden/${hidden.body.taskId as string}; Max-Age=2; HttpOnly; SameSite=Strict; Secure$`,
        ),
      ),
    ]);
    const custom = await post('/jobs/custom', { 'X-Forwarded-Proto': 'https' });
    expect(ours(custom)).toEqual([
      `sse-resume-${custom.body.taskId as string}=${custom.body.resumeKey as string}; Path=/custom/${custom.body.taskId as string}; Max-Age=86400; HttpOnly; SameSite=Strict`,
    ]);
  });

  it('x-resume-cookie-path and X-Forwarded-Prefix scope the cookie to the path the client uses', async () => {
    const pathOf = (reply: Reply) => /; Path=([^;]*);/.exec(ours(reply)[0]!)?.[1];
    const client = await post('/jobs', { 'x-resume-cookie-path': '/sse/jobs' });
    expect(pathOf(client)).toBe(`/sse/jobs/${client.body.taskId as string}`);
    const forged = await post('/jobs', { 'x-resume-cookie-path': '/elsewhere' });
    expect(pathOf(forged)).toBe(`/jobs/${forged.body.taskId as string}`);
    const injected = await post('/jobs', { 'x-resume-cookie-path': '/x; Domain=evil.example; /jobs' });
    expect(pathOf(injected)).toBe(`/jobs/${injected.body.taskId as string}`);
    const prefixed = await post('/jobs', { 'X-Forwarded-Prefix': '/api' });
    expect(pathOf(prefixed)).toBe(`/api/jobs/${prefixed.body.taskId as string}`);
  });

  it('appends to the Set-Cookie headers already there, never replaces them', async () => {
    const others = await post('/jobs/others');
    expect(others.status).toBe(201);
    expect(others.setCookie).toEqual(['hdr=1', 'fw=1', expect.stringMatching(/^sse-resume-/)]);
    const raw = await post('/jobs/raw');
    expect(raw.status).toBe(201);
    expect(raw.setCookie).toEqual(['raw=1', expect.stringMatching(/^sse-resume-/)]);
  });

  it('a handler that returns no started task is a 500 (a programming error), without a cookie', async () => {
    const reply = await post('/jobs/bad');
    expect(reply.status).toBe(500);
    expect(reply.setCookie).toEqual([]);
  });

  it('the cookie it sets is the key of the task routes (@TaskAccess() and @ResumeKey())', async () => {
    const started = await post('/jobs');
    const { taskId, resumeKey } = started.body as { taskId: string; resumeKey: string };
    const cookie = ours(started)[0]!.split(';')[0]!;
    const info = await send(`${server.url}/jobs/${taskId}`, 'GET', { Cookie: `a=1; ${cookie}` });
    expect(info).toMatchObject({ status: 200, body: { taskId, key: resumeKey } });
    const byJob = await send(`${server.url}/jobs/by/${taskId}`, 'GET', { Cookie: cookie });
    expect(byJob).toMatchObject({ status: 200, body: { key: resumeKey } });
    const other = await post('/jobs');
    const wrong = await send(`${server.url}/jobs/${other.body.taskId as string}`, 'GET', { Cookie: cookie });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ code: 'RESUME_KEY_INVALID' });
  });
});
